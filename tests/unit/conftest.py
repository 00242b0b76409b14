"""Fixtures for unit tests: a real, migrated database per test, and a fresh configuration.

The database is SQLite unless HERDER_TEST_DB names a server (see tests/databases.py).

Running the Alembic migrations takes ~60 ms, so the schema is built once per session and each
test gets its own copy of that file. The databases live in /dev/shm when the machine has it: on
a disk shared with busy neighbours, SQLite's syncs make the suite several times slower.
"""
import os
import shutil
import tempfile
import uuid
from datetime import datetime, timedelta

import pytest

from herder.conf import build_conf
from herder.db import placement, services
from herder.db.models import Instance
from herder.db.session import Database, upgrade
from tests import databases


@pytest.fixture(scope="session")
def database_dir(tmp_path_factory):
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        path = tempfile.mkdtemp(prefix="herder-unit-", dir="/dev/shm")
        yield path
        shutil.rmtree(path, ignore_errors=True)
    else:
        yield str(tmp_path_factory.mktemp("databases"))


@pytest.fixture(scope="session")
def migrated_schema(database_dir):
    path = os.path.join(database_dir, "template.sqlite")
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_url(request) -> str:
    """A migrated database of the test's own: SQLite, or on the HERDER_TEST_DB server."""
    if databases.SERVER is None:
        yield request.getfixturevalue("sqlite_db_url")
        return
    url = databases.SERVER.create()
    yield url
    databases.SERVER.drop(url)


@pytest.fixture
def sqlite_db_url(database_dir, migrated_schema) -> str:
    path = os.path.join(database_dir, f"{uuid.uuid4().hex}.sqlite")
    shutil.copyfile(migrated_schema, path)
    yield f"sqlite:///{path}"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def conf(tmp_path):
    return build_conf(state_dir=str(tmp_path))


def inventory(vcpus=8, memory_mb=16384, local_gb=100, cpu_ratio=1.0, ram_ratio=1.0,
              disk_ratio=1.0, reserved_mb=0) -> dict:
    return {"vcpus": vcpus, "memory_mb": memory_mb, "local_gb": local_gb,
            "hypervisor_type": "fake", "hypervisor_version": 1000,
            "cpu_allocation_ratio": cpu_ratio, "ram_allocation_ratio": ram_ratio,
            "disk_allocation_ratio": disk_ratio, "reserved_host_memory_mb": reserved_mb}


class Hosts:
    """Compute hosts registered the way a compute's report does it: service heartbeat + node."""

    def __init__(self, db: Database):
        self.db = db

    def add(self, name: str, zone: str = "nova", service: bool = True, **inv):
        if service:
            services.heartbeat(self.db, name, "nova-compute", f"compute.{name}", zone)
        index = int("".join(c for c in name if c.isdigit()) or 1)
        return placement.upsert_node(self.db, name, f"127.0.1.{index}", inventory(**inv))

    def update_service(self, host: str, **values) -> None:
        services.update_service(self.db, services.compute(self.db, host).uuid, **values)

    def disable(self, host: str) -> None:
        self.update_service(host, disabled=True, disabled_reason="maintenance")

    def stop_heartbeat(self, host: str, seconds_ago: int = 3600) -> None:
        self.update_service(host, last_seen_up=datetime.utcnow().replace(microsecond=0)
                            - timedelta(seconds=seconds_ago))


@pytest.fixture
def hosts(db) -> Hosts:
    return Hosts(db)


@pytest.fixture
def add_server(db):
    """Put a live (or deleted) server of a project in the database."""
    def add(project_id: str, vcpus: int, memory_mb: int, deleted: bool = False,
            old_flavor: dict | None = None, new_flavor: dict | None = None) -> str:
        """`old_flavor`/`new_flavor` as a server in a resize has them ({"vcpus", "memory_mb"})."""
        server_uuid = str(uuid.uuid4())
        with db.transaction() as session:
            session.add(Instance(uuid=server_uuid, display_name="vm", project_id=project_id,
                                 user_id="u", flavor={"vcpus": vcpus, "memory_mb": memory_mb,
                                                      "root_gb": 1, "ephemeral_gb": 0},
                                 old_flavor=old_flavor, new_flavor=new_flavor,
                                 vm_state="active", deleted=deleted))
        return server_uuid
    return add
