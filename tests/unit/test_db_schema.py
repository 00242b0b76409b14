"""The schema the migrations build, on whichever database the tests run (HERDER_TEST_DB)."""
import uuid
from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from herder import exception
from herder.db import flavors, instances, placement, services
from herder.db.cas import compare_and_swap
from herder.db.models import Base, Instance, InstanceFault, Migration, Service
from herder.db.session import Database, alembic_config


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


def test_every_timestamp_column_keeps_microseconds(db):
    """MySQL and MariaDB drop a DATETIME's fraction unless it has a precision: every
    timestamp column must have 6 digits, on the database the migrations built."""
    inspector = sa.inspect(db.engine)
    for table in Base.metadata.sorted_tables:
        reflected = {c["name"]: c["type"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if isinstance(column.type, sa.DateTime):
                kind = reflected[column.name]
                assert getattr(kind, "fsp", 6) == 6, (table.name, column.name, kind)
                assert getattr(kind, "precision", None) in (None, 6), (table.name, column.name)


def test_times_written_by_default_keep_their_microseconds(db):
    """A migration's created_at is shown to the microsecond, and two of one second are
    ordered by it; a heartbeat's time likewise."""
    with db.transaction() as session:
        session.add(Migration(uuid="m", instance_uuid="i", status="migrating",
                              migration_type="migration"))
    services.heartbeat(db, "compute1", services.COMPUTE_BINARY, "compute.compute1", "nova")
    with db.transaction() as session:
        times = [session.scalars(sa.select(Migration)).one().created_at,
                 session.scalars(sa.select(Service)).one().last_seen_up]
    # one in a million writes falls on a whole second: both at once is a broken clock
    assert any(t.microsecond for t in times), times


def test_migration_0011_gives_services_novas_binary_names(db_url):
    """An existing deployment's services are renamed in place (same rows); a name taken
    already is left alone; downgrading gives herder's names back."""
    config = alembic_config(db_url)
    command.downgrade(config, "0010")
    database = Database(db_url)
    try:
        rows = [("compute1", "herder-compute"), ("ctl", "herder-conductor"),
                ("ctl", "herder-scheduler"), ("compute2", "herder-compute"),
                ("compute2", "nova-compute")]
        with database.transaction() as session:
            for number, (host, binary) in enumerate(rows):
                session.add(Service(uuid=f"u{number}", host=host, binary=binary,
                                    topic="t", zone="nova"))
        command.upgrade(config, "head")
        with database.transaction() as session:
            found = {s.uuid: (s.host, s.binary) for s in session.scalars(sa.select(Service))}
        assert found == {"u0": ("compute1", "nova-compute"), "u1": ("ctl", "nova-conductor"),
                         "u2": ("ctl", "nova-scheduler"), "u3": ("compute2", "herder-compute"),
                         "u4": ("compute2", "nova-compute")}
        command.downgrade(config, "0010")
        with database.transaction() as session:
            back = {s.uuid: s.binary for s in session.scalars(sa.select(Service))}
        assert back == {"u0": "herder-compute", "u1": "herder-conductor",
                        "u2": "herder-scheduler", "u3": "herder-compute", "u4": "nova-compute"}
        command.upgrade(config, "head")
    finally:
        database.dispose()


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
