"""Shared fixtures: an embedded herder cloud, started in-process and driven over real HTTP."""
import os
import shutil
import tempfile

import openstack
import pytest

from herder.conf import build_conf
from herder.db.session import upgrade
from herder.embedded import EmbeddedCloud
from tests import databases
from tests.functional import observe

_cloud_databases: dict[str, str] = {}  # state dir -> database URL, for this test's clouds
_sqlite_template: list[str] = []        # the migrated schema, built once per run (see below)


def _migrated_sqlite_template() -> str:
    """A SQLite file holding the migrated schema, built on first use. Running the migrations
    takes 0.2-0.9 s (each DDL statement syncs the file: slow on a disk shared with other
    runs), paid by every cloud the suite starts; a copy of this file is the same database.
    It lives in /dev/shm where there is one, and is removed at the end of the run."""
    if not _sqlite_template:
        shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        directory = tempfile.mkdtemp(prefix="herder-schema-", dir=shm)
        path = os.path.join(directory, "template.sqlite")
        upgrade(f"sqlite:///{path}")
        _sqlite_template.append(path)
    return _sqlite_template[0]


def _copy_sqlite_schema(state_dir: str) -> None:
    """Give a new state directory its database as a copy of the migrated template; the cloud's
    own `upgrade` then finds it at head and changes nothing. A state directory that has a
    database already (a cloud started again on it) keeps it."""
    path = os.path.join(state_dir, "herder.sqlite")
    if not os.path.exists(path):
        os.makedirs(state_dir, exist_ok=True)
        shutil.copyfile(_migrated_sqlite_template(), path)


def make_cloud(tmp_path, hosts: int = 3, **overrides) -> EmbeddedCloud:
    settings = {"state_dir": str(tmp_path / "herder"), "api__port": 0,
                "compute__periodic_interval": 0.05, "report_interval": 1,
                "service_down_time": 5, **overrides}
    if databases.SERVER is None and "database__connection" not in settings:
        _copy_sqlite_schema(settings["state_dir"])
    if databases.SERVER is not None and "database__connection" not in settings:
        # one database per state directory: a cloud started again on it finds its data
        if settings["state_dir"] not in _cloud_databases:
            _cloud_databases[settings["state_dir"]] = databases.SERVER.create()
        settings["database__connection"] = _cloud_databases[settings["state_dir"]]
    cloud = EmbeddedCloud(build_conf(**settings), hosts=hosts)
    cloud.start()
    return cloud


def connect(cloud: EmbeddedCloud, token: str) -> openstack.connection.Connection:
    """An openstacksdk connection the way clouds.yaml configures one for `herder serve`."""
    endpoint = cloud.endpoint
    return openstack.connect(
        auth_type="admin_token", auth={"token": token, "endpoint": f"{endpoint}/v2.1"},
        identity_api_version=3, region_name="RegionOne",
        compute_endpoint_override=f"{endpoint}/v2.1",
        image_endpoint_override=f"{endpoint}/image",
        identity_endpoint_override=f"{endpoint}/identity",
        load_yaml_config=False, load_envvars=False)


@pytest.fixture
def cloud(tmp_path):
    """A fresh three-host cloud per test (startup takes ~0.2 s)."""
    cloud = make_cloud(tmp_path)
    yield cloud
    cloud.stop()


@pytest.fixture
def admin(cloud):
    return connect(cloud, cloud.conf.admin_token)


@pytest.fixture
def demo(cloud):
    """A member and reader of project `demo`."""
    return connect(cloud, "demo:demo:member,reader")


@pytest.fixture
def other_project(cloud):
    return connect(cloud, "eve:other:member,reader")


@pytest.fixture
def notifications(cloud):
    """Every versioned notification the cloud emits from now on, in order."""
    listener = observe.NotificationListener(cloud.bus)
    yield listener
    listener.stop()


@pytest.fixture(autouse=True)
def _drop_cloud_databases():
    """Drop the databases of the test's clouds after it (they are stopped by then)."""
    yield
    while _cloud_databases:
        databases.SERVER.drop(_cloud_databases.popitem()[1])


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases():
    yield
    if databases.SERVER is not None:
        databases.SERVER.drop_all()
    while _sqlite_template:
        shutil.rmtree(os.path.dirname(_sqlite_template.pop()), ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # the clients must talk to 127.0.0.1 directly, whatever the environment says
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    os.environ.setdefault("OS_CLOUD", "")
