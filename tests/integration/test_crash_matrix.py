"""kill -9 of each service at each step of migrate, resize, confirm and revert (SPEC §4.2).

Each case holds one service at one fault point (herder/faults.py), kills it there with
SIGKILL, starts it again, and then checks that the move completed or rolled back by itself
within a bounded time: no transitional task_state, no ERROR, no unfinished workflow, no leaked
allocation, no orphaned file, and the guest's disk holding the same data as before.

CI runs a representative subset (one case per service and phase); `HERDER_CRASH_MATRIX=full`
runs every case (see docs/crash-matrix.md for the last full run), and
`HERDER_CRASH_MATRIX_REPORT=<file>` appends each case's outcome there as a line of JSON.
"""
import hashlib
import json
import os
import threading
import time

import pytest

from herder import states
from herder.db import journal
from herder.transfer import sparse
from tests.functional.observe import (assert_consistent, create_server, instance_record,
                                      migration_of, wait_for_status)
from tests.integration.deployment import Deployment

SETTLE_WITHIN = 60  # seconds from the restart to a settled server: the bound we promise

MOVE_POINTS = [  # (who holds, fault point): the conductor's steps, then the services' own
    ("conductor", "migrate.create_migration"), ("conductor", "migrate.move_source_allocation"),
    ("conductor", "migrate.select_destinations"), ("conductor", "migrate.prep_resize"),
    ("conductor", "migrate.resize_instance"), ("conductor", "migrate.finish_resize"),
    ("scheduler", "select_destinations"), ("*", "prep_resize"), ("*", "power_off"),
    ("*", "copy_disk"), ("*", "finish_migration"),
    ("api", "cast.migrate_server"),   # accepted, never handed to a conductor
]
CASES = [
    *[("migrate", owner, point) for owner, point in MOVE_POINTS],
    *[("resize", owner, point) for owner, point in MOVE_POINTS],
    ("confirm", "api", "cast.confirm_resize"),
    ("confirm", "conductor", "confirm.confirm_resize"), ("confirm", "*", "confirm_migration"),
    ("revert", "api", "cast.revert_resize"),
    ("revert", "conductor", "revert.revert_resize"),
    ("revert", "conductor", "revert.finish_revert_resize"),
    ("revert", "conductor", "revert.discard_destination"),
    ("revert", "conductor", "revert.complete_revert"),
    ("revert", "*", "revert_resize"), ("revert", "*", "finish_revert_migration"),
    ("revert", "*", "discard_incoming"),
]
REPRESENTATIVE = {
    ("migrate", "api", "cast.migrate_server"),
    ("migrate", "conductor", "migrate.prep_resize"),
    ("migrate", "scheduler", "select_destinations"),
    ("migrate", "*", "copy_disk"),                   # the source, mid-copy
    ("resize", "conductor", "migrate.finish_resize"),
    ("resize", "*", "finish_migration"),             # the destination, at cut-over
    ("confirm", "*", "confirm_migration"),
    ("revert", "conductor", "revert.finish_revert_resize"),
    ("revert", "*", "revert_resize"),
}
SELECTED = CASES if os.environ.get("HERDER_CRASH_MATRIX") == "full" else \
    [case for case in CASES if case in REPRESENTATIVE]


@pytest.fixture(scope="module")
def cloud(rabbitmq, tmp_path_factory):
    """One deployment for the whole matrix; every case restarts what it kills."""
    deployment = Deployment(
        tmp_path_factory.mktemp("crash"),
        messaging={"rpc_timeout": 5},          # how long a dead service's step is waited for
        workflow={"lease_seconds": 3, "recovery_interval": 0.5, "lost_request_timeout": 3},
        quota={"instances": 100, "cores": 200, "ram": 204800})  # one server per case
    try:
        deployment.start_all()
        yield deployment
    finally:
        deployment.close()


def data_digest(path: str) -> str:
    """The disk's data extents, position and bytes: growing the disk (a resize) adds holes
    only, so this stays the same through any correct move."""
    fd = os.open(path, os.O_RDONLY)
    digest = hashlib.blake2b(digest_size=32)
    try:
        for start, length in sparse.extents(fd, os.fstat(fd).st_size):
            digest.update(start.to_bytes(8, "little"))
            digest.update(os.pread(fd, length, start))
    finally:
        os.close(fd)
    return digest.hexdigest()


def disk_of(cloud: Deployment, server_id: str) -> str:
    host = instance_record(cloud, server_id).host
    return os.path.join(cloud.instances_dirs()[host], server_id, "disk")


def start_operation(admin, server, operation: str) -> None:
    if operation == "migrate":
        admin.compute.migrate_server(server)
    elif operation == "resize":
        admin.compute.resize_server(server, admin.compute.find_flavor("m1.small").id)
    elif operation == "confirm":
        admin.compute.confirm_server_resize(server)
    else:
        admin.compute.revert_server_resize(server)


