"""Fixtures for the multi-process deployment (see deployment.py)."""
import os

import pytest

from tests.integration.deployment import Deployment, rabbitmq_reachable


@pytest.fixture(scope="session")
def rabbitmq():
    if not rabbitmq_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("RabbitMQ is not reachable on 127.0.0.1:5672 (.ci/run starts it)")
        pytest.skip("RabbitMQ is not reachable on 127.0.0.1:5672")


@pytest.fixture
def deployment(rabbitmq, tmp_path):
    with Deployment(tmp_path) as deployment:
        yield deployment
