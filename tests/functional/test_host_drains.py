"""Host drains and restores through herder's API over HTTP: the limits hold (judged from the
migration records' own timestamps), every server's result, pause/resume/cancel, the policy,
and refusals that leave nothing behind."""
from datetime import datetime

import pytest

from herder.db.models import Migration
from tests.conftest import connect, make_cloud
from tests.functional.contract import set_instance
from tests.functional.host_drain_api import (act, call, servers_on, show, start,
                                             wait_finished)
from tests.functional.observe import assert_consistent, instance_record, wait_until

MEMBER = "demo:demo:member,reader"


@pytest.fixture
def cloud(tmp_path):
    """Five hosts, a conductor that looks at its jobs ten times a second."""
    cloud = make_cloud(tmp_path, hosts=5, conductor__host_drain_interval=0.1,
                       quota__instances=-1, quota__cores=-1, quota__ram=-1)
    yield cloud
    cloud.stop()


@pytest.fixture
def admin(cloud):
    return connect(cloud, cloud.conf.admin_token)


def most_at_once(cloud, migration_uuids: set[str], host_of) -> int:
    """The most moves of `migration_uuids` that overlapped at one instant at one host
    (`host_of`: the host of a migration record to group by), from each record's created_at
    to its updated_at (its last change: its confirm, as the job confirms each)."""
    with cloud.db.transaction() as session:
        rows = [m for m in session.query(Migration).all() if m.uuid in migration_uuids]
    assert len(rows) == len(migration_uuids)
    events: dict[str, list[tuple[datetime, int]]] = {}
    for m in rows:
        assert m.updated_at is not None and m.updated_at > m.created_at
        events.setdefault(host_of(m), []).extend([(m.created_at, 1), (m.updated_at, -1)])
    most = 0
    for points in events.values():
        running = 0
        for _, step in sorted(points):   # an end before a start at the same instant
            running += step
            most = max(most, running)
    return most


def test_a_drain_of_fifty_servers_keeps_its_limits_and_a_restore_brings_them_back(cloud,
                                                                                  admin):
    servers = servers_on(cloud, admin, "compute1", 50, stopped=5)
    job = start(cloud, "compute1", reason="kernel upgrade", max_per_source=2,
                max_per_destination=2, auto_confirm=True)
    assert (job["kind"], job["status"], job["servers_total"]) == ("drain", "running", 50)
    service = admin.compute.find_service("nova-compute", host="compute1")
    assert (service.status, service.disabled_reason) == ("disabled", "kernel upgrade")

    drained = wait_finished(cloud, job["id"], timeout=120)
    assert drained["status"] == "completed"
    assert drained["servers_by_state"]["moved"] == 50, drained
    results = {s["server_id"]: s for s in drained["servers"]}
    assert set(results) == set(servers)
    for server_id, result in results.items():
        record = instance_record(cloud, server_id)
        assert record.host == result["destination_host"] != "compute1"
        assert result["reason"] == f"moved to {record.host}"
    assert {instance_record(cloud, s).vm_state for s in servers[:5]} == {"stopped"}
    moves = {s["migration_id"] for s in drained["servers"]}
    assert most_at_once(cloud, moves, lambda m: m.source_compute) == 2
    assert most_at_once(cloud, moves, lambda m: m.dest_compute) <= 2

    answer = call(cloud, "POST", f"/{job['id']}/restore", {"restore": None})
    assert answer.status_code == 202, answer.text
    restore = answer.json()["host_drain"]
    assert (restore["kind"], restore["drain_id"], restore["servers_total"]) == \
        ("restore", job["id"], 50)
    assert admin.compute.find_service("nova-compute", host="compute1").status == "enabled"
    restored = wait_finished(cloud, restore["id"], timeout=120)
    assert restored["servers_by_state"]["moved"] == 50, restored
    assert {instance_record(cloud, s).host for s in servers} == {"compute1"}
    back = {s["migration_id"] for s in restored["servers"]}
    assert most_at_once(cloud, back, lambda m: m.dest_compute) == 2
    assert most_at_once(cloud, back, lambda m: m.source_compute) <= 2
    assert_consistent(cloud)
