"""Aborting a cold migration or resize: DELETE /servers/{id}/migrations/{migration_id}.

In every phase before VERIFY_RESIZE the move rolls back as on a failure and its migration ends
`cancelled`; the server is as it was (host, vm_state, power state, flavor), with no fault, and
nothing is left on either host or in the allocations. A disk copy under way is stopped, not
waited for. After VERIFY_RESIZE the abort is refused: revert is the way back."""
import pytest

from herder import states
from tests.conftest import connect, make_cloud
from tests.functional.observe import (assert_consistent, create_server, events_by_name,
                                      instance_record, migrated, migration_of, wait_for_status,
                                      wait_until)

ABORT_VERSION = "2.24"


def abort(conn, server_id: str, migration_id: int, microversion: str = ABORT_VERSION):
    return conn.compute.delete(f"/servers/{server_id}/migrations/{migration_id}",
                               microversion=microversion)


def error_message(resp, code: int) -> str:
    assert resp.status_code == code, resp.text
    (body,) = resp.json().values()
    assert body["code"] == code
    return body["message"]


def wait_for_the_move_record(cloud, server_id: str):
    return wait_until(lambda: migration_of(cloud, server_id), message="the migration record")


def assert_back_as_before(cloud, admin, server_id: str, source: str, status: str,
                          flavor: str = "m1.tiny", move: str = "migrate") -> None:
    """The move was rolled back by the abort: cancelled, the server on its source as before."""
    server = wait_until(lambda: (s := admin.compute.get_server(server_id)).status == status
                        and s.task_state is None and s, timeout=30,
                        message=f"the server back at {status}")
    migration = migration_of(cloud, server_id)
    assert migration.status == states.MIGRATION_CANCELLED
    assert migration.error_reason == "The move was aborted by request."
    record = instance_record(cloud, server_id)
    assert (record.host, record.flavor["name"], record.new_flavor) == (source, flavor, None)
    assert record.power_state == (states.RUNNING if status == "ACTIVE" else states.SHUTDOWN)
    assert server.fault is None   # the user asked for it: nothing went wrong
    assert [a.action for a in admin.compute.server_actions(server_id)][:2] == \
        ["migration_cancel", move]
    assert_consistent(cloud)


# Where a move is held while its abort is asked for: (who holds, the fault point). The
# conductor's points hold before its step runs; the hosts' hold inside their step.
PHASES = {
    "scheduling": ("conductor", "migrate.select_destinations"),
    "prep": ("computes", "prep_resize"),
    "power-off": ("computes", "power_off"),
    "copy": ("computes", "copy_disk"),
    "finish": ("computes", "finish_migration"),
}
# The move's events after the abort: the held step's own ends as it ends, and the move stops
# there (the copy of a move aborted in its power-off or copy is stopped, so that step fails).
EVENTS_AFTER = {
    "scheduling": {"compute_prep_resize": None, "compute_resize_instance": None},
    "prep": {"compute_prep_resize": "Success", "compute_resize_instance": None},
    "power-off": {"compute_resize_instance": "Error", "compute_finish_resize": None},
    "copy": {"compute_resize_instance": "Error", "compute_finish_resize": None},
    "finish": {"compute_finish_resize": "Error"},
}


def hold_everywhere(cloud, who: str, point: str) -> list:
    if who == "conductor":
        return [cloud.conductor.engine.fault_points.hold(point)]
    return [compute.driver.fault_points.hold(point) for compute in cloud.computes.values()]


@pytest.mark.parametrize("phase", PHASES)
def test_an_abort_in_any_phase_before_verify_resize_rolls_the_move_back(cloud, admin, phase):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    holds = hold_everywhere(cloud, *PHASES[phase])
    admin.compute.migrate_server(server)
    migration = wait_for_the_move_record(cloud, server.id)
    reached = wait_until(lambda: next((h for h in holds if h._reached.is_set()), None),
                         message=f"the move held in {phase}")

    resp = abort(admin, server.id, migration.id)
    assert resp.status_code == 202, resp.text
    reached.release()
    for hold in holds:
        hold.release()

    assert_back_as_before(cloud, admin, server.id, source, "ACTIVE")
    events = events_by_name(admin, server.id, "migrate")
    assert {name: events[name]["result"] if name in events else None
            for name in EVENTS_AFTER[phase]} == EVENTS_AFTER[phase]