def _capture(failures: list, function, *args) -> None:
    try:
        function(*args)
    except Exception as error:
        failures.append(error)


TRANSITIONAL_MIGRATION_STATUSES = (states.MIGRATION_PRE_MIGRATING, states.MIGRATION_MIGRATING,
                                   states.MIGRATION_POST_MIGRATING, states.MIGRATION_CONFIRMING,
                                   states.MIGRATION_REVERTING)


def wait_settled(cloud: Deployment, admin, server_id: str) -> object:
    """Until nothing is in flight for the server: task_state, workflow and migration status
    (a confirm shows only in its migration's status until it runs).

    The server is read last: read first, it could show the state from before a workflow
    that then finished before the journal was read (a confirm's VERIFY_RESIZE beside its
    migration's `confirmed`)."""
    deadline = time.monotonic() + SETTLE_WITHIN
    server = None
    while time.monotonic() < deadline:
        workflow = journal.active_for(cloud.db, server_id)
        migration = migration_of(cloud, server_id)
        server = admin.compute.get_server(server_id)
        if workflow is None and server.task_state is None and \
                server.status in ("ACTIVE", "VERIFY_RESIZE", "ERROR") and \
                (migration is None or migration.status not in TRANSITIONAL_MIGRATION_STATUSES):
            return server
        time.sleep(0.2)
    raise AssertionError(f"{server_id} did not settle within {SETTLE_WITHIN}s after the "
                         f"restart: {server.status}/{server.task_state}; logs in {cloud.logs}")


@pytest.mark.parametrize("operation,owner,point", SELECTED,
                         ids=[f"{o}-{p}" for o, _, p in SELECTED])
def test_kill_at_step_then_restart_completes_or_rolls_back(cloud, operation, owner, point):
    admin = cloud.connect()
    server = create_server(admin, name=f"{operation}-{point}")
    source = instance_record(cloud, server.id).host
    if operation in ("confirm", "revert"):
        admin.compute.migrate_server(server)
        wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=30)
    before = data_digest(disk_of(cloud, server.id))

    cloud.clear_holds()
    cloud.hold(owner, point)
    # on a thread: when the api is the one held, the request only ends with the api's death
    failures: list[Exception] = []
    request = threading.Thread(target=_capture, args=(failures, start_operation, admin, server,
                                                      operation))
    request.start()
    victim, _ = cloud.wait_reached(point)
    cloud.kill(victim)
    cloud.clear_holds()
    killed_at = time.monotonic()
    cloud.restart(victim)
    request.join(30)
    if victim != "api":
        assert not failures, failures
    if victim == "api":
        cloud.wait_ready()
    settled = wait_settled(cloud, admin, server.id)

    record = instance_record(cloud, server.id)
    assert settled.status != "ERROR", f"{server.id} went to ERROR; logs in {cloud.logs}"
    migration = migration_of(cloud, server.id)  # None: killed before it was recorded
    if operation in ("migrate", "resize"):   # completed, or rolled back onto the source
        assert (settled.status, migration and migration.status) in (
            ("VERIFY_RESIZE", states.MIGRATION_FINISHED), ("ACTIVE", states.MIGRATION_ERROR),
            ("ACTIVE", None))
        if settled.status == "ACTIVE":
            assert record.host == source and record.flavor["name"] == "m1.tiny"
    elif operation == "confirm":             # confirmed, or still waiting to be
        assert (settled.status, migration.status) in (
            ("ACTIVE", states.MIGRATION_CONFIRMED), ("VERIFY_RESIZE", states.MIGRATION_FINISHED))
    else:                                    # reverted, or still waiting to be
        assert (settled.status, migration.status) in (
            ("ACTIVE", states.MIGRATION_REVERTED), ("VERIFY_RESIZE", states.MIGRATION_FINISHED))
        if settled.status == "ACTIVE":
            assert record.host == source
    assert data_digest(disk_of(cloud, server.id)) == before
    cloud.wait_ready()          # the restarted service is back before the next case
    assert_consistent(cloud)
    role = ("source compute" if victim == source else "destination compute") \
        if victim in cloud.hosts else victim
    _report(operation, point, role, settled.status, migration, time.monotonic() - killed_at)


def _report(operation: str, point: str, victim: str, status: str, migration,
            seconds: float) -> None:
    path = os.environ.get("HERDER_CRASH_MATRIX_REPORT")
    if not path:
        return
    completed = {"migrate": "VERIFY_RESIZE", "resize": "VERIFY_RESIZE", "confirm": "ACTIVE",
                 "revert": "ACTIVE"}[operation] == status
    with open(path, "a") as f:
        f.write(json.dumps({"operation": operation, "point": point, "killed": victim,
                            "outcome": "completed" if completed else "rolled back",
                            "migration": migration.status if migration else None,
                            "settled_after_s": round(seconds, 1)}) + "\n")
