"""The conductor's sweep of accepted requests that never reached a workflow (recovery.py).

A confirm is accepted on the migration alone (`finished` -> `confirming`) and leaves the server's
row untouched, so how long ago it was accepted must be read from the migration: a server that
has waited in VERIFY_RESIZE for an hour may have had its confirm accepted a moment ago, its
cast still queued for the conductor.
"""
import uuid
from datetime import datetime, timedelta

from sqlalchemy import update

from herder import states
from herder.conductor import recovery
from herder.conductor.base import ConductorServices
from herder.conductor.engine import Engine
from herder.db import instances, migrations
from herder.db.models import Instance, Migration

LOST_AFTER = 300.0


def _resized_server_with_open_move(db, move_status: str, move_age: timedelta,
                                   server_age: timedelta = timedelta(hours=1)) -> str:
    now = datetime.utcnow().replace(microsecond=0)
    server, migration = str(uuid.uuid4()), str(uuid.uuid4())
    with db.transaction() as session:
        session.add(Instance(uuid=server, display_name="vm", project_id="p", user_id="u",
                             flavor={"vcpus": 1, "memory_mb": 512, "root_gb": 1,
                                     "ephemeral_gb": 0},
                             vm_state=states.RESIZED, host="compute2",
                             created_at=now - server_age, updated_at=now - server_age))
        session.add(Migration(uuid=migration, instance_uuid=server, source_compute="compute1",
                              dest_compute="compute2", status=move_status,
                              migration_type="migration", updated_at=now - move_age))
    return migration


def _sweep(db, conf) -> None:
    svc = ConductorServices(conf, db, bus=None, notifier=None, host="conductor")
    recovery.recover(svc, Engine(db), lost_after=LOST_AFTER)


def test_a_confirm_accepted_a_moment_ago_is_left_for_its_conductor(db, conf):
    migration = _resized_server_with_open_move(db, states.MIGRATION_CONFIRMING,
                                               move_age=timedelta(seconds=1))
    _sweep(db, conf)
    assert migrations.get(db, migration).status == states.MIGRATION_CONFIRMING


def test_a_confirm_accepted_long_ago_that_never_ran_goes_back_to_finished(db, conf):
    migration = _resized_server_with_open_move(db, states.MIGRATION_CONFIRMING,
                                               move_age=timedelta(seconds=LOST_AFTER + 60))
    _sweep(db, conf)
    swept = migrations.get(db, migration)
    assert swept.status == states.MIGRATION_FINISHED
    assert "lost in a restart" in swept.error_reason


def test_the_sweep_looks_only_at_servers_a_request_can_be_waiting_on(db, add_server):
    """At rest a server has no task state and is not in VERIFY_RESIZE: the sweep, which runs
    every recovery_interval, must not cost a query per server of the cloud."""
    add_server("p", 1, 512)   # at rest
    resized, migrating, gone = (add_server("p", 1, 512, deleted=deleted)
                                for deleted in (False, False, True))
    instances.update(db, resized, vm_state=states.RESIZED)
    instances.update(db, migrating, task_state=states.RESIZE_PREP)
    instances.update(db, gone, task_state=states.DELETING)
    assert {i.uuid for i in instances.busy_or_resized(db, datetime.utcnow())} == \
        {resized, migrating}


def test_the_sweep_passes_by_the_servers_changed_lately_in_the_database(db, add_server):
    """A burst of moves keeps every moving server changing: none of them is read."""
    lately, long_ago = add_server("p", 1, 512), add_server("p", 1, 512)
    instances.update(db, lately, task_state=states.RESIZE_PREP)
    instances.update(db, long_ago, task_state=states.RESIZE_PREP)
    with db.transaction() as session:
        session.execute(update(Instance).where(Instance.uuid == long_ago).values(
            updated_at=datetime.utcnow() - timedelta(seconds=LOST_AFTER + 60)))
    cutoff = datetime.utcnow() - timedelta(seconds=LOST_AFTER)
    assert [i.uuid for i in instances.busy_or_resized(db, cutoff)] == [long_ago]
