"""The soak's own checker (bench/soak_invariants.py): it passes a consistent cloud, and flags
what it exists to find, planted in an embedded cloud."""
import os
import uuid

from bench.soak_invariants import Checker, Ledger
from herder import states
from herder.db import instances, placement
from herder.db.placement import Resources
from tests.functional.observe import create_server


def _checker(cloud, admin, *servers) -> Checker:
    ledger = Ledger()
    for server in servers:
        ledger.created(server.id, "test")
    return Checker(cloud, admin, ledger)


def test_a_consistent_cloud_passes(cloud, admin):
    checker = _checker(cloud, admin, create_server(admin))
    assert checker.check() == []


def test_a_leaked_allocation_and_an_orphan_file_are_flagged(cloud, admin):
    checker = _checker(cloud, admin, create_server(admin))
    node = placement.nodes(cloud.db)[0]
    leaked = str(uuid.uuid4())
    placement.claim(cloud.db, leaked, node.uuid, Resources(1, 64, 1))
    orphan = str(uuid.uuid4())
    os.mkdir(os.path.join(cloud.instances_dirs()[node.host], orphan))

    findings = checker.check()
    assert any(f.startswith(f"allocation of consumer {leaked}") for f in findings), findings
    assert any(f.startswith("file ") and f.endswith(f"{orphan}: of no live server")
               for f in findings), findings


def test_a_lost_an_unaccounted_an_errored_and_a_moving_server_are_flagged(cloud, admin):
    kept, errored, moving = (create_server(admin, name=n) for n in ("kept", "bad", "moving"))
    stranger = create_server(admin, name="stranger")
    checker = _checker(cloud, admin, kept, errored, moving)
    checker.ledger.created(str(uuid.uuid4()), "test")   # the ledger made it; it is not there
    instances.update(cloud.db, errored.id, None, vm_state=states.ERROR)
    instances.update(cloud.db, moving.id, None, task_state=states.RESIZE_MIGRATING)

    findings = checker.check()
    assert sum(f.startswith("lost: ") for f in findings) == 1, findings
    assert any(f.startswith(f"unaccounted: {stranger.id}") for f in findings), findings
    assert any(f.startswith(f"ERROR: {errored.id}") for f in findings), findings
    assert any(f.startswith(f"stuck: {moving.id}") for f in findings), findings
    assert not any(kept.id in f for f in findings), findings


def test_a_deleted_server_still_listed_is_flagged(cloud, admin):
    server = create_server(admin)
    checker = _checker(cloud, admin, server)
    checker.ledger.gone(server.id)
    assert checker.check() == [f"not deleted: {server.id} (vm): status ACTIVE, task_state None,"
                               " deleted by the soak"]
