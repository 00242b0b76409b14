"""A failure at any step of a move rolls it back by itself, leaving a usable server.

For each failure point of the move workflow the server ends where it started (never ERROR),
the migration says `error` and why, allocations and files are exactly what the live servers
need, and the failing event is visible in `server event list`.
"""
import pytest

from herder import states
from herder.db.models import Service
from herder.db.placement import Resources
from tests.functional.observe import (assert_consistent, create_server, events_by_name,
                                      instance_record, migrated, migration_of, wait_for_status,
                                      wait_until)


def _wait_migration_status(cloud, server_id: str, status: str):
    return wait_until(lambda: (m := migration_of(cloud, server_id)) and m.status == status and m,
                      message=f"migration of {server_id} to reach {status}")


def _disable_services(cloud, hosts: list[str]) -> None:
    with cloud.db.transaction() as session:
        for service in session.query(Service).filter(Service.host.in_(hosts)):
            service.disabled = True


@pytest.mark.parametrize("stopped", [False, True], ids=["active", "stopped"])
@pytest.mark.parametrize("where, step, failed_event", [
    ("source", "power_off", "compute_resize_instance"),
    ("source", "copy_disk", "compute_resize_instance"),
    ("source", "migrate_disk", "compute_resize_instance"),
    ("dest", "prep_resize", "compute_prep_resize"),
    ("dest", "finish_migration", "compute_finish_resize"),
])
def test_failed_migrate_rolls_back_to_the_source(cloud, admin, where, step, failed_event,
                                                 stopped):
    server = create_server(admin, stopped=stopped)
    source = instance_record(cloud, server.id).host
    dest = next(h for h in cloud.computes if h != source)
    _disable_services(cloud, [h for h in cloud.computes if h not in (source, dest)])
    cloud.computes[source if where == "source" else dest].driver.fault_points.arm(step)
    disk_before = open(cloud.computes[source].driver.disk_path(server.id), "rb").read(4096)

    admin.compute.migrate_server(server)
    migration = _wait_migration_status(cloud, server.id, "error")
    server_after = wait_for_status(admin, server.id, "SHUTOFF" if stopped else "ACTIVE")

    record = instance_record(cloud, server.id)
    assert (record.host, record.task_state, record.vm_state) == \
        (source, None, states.STOPPED if stopped else states.ACTIVE)
    expected_power = states.SHUTDOWN if stopped else states.RUNNING
    assert cloud.computes[source].driver.power_state(server.id) == expected_power
    assert "injected fault" in migration.error_reason
    assert open(cloud.computes[source].driver.disk_path(server.id), "rb").read(4096) == disk_before
    events = events_by_name(admin, server.id, "migrate")
    assert events[failed_event]["result"] == "Error"
    assert server_after.status in ("ACTIVE", "SHUTOFF")
    assert_consistent(cloud)


def test_no_valid_host_leaves_server_untouched_and_says_why(cloud, admin, notifications):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    _disable_services(cloud, [h for h in cloud.computes if h != source])

    admin.compute.migrate_server(server)
    migration = _wait_migration_status(cloud, server.id, "error")
    wait_for_status(admin, server.id, "ACTIVE")
    assert "No valid host was found" in migration.error_reason
    assert "compute service is disabled" in migration.error_reason
    assert instance_record(cloud, server.id).host == source
    events = events_by_name(admin, server.id, "migrate")
    assert events["conductor_migrate_server"]["result"] == "Error"
    wait_until(lambda: "compute_task.migrate_server.error" in notifications.event_types(server.id),
               message="the scheduling error notification")
    assert_consistent(cloud)


def _shrink_memory_behind_the_schedulers_back(compute):
    """The host's claims see 600 MB while its reports keep telling the scheduler the full
    amount, so the scheduler picks the host and its claim fails (the tracker gets its own copy:
    the shared dict would reach the scheduler with the next periodic report, and the test would
    race it)."""
    compute.tracker.inventory = {**compute.tracker.inventory, "memory_mb": 600}


