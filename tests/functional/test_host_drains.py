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
    servers = servers_on(admin, "compute1", 50, stopped=5)
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


@pytest.fixture
def small_cloud(tmp_path):
    cloud = make_cloud(tmp_path / "small", conductor__host_drain_interval=0.05)
    yield cloud
    cloud.stop()


def error(answer, code: int) -> str:
    """The message of an error in the Compute API's format, once its code is checked."""
    assert answer.status_code == code, answer.text
    (body,) = answer.json().values()
    assert body["code"] == code
    return body["message"]


def test_locked_error_and_mid_move_servers_are_skipped_with_their_reason(small_cloud):
    cloud = small_cloud
    admin = connect(cloud, cloud.conf.admin_token)
    plain, locked, broken, arriving = servers_on(admin, "compute2", 4)
    admin.compute.lock_server(locked, locked_reason="license check")
    set_instance(cloud, broken, vm_state="error")
    admin.compute.migrate_server(arriving, host="compute1")   # to VERIFY_RESIZE on compute1
    wait_until(lambda: instance_record(cloud, arriving).vm_state == "resized")
    (staying,) = servers_on(admin, "compute1", 1)

    first = wait_finished(cloud, start(cloud, "compute1", auto_confirm=True)["id"])
    results = {s["server_id"]: s for s in first["servers"]}
    assert set(results) == {arriving, staying}
    assert results[arriving]["state"] == "skipped"
    assert results[arriving]["reason"] == \
        "mid-move (VERIFY_RESIZE): confirm, revert or abort it first"
    assert instance_record(cloud, arriving).host == "compute1"
    assert results[staying]["state"] == "moved"

    second = wait_finished(cloud, start(cloud, "compute2", auto_confirm=True)["id"])
    by_id = {s["server_id"]: s for s in second["servers"]}
    assert (by_id[locked]["state"], by_id[locked]["reason"]) == \
        ("skipped", "locked: license check")
    assert (by_id[broken]["state"], by_id[broken]["reason"]) == ("skipped", "in ERROR")
    assert (by_id[plain]["state"], by_id[plain]["destination_host"]) == ("moved", "compute3")
    assert instance_record(cloud, locked).host == instance_record(cloud, broken).host == \
        "compute2"
    # a restore brings back only what the drain moved
    answer = call(cloud, "POST", f"/{second['id']}/restore", {"restore": None})
    assert answer.status_code == 202, answer.text
    restore = answer.json()["host_drain"]
    assert [(s["server_id"], s["source_host"], s["destination_host"])
            for s in restore["servers"]] == [(plain, "compute3", "compute2")]
    assert wait_finished(cloud, restore["id"])["servers_by_state"]["moved"] == 1
    assert instance_record(cloud, plain).host == "compute2"


def test_pause_stops_new_moves_and_servers_others_delete_or_move_are_reported(small_cloud):
    cloud = small_cloud
    admin = connect(cloud, cloud.conf.admin_token)
    servers = servers_on(admin, "compute1", 4)
    job = start(cloud, "compute1", max_per_source=1, auto_confirm=True)
    paused = act(cloud, job["id"], "pause")
    assert paused.status_code == 202, paused.text
    assert paused.json()["host_drain"]["status"] == "paused"
    # a move started before the pause ends; none starts after it
    wait_until(lambda: show(cloud, job["id"])["servers_by_state"]["moving"] == 0)
    before = show(cloud, job["id"])["servers_by_state"]
    assert before["waiting"] >= 3
    waiting = [s["server_id"] for s in show(cloud, job["id"])["servers"]
               if s["state"] == "waiting"]
    admin.compute.delete_server(waiting[0])
    wait_until(lambda: admin.compute.find_server(waiting[0]) is None)
    # someone else moves another waiting server meanwhile
    admin.compute.migrate_server(waiting[1], host="compute3")
    wait_until(lambda: instance_record(cloud, waiting[1]).vm_state == "resized")
    admin.compute.confirm_server_resize(waiting[1])
    wait_until(lambda: instance_record(cloud, waiting[1]).task_state is None)
    assert show(cloud, job["id"])["servers_by_state"] == before
    assert error(act(cloud, job["id"], "pause"), 409) == \
        f"Cannot pause host drain {job['id']} while it is paused."

    assert act(cloud, job["id"], "resume").json()["host_drain"]["status"] == "running"
    done = wait_finished(cloud, job["id"])
    assert done["status"] == "completed"
    states = {s["server_id"]: (s["state"], s["reason"]) for s in done["servers"]}
    assert states.pop(waiting[0]) == ("deleted", "deleted before the job moved it")
    assert states.pop(waiting[1]) == ("skipped", "moved by someone else: now on compute3")
    assert {state for state, _ in states.values()} == {"moved"}
    assert {instance_record(cloud, s).host for s in states} <= {"compute2", "compute3"}
    assert set(states) | set(waiting[:2]) == set(servers)


