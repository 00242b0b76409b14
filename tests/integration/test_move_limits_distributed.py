"""Per-host move limits with two conductors on RabbitMQ: the limit holds across both. (kill -9 of
`herder serve` with moves waiting: tests/functional/test_move_limits.py.)"""
import pytest
from sqlalchemy import select

from herder.db import journal
from herder.db.models import Workflow
from tests.functional.observe import (assert_consistent, create_server, wait_for_status,
                                      wait_until)
from tests.functional.test_move_limits import moves_at_once_per_host
from tests.integration.deployment import Deployment

LIMIT = 1


@pytest.fixture
def two_conductors(rabbitmq, tmp_path):
    with Deployment(tmp_path, hosts=4, conductors=2,
                    compute={"max_concurrent_migrations": LIMIT,
                             # long enough that six of the eight moves wait at once
                             "fake_power_off_seconds": 3}) as deployment:
        yield deployment


def parked_servers(deployment) -> set[str]:
    with deployment.db.transaction() as session:
        return set(session.scalars(select(Workflow.instance_uuid)
                                   .where(Workflow.status == journal.PARKED)))


def test_the_limit_holds_across_two_conductors(two_conductors):
    deployment = two_conductors
    admin = deployment.connect()
    servers = [create_server(admin, name=f"vm{n}") for n in range(8)]
    for server in servers:
        admin.compute.migrate_server(server)
    # with 4 hosts and one move each, at most two of the eight run at once
    wait_until(lambda: len(parked_servers(deployment)) >= 3, timeout=60, interval=0.05,
               message="moves waiting in the queue")
    for server in servers:
        wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=120)

    assert max(moves_at_once_per_host(deployment, admin, servers).values()) == LIMIT
    assert_consistent(deployment)
