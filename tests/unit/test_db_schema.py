"""The schema the migrations build, on whichever database the tests run (HERDER_TEST_DB)."""
import uuid
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from herder import exception
from herder.db import flavors, instances, placement
from herder.db.cas import compare_and_swap
from herder.db.models import Base, Instance, InstanceFault


def test_migrations_build_exactly_the_schema_the_models_describe(db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_fault_times_keep_their_microseconds(db):
    # faults are ordered against the action that follows them, within one second
    when = datetime(2030, 1, 2, 3, 4, 5, 678901)
    with db.transaction() as session:
        session.add(InstanceFault(instance_uuid="i", code=500, message="m", created_at=when))
    assert instances.latest_fault(db, "i").created_at == when


def test_allocation_ratios_come_back_exactly_as_written(db, hosts):
    hosts.add("compute1", local_gb=100, cpu_ratio=16.1, ram_ratio=1.2345678, disk_ratio=0.9)
    [node] = placement.nodes(db)
    assert (node.cpu_allocation_ratio, node.ram_allocation_ratio,
            node.disk_allocation_ratio) == (16.1, 1.2345678, 0.9)
    assert placement.capacity(node).disk_gb == 90  # not 89, as 0.8999999762 would give


def test_compare_and_swap_that_writes_the_values_already_there_succeeds(db, add_server):
    # MySQL counts changed rows unless the client asks for matched ones (FOUND_ROWS)
    server = add_server("p", 1, 512)
    with db.transaction() as session:
        assert compare_and_swap(session, Instance, Instance.uuid, server,
                                {"vm_state": "active"}, {"vm_state": "active"})
        assert not compare_and_swap(session, Instance, Instance.uuid, server,
                                    {"vm_state": "stopped"}, {"vm_state": "active"})
        assert not compare_and_swap(session, Instance, Instance.uuid, str(uuid.uuid4()),
                                    {}, {"vm_state": "active"})


def test_uuids_and_names_compare_exactly_on_every_database(db, add_server):
    """As on PostgreSQL and SQLite, also on MariaDB (whose default collation ignores case)."""
    server = add_server("p", 1, 512)
    assert instances.get(db, server).uuid == server
    with pytest.raises(exception.InstanceNotFound):
        instances.get(db, server.upper())
    for flavorid, name in (("x1", "tiny"), ("X1", "TINY")):   # both may exist
        flavors.create(db, flavorid=flavorid, name=name, vcpus=1, memory_mb=64, root_gb=1,
                       ephemeral_gb=0, swap=0, rxtx_factor=1.0, is_public=True)
    assert flavors.get(db, "X1").name == "TINY"
    assert flavors.get(db, "x1").name == "tiny"