def test_claim_failure_on_destination_reschedules_to_an_alternate(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    others = sorted(h for h in cloud.computes if h != source)
    # each other host's own tracker disagrees with the scheduler's view, except the last one
    for host in others[:-1]:
        _shrink_memory_behind_the_schedulers_back(cloud.computes[host])
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    assert instance_record(cloud, server.id).host == others[-1]
    assert_consistent(cloud)


def test_claim_failure_everywhere_exhausts_alternates_and_rolls_back(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    for host in cloud.computes:
        if host != source:
            _shrink_memory_behind_the_schedulers_back(cloud.computes[host])
    admin.compute.migrate_server(server)
    migration = _wait_migration_status(cloud, server.id, "error")
    wait_for_status(admin, server.id, "ACTIVE")
    assert "Exhausted all hosts" in migration.error_reason
    assert instance_record(cloud, server.id).host == source
    assert_consistent(cloud)


def test_failed_confirm_keeps_verify_resize_and_can_be_retried(cloud, admin):
    server, source, dest = migrated(cloud, admin)
    cloud.computes[source].driver.fault_points.arm("confirm_migration")
    admin.compute.confirm_server_resize(server)
    wait_until(lambda: migration_of(cloud, server.id).error_reason, message="confirm failure")
    migration = migration_of(cloud, server.id)
    assert migration.status == "finished" and "injected fault" in migration.error_reason
    assert admin.compute.get_server(server.id).status == "VERIFY_RESIZE"
    assert events_by_name(admin, server.id, "confirmResize")["compute_confirm_resize"][
        "result"] == "Error"
    assert_consistent(cloud)

    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    assert migration_of(cloud, server.id).status == "confirmed"
    assert instance_record(cloud, server.id).host == dest
    assert_consistent(cloud)


@pytest.mark.parametrize("where, step, failed_event", [
    ("dest", "revert_resize", "compute_revert_resize"),
    ("source", "finish_revert_migration", "compute_finish_revert_resize"),
])
def test_failed_revert_keeps_verify_resize_and_can_be_retried(cloud, admin, where, step,
                                                              failed_event):
    server, source, dest = migrated(cloud, admin)
    cloud.computes[source if where == "source" else dest].driver.fault_points.arm(step)
    admin.compute.revert_server_resize(server)
    wait_until(lambda: migration_of(cloud, server.id).error_reason, message="revert failure")
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    record = instance_record(cloud, server.id)
    assert (record.host, record.task_state) == (dest, None)
    assert cloud.computes[dest].driver.power_state(server.id) == states.RUNNING
    events = events_by_name(admin, server.id, "revertResize")
    assert events[failed_event]["result"] == "Error", events
    assert_consistent(cloud)

    admin.compute.revert_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    assert instance_record(cloud, server.id).host == source
    assert migration_of(cloud, server.id).status == "reverted"
    assert_consistent(cloud)


def test_deleting_a_server_in_verify_resize_confirms_first(cloud, admin):
    server, source, dest = migrated(cloud, admin)
    admin.compute.delete_server(server)
    wait_until(lambda: instance_record_or_none(cloud, server.id) is None, message="deletion")
    assert migration_of(cloud, server.id).status == "confirmed"
    actions = [a.action for a in admin.compute.server_actions(server.id)]
    assert "confirmResize" in actions and "delete" in actions
    assert_consistent(cloud)


def instance_record_or_none(cloud, server_id):
    from herder import exception
    try:
        return instance_record(cloud, server_id)
    except exception.InstanceNotFound:
        return None


def test_auto_confirm_confirms_after_the_window(tmp_path):
    from tests.conftest import connect, make_cloud
    cloud = make_cloud(tmp_path, resize_confirm_window=1)
    try:
        admin = connect(cloud, cloud.conf.admin_token)
        server, source, dest = migrated(cloud, admin)
        wait_for_status(admin, server.id, "ACTIVE", timeout=10)
        assert migration_of(cloud, server.id).status == "confirmed"
        assert instance_record(cloud, server.id).host == dest
        assert_consistent(cloud)
    finally:
        cloud.stop()



def test_a_failing_compute_step_emits_compute_exception_and_resize_error(cloud, admin,
                                                                        notifications):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    cloud.computes[source].driver.fault_points.arm("copy_disk")
    admin.compute.migrate_server(server)
    _wait_migration_status(cloud, server.id, "error")
    wait_until(lambda: "instance.resize.error" in notifications.event_types(server.id),
               message="instance.resize.error")
    errors = [n for n in notifications.received if n["priority"] == "ERROR"]
    assert [n["event_type"] for n in errors] == ["compute.exception", "instance.resize.error"]
    assert errors[0]["publisher_id"] == f"herder-compute:{source}"
    fault = errors[0]["payload"]["nova_object.data"]["fault"]["nova_object.data"]
    assert fault["exception"] == "DriverError" and "copy_disk" in fault["exception_message"]


def test_a_rolled_back_move_says_why_on_the_server_until_the_next_action(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    _disable_services(cloud, [h for h in cloud.computes if h != source])
    admin.compute.migrate_server(server)
    _wait_migration_status(cloud, server.id, "error")
    # the rollback marks the migration, then restores the server, then records the fault
    body = wait_until(lambda: (b := admin.compute.get(f"/servers/{server.id}", microversion="2.80")
                               .json()["server"])["status"] == "ACTIVE" and "fault" in b and b,
                      message="the server back to ACTIVE with its fault")
    assert body["fault"]["code"] == 500
    assert body["fault"]["message"].startswith("No valid host was found.")

    admin.compute.stop_server(server)
    wait_for_status(admin, server.id, "SHUTOFF")
    body = admin.compute.get(f"/servers/{server.id}", microversion="2.80").json()["server"]
    assert "fault" not in body


def test_deleting_after_a_failed_confirm_removes_the_source_copy_too(cloud, admin):
    server, source, dest = migrated(cloud, admin)
    cloud.computes[source].driver.fault_points.arm("confirm_migration", times=2)
    admin.compute.delete_server(server)
    wait_until(lambda: instance_record_or_none(cloud, server.id) is None, message="deletion")
    assert_consistent(cloud)


def test_a_restarted_source_host_still_holds_the_kept_copy_until_confirm(cloud, admin):
    """The source's own claim tracker after a restart (rebuilt from what is on its disk, as
    ComputeService does at start): the `_resize` copy still holds the old flavor there, and the
    confirm gives it back."""
    server, source, dest = migrated(cloud, admin)
    host = cloud.computes[source]
    host.rebuild_claims()
    assert host.tracker.used() == Resources(1, 512, 1)                 # m1.tiny
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    assert host.tracker.used() == Resources(0, 0, 0)
    assert_consistent(cloud)


@pytest.mark.parametrize("finish", ["revert", "rollback"])
def test_a_restarted_destination_still_holds_the_claim_of_a_move_on_its_way(cloud, admin,
                                                                           finish):
    """Between prep_resize and finish_resize nothing of the move is on the destination's disk
    but its record: a destination restarted then (its claims rebuilt, as ComputeService does at
    start) still counts the new flavor, hands it to the guest when the disk arrives, and gives
    it back on a revert or a rollback."""
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    dest = next(h for h in cloud.computes if h != source)
    _disable_services(cloud, [h for h in cloud.computes if h not in (source, dest)])
    destination = cloud.computes[dest]
    held = cloud.computes[source].driver.fault_points.hold("migrate_disk")
    if finish == "rollback":
        destination.driver.fault_points.arm("finish_migration")
    admin.compute.resize_server(server, admin.compute.find_flavor("m1.small").id)
    held.wait_reached()
    destination.rebuild_claims()
    assert destination.tracker.used() == Resources(1, 2048, 20)        # m1.small
    held.release()
    if finish == "rollback":
        assert _wait_migration_status(cloud, server.id, "error")
        wait_for_status(admin, server.id, "ACTIVE")
    else:
        wait_for_status(admin, server.id, "VERIFY_RESIZE")
        assert destination.tracker.used() == Resources(1, 2048, 20)    # the guest's claim now
        destination.rebuild_claims()                                   # and after a restart
        assert destination.tracker.used() == Resources(1, 2048, 20)
        admin.compute.revert_server_resize(server)
        wait_for_status(admin, server.id, "ACTIVE")
    assert destination.tracker.used() == Resources(0, 0, 0)
    assert_consistent(cloud)


def test_a_build_that_fails_on_its_host_ends_in_error_on_no_host_and_holds_nothing(cloud,
                                                                                  admin):
    """As in Nova: the guest's host undoes it, the allocation goes, the server is ERROR with
    no host, and deleting it works."""
    for compute in cloud.computes.values():
        compute.driver.fault_points.arm("spawn")
    image = admin.image.find_image("herder-guest")
    server = admin.compute.create_server(name="doomed", image_id=image.id, networks="auto",
                                         flavor_id=admin.compute.find_flavor("m1.tiny").id)
    failed = wait_for_status(admin, server.id, "ERROR")
    assert failed.fault["message"].startswith("Driver step spawn failed on ")
    assert failed.compute_host is None
    assert instance_record(cloud, server.id).node is None
    assert_consistent(cloud)
    admin.compute.delete_server(server)
    admin.compute.wait_for_delete(admin.compute.get_server(server.id), wait=15)
    assert_consistent(cloud)