def test_cancel_drops_the_waiting_servers_and_lets_moves_under_way_end(small_cloud):
    cloud = small_cloud
    admin = connect(cloud, cloud.conf.admin_token)
    servers_on(admin, "compute1", 4)
    job = start(cloud, "compute1", max_per_source=1)
    wait_until(lambda: show(cloud, job["id"])["servers_by_state"]["moving"] == 1)
    cancelled = act(cloud, job["id"], "cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["host_drain"]["status"] in ("cancelling", "cancelled")
    done = wait_finished(cloud, job["id"])
    assert done["status"] == "cancelled"
    counts = done["servers_by_state"]
    assert counts["moved"] >= 1 and counts["moved"] + counts["cancelled"] == 4, counts
    for server in done["servers"]:
        record = instance_record(cloud, server["server_id"])
        if server["state"] == "cancelled":
            assert server["reason"] == "the job was cancelled before it moved"
            assert record.host == "compute1"
        else:   # no auto-confirm: it waits in VERIFY_RESIZE where it went
            assert (record.host, record.vm_state) == (server["destination_host"], "resized")
            assert server["reason"].endswith("waiting in VERIFY_RESIZE to be confirmed")
    assert error(act(cloud, job["id"], "resume"), 409) == \
        f"Cannot resume host drain {job['id']} while it is cancelled."
    # the host stays disabled: the operator decides, or a restore enables it
    assert admin.compute.find_service("nova-compute", host="compute1").status == "disabled"


def test_a_member_is_refused_and_nothing_is_written(small_cloud):
    cloud = small_cloud
    admin = connect(cloud, cloud.conf.admin_token)
    servers_on(admin, "compute1", 1)
    assert error(call(cloud, "POST", body={"host_drain": {"host": "compute1"}}, token=MEMBER),
                 403) == "Policy doesn't allow herder:host_drains:create to be performed."
    assert error(call(cloud, "GET", token=MEMBER), 403) == \
        "Policy doesn't allow herder:host_drains:index to be performed."
    assert admin.compute.find_service("nova-compute", host="compute1").status == "enabled"
    assert call(cloud, "GET").json() == {"host_drains": []}
    job = start(cloud, "compute1")
    for method, path, body, rule in (
            ("GET", f"/{job['id']}", None, "show"),
            ("POST", f"/{job['id']}/action", {"pause": None}, "pause"),
            ("POST", f"/{job['id']}/action", {"cancel": None}, "cancel"),
            ("POST", f"/{job['id']}/restore", {"restore": None}, "restore")):
        assert error(call(cloud, method, path, body, token=MEMBER), 403) == \
            f"Policy doesn't allow herder:host_drains:{rule} to be performed."
    assert show(cloud, job["id"])["status"] in ("running", "completed")


def test_bad_requests_are_refused_in_the_compute_apis_format_and_leave_nothing(small_cloud):
    cloud = small_cloud
    admin = connect(cloud, cloud.conf.admin_token)
    servers_on(admin, "compute1", 2)
    for body in (None, {}, {"host_drain": {}}, {"host_drain": {"host": ""}},
                 {"host_drain": {"host": "compute1", "max_per_source": 0}},
                 {"host_drain": {"host": "compute1", "max_per_destination": "2"}},
                 {"host_drain": {"host": "compute1", "auto_confirm": "yes"}},
                 {"host_drain": {"host": "compute1", "reason": "x" * 256}},
                 {"host_drain": {"host": "compute1", "other": 1}}):
        error(call(cloud, "POST", body=body), 400)
    assert error(call(cloud, "POST", body={"host_drain": {"host": "nowhere"}}), 404) == \
        "Compute host nowhere could not be found."
    assert call(cloud, "GET").json() == {"host_drains": []}
    assert admin.compute.find_service("nova-compute", host="compute1").status == "enabled"
    missing = "00000000-0000-0000-0000-000000000000"
    for path in (f"/{missing}", "/not-a-uuid"):
        assert error(call(cloud, "GET", path), 404) == \
            f"Host drain {path[1:]} could not be found."
    assert error(act(cloud, missing, "pause"), 404) == \
        f"Host drain {missing} could not be found."

    job = start(cloud, "compute1", max_per_source=1)
    act(cloud, job["id"], "pause")
    assert error(call(cloud, "POST", body={"host_drain": {"host": "compute1"}}), 409) == \
        f"Host compute1 has an unfinished host drain already: {job['id']}."
    assert error(call(cloud, "POST", f"/{job['id']}/restore", {"restore": None}), 409) == \
        (f"Host drain {job['id']} is paused: a drain can be restored once it is completed "
         f"or cancelled.")
    assert error(call(cloud, "POST", f"/{job['id']}/action", {"stop": None}), 400) == \
        "A host drain's action is pause, resume or cancel, not 'stop'"
    error(call(cloud, "POST", f"/{job['id']}/action", {"pause": {"now": True}}), 400)
    error(call(cloud, "POST", f"/{job['id']}/restore", {"restore": {"max_per_source": -1}}),
          400)
    assert [j["id"] for j in call(cloud, "GET").json()["host_drains"]] == [job["id"]]
    act(cloud, job["id"], "cancel")
    drained = wait_finished(cloud, job["id"])
    restore = call(cloud, "POST", f"/{job['id']}/restore", {"restore": None}).json()
    restore_id = restore["host_drain"]["id"]
    assert error(call(cloud, "POST", f"/{restore_id}/restore", {"restore": None}), 409) == \
        f"Host drain {restore_id} is a restore: only a drain can be restored."
    assert wait_finished(cloud, restore_id)["status"] == "completed"
    assert drained["status"] == "cancelled"
    assert call(cloud, "GET", "?host=compute2").json() == {"host_drains": []}
    assert [j["id"] for j in call(cloud, "GET", "?host=compute1").json()["host_drains"]] == \
        [restore_id, job["id"]]