def test_an_aborted_resize_of_a_stopped_server_leaves_it_stopped_with_its_flavor(cloud, admin):
    server = create_server(admin, stopped=True)
    source = instance_record(cloud, server.id).host
    holds = hold_everywhere(cloud, "computes", "copy_disk")
    admin.compute.resize_server(server, admin.compute.find_flavor("m1.small").id)
    migration = wait_for_the_move_record(cloud, server.id)
    wait_until(lambda: any(h._reached.is_set() for h in holds), message="the copy held")

    assert abort(admin, server.id, migration.id).status_code == 202
    for hold in holds:
        hold.release()
    assert_back_as_before(cloud, admin, server.id, source, "SHUTOFF", move="resize")


def test_an_abort_stops_a_long_copy_instead_of_waiting_for_its_end(tmp_path):
    # 64 KiB chunks at 1 Mbit/s: the guest's 1 MiB of data takes about 8 s to send
    cloud = make_cloud(tmp_path, transfer__chunk_size_kb=64, transfer__bandwidth_limit_mbps=1)
    try:
        admin = connect(cloud, cloud.conf.admin_token)
        server = create_server(admin)
        source = instance_record(cloud, server.id).host
        admin.compute.migrate_server(server)
        dest = wait_until(lambda: (m := migration_of(cloud, server.id)) and m.dest_compute,
                          message="a destination")
        receiver = cloud.computes[dest].transfers.receiver
        copy = wait_until(lambda: (t := receiver.last_transfer) and t.bytes_received > 0 and t,
                          message="the copy under way")

        assert abort(admin, server.id, migration_of(cloud, server.id).id).status_code == 202
        assert_back_as_before(cloud, admin, server.id, source, "ACTIVE")
        # it was cut short: the copy never completed, and nothing came after the abort
        assert not copy.completed
        assert copy.bytes_received < migration_of(cloud, server.id).disk_total_bytes
        assert receiver.last_transfer is copy
    finally:
        cloud.stop()


def test_a_move_in_verify_resize_cannot_be_aborted_revert_is_the_way_back(cloud, admin):
    server, _, _ = migrated(cloud, admin)
    migration = migration_of(cloud, server.id)
    message = error_message(abort(admin, server.id, migration.id), 400)
    assert "can no longer be aborted" in message and "Revert" in message
    assert migration_of(cloud, server.id).status == states.MIGRATION_FINISHED
    admin.compute.revert_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    assert_consistent(cloud)


def test_unknown_finished_and_other_servers_migrations_are_not_found(cloud, admin):
    server, _, _ = migrated(cloud, admin)
    other = create_server(admin, name="other")
    migration = migration_of(cloud, server.id)
    assert error_message(abort(admin, server.id, 999999), 404)
    assert error_message(abort(admin, other.id, migration.id), 404)
    assert error_message(abort(admin, server.id, "not-a-number"), 404)
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    assert error_message(abort(admin, server.id, migration.id), 404)   # confirmed: over
    # before 2.24 the method does not exist
    assert error_message(abort(admin, server.id, migration.id, microversion="2.23"), 404)


def test_a_member_may_not_abort_and_a_second_abort_is_a_conflict(cloud, admin, demo):
    server = create_server(demo)
    source = instance_record(cloud, server.id).host
    holds = hold_everywhere(cloud, "computes", "power_off")
    admin.compute.migrate_server(server)
    migration = wait_for_the_move_record(cloud, server.id)
    wait_until(lambda: any(h._reached.is_set() for h in holds), message="the power-off held")
    try:
        assert error_message(abort(demo, server.id, migration.id), 403)
        assert migration_of(cloud, server.id).abort_requested_at is None
        assert abort(admin, server.id, migration.id).status_code == 202
        assert "being aborted already" in error_message(abort(admin, server.id, migration.id),
                                                        409)
    finally:
        for hold in holds:
            hold.release()
    assert_back_as_before(cloud, admin, server.id, source, "ACTIVE")


def test_deleting_a_server_in_the_middle_of_its_move_aborts_the_move_then_deletes(cloud, admin):
    server = create_server(admin)
    holds = hold_everywhere(cloud, "computes", "copy_disk")
    admin.compute.migrate_server(server)
    wait_until(lambda: any(h._reached.is_set() for h in holds), message="the copy held")

    resp = admin.compute.delete(f"/servers/{server.id}")
    assert resp.status_code == 204, resp.text
    assert admin.compute.delete(f"/servers/{server.id}").status_code == 204   # again: no-op
    assert admin.compute.get_server(server.id).status == "RESIZE"   # the move rolls back first
    for hold in holds:
        hold.release()

    wait_until(lambda: admin.compute.find_server(server.id) is None, timeout=30,
               message="the server gone")
    assert migration_of(cloud, server.id).status == states.MIGRATION_CANCELLED
    actions = [a.action for a in admin.compute.server_actions(server.id)]
    assert actions[:2] == ["delete", "migrate"]
    assert_consistent(cloud)   # nothing left of it on either host, no allocation
