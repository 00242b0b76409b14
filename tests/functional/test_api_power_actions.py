"""Server actions pause/unpause, suspend/resume and reboot (SOFT/HARD): Nova's state checks, the
guest's power state on its host, and the instance actions they record."""
from herder import states
from tests.conftest import connect
from tests.functional.contract import action, assert_error, error_message, set_instance
from tests.functional.observe import (assert_consistent, create_server, events_by_name,
                                      instance_record, wait_for_status, wait_until)


def invalid(action_name: str, server_id: str, attr: str, value) -> str:
    return f"Cannot '{action_name}' instance {server_id} while it is in {attr} {value}"


def guest_power(cloud, server_id: str) -> int:
    record = instance_record(cloud, server_id)
    return cloud.computes[record.host].driver.power_state(server_id)


def action_names(conn, server_id: str) -> list[str]:
    return [a.action for a in conn.compute.server_actions(server_id)]


def test_pause_and_unpause_freeze_and_thaw_the_guest(cloud, admin, demo):
    server = create_server(demo)
    assert action(demo, server.id, {"pause": None}).status_code == 202
    paused = wait_for_status(demo, server.id, "PAUSED")
    assert paused.power_state == states.PAUSED_POWER
    assert guest_power(cloud, server.id) == states.PAUSED_POWER
    assert (instance_record(cloud, server.id).vm_state,
            instance_record(cloud, server.id).task_state) == (states.PAUSED, None)

    demo.compute.unpause_server(server.id)     # the SDK's body: {"unpause": null}
    assert wait_for_status(demo, server.id, "ACTIVE").power_state == states.RUNNING
    assert guest_power(cloud, server.id) == states.RUNNING
    assert action_names(demo, server.id)[:2] == ["unpause", "pause"]   # newest first
    events = events_by_name(admin, server.id, "pause")
    assert events["compute_pause_instance"]["result"] == "Success"
    assert events_by_name(admin, server.id, "unpause")["compute_unpause_instance"][
        "result"] == "Success"
    assert_consistent(cloud)


def test_suspend_and_resume_save_and_restore_the_guest(cloud, admin, demo):
    server = create_server(demo)
    demo.compute.suspend_server(server.id)
    suspended = wait_for_status(demo, server.id, "SUSPENDED")
    assert suspended.power_state == states.SUSPENDED_POWER
    assert guest_power(cloud, server.id) == states.SUSPENDED_POWER
    assert action(demo, server.id, {"resume": {}}).status_code == 202
    wait_for_status(demo, server.id, "ACTIVE")
    assert guest_power(cloud, server.id) == states.RUNNING
    assert action_names(demo, server.id)[:2] == ["resume", "suspend"]
    assert events_by_name(admin, server.id, "suspend")["compute_suspend_instance"][
        "result"] == "Success"
    assert_consistent(cloud)


def test_soft_reboot_needs_a_running_server_and_hard_reboot_starts_any(cloud, admin, demo):
    server = create_server(demo)
    assert action(demo, server.id, {"reboot": {"type": "SOFT"}}).status_code == 202
    wait_until(lambda: instance_record(cloud, server.id).task_state is None,
               message="the soft reboot to finish")
    assert wait_for_status(demo, server.id, "ACTIVE").power_state == states.RUNNING
    assert events_by_name(admin, server.id, "reboot")["compute_reboot_instance"][
        "result"] == "Success"

    demo.compute.stop_server(server.id)
    wait_for_status(demo, server.id, "SHUTOFF")
    assert_error(action(demo, server.id, {"reboot": {"type": "soft"}}), 409,
                 invalid("reboot", server.id, "vm_state", "stopped"))
    demo.compute.reboot_server(server.id, "HARD")
    wait_for_status(demo, server.id, "ACTIVE")
    assert guest_power(cloud, server.id) == states.RUNNING

    # a paused or suspended guest is reset and comes back running
    for pause in ({"pause": None}, {"suspend": None}):
        assert action(demo, server.id, pause).status_code == 202
        wait_until(lambda: instance_record(cloud, server.id).task_state is None,
                   message="the pause or suspend to finish")
        assert action(demo, server.id, {"reboot": {"type": "Hard"}}).status_code == 202
        wait_for_status(demo, server.id, "ACTIVE")
    assert action_names(demo, server.id).count("reboot") == 4
    assert_consistent(cloud)


def test_a_rebooting_server_shows_reboot_and_refuses_other_actions(cloud, demo):
    server = create_server(demo)
    host = instance_record(cloud, server.id).host
    hold = cloud.computes[host].driver.fault_points.hold("reboot")
    assert action(demo, server.id, {"reboot": {"type": "HARD"}}).status_code == 202
    hold.wait_reached()
    try:
        assert demo.compute.get_server(server.id).status == "HARD_REBOOT"
        assert_error(action(demo, server.id, {"pause": None}), 409,
                     invalid("pause", server.id, "task_state", "rebooting_hard"))
        assert_error(action(demo, server.id, {"reboot": {"type": "HARD"}}), 409,
                     invalid("reboot", server.id, "task_state", "rebooting_hard"))
    finally:
        hold.release()
    wait_until(lambda: instance_record(cloud, server.id).task_state is None,
               message="the reboot to finish")


def test_each_action_is_refused_from_the_wrong_vm_state(cloud, admin, demo):
    server = create_server(demo)
    for name in ("unpause", "resume"):
        assert_error(action(demo, server.id, {name: None}), 409,
                     invalid(name, server.id, "vm_state", "active"))
    assert action(demo, server.id, {"pause": None}).status_code == 202
    wait_for_status(demo, server.id, "PAUSED")
    for name in ("pause", "suspend", "resume", "os-stop"):
        expected = "stop" if name == "os-stop" else name
        assert_error(action(demo, server.id, {name: None}), 409,
                     invalid(expected, server.id, "vm_state", "paused"))
    # moves start from active or stopped only
    assert_error(action(admin, server.id, {"migrate": None}), 409,
                 invalid("migrate", server.id, "vm_state", "paused"))
    assert_error(action(demo, server.id, {"resize": {"flavorRef": "2"}}), 409,
                 invalid("resize", server.id, "vm_state", "paused"))
    assert_error(action(demo, server.id, {"reboot": {"type": "SOFT"}}), 409,
                 invalid("reboot", server.id, "vm_state", "paused"))

    demo.compute.unpause_server(server.id)
    wait_for_status(demo, server.id, "ACTIVE")
    demo.compute.suspend_server(server.id)
    wait_for_status(demo, server.id, "SUSPENDED")
    assert_error(action(admin, server.id, {"migrate": None}), 409,
                 invalid("migrate", server.id, "vm_state", "suspended"))
    assert_error(action(demo, server.id, {"unpause": None}), 409,
                 invalid("unpause", server.id, "vm_state", "suspended"))

    set_instance(cloud, server.id, vm_state=states.ACTIVE, task_state=states.RESIZE_PREP)
    assert_error(action(demo, server.id, {"pause": None}), 409,
                 invalid("pause", server.id, "task_state", "resize_prep"))
    set_instance(cloud, server.id, task_state=None, launched_at=None)
    assert_error(action(demo, server.id, {"suspend": None}), 409,
                 invalid("suspend", server.id, "launched_at", None))


def test_policy_lock_and_visibility(cloud, admin, demo, other_project):
    server = create_server(demo)
    assert_error(action(other_project, server.id, {"pause": None}), 404,
                 f"Instance {server.id} could not be found.")
    reader = connect(cloud, "rita:demo:reader")
    for body, rule in (({"pause": None}, "os-pause-server:pause"),
                       ({"suspend": None}, "os-suspend-server:suspend"),
                       ({"reboot": {"type": "SOFT"}}, "servers:reboot")):
        assert_error(action(reader, server.id, body), 403,
                     f"Policy doesn't allow os_compute_api:{rule} to be performed.")
    admin.compute.lock_server(server.id)
    assert_error(action(demo, server.id, {"pause": None}), 409,
                 f"Instance {server.id} is locked")
    assert action(admin, server.id, {"pause": None}).status_code == 202   # admins may
    wait_for_status(admin, server.id, "PAUSED")
    assert instance_record(cloud, server.id).task_state is None


def test_bad_reboot_bodies_are_400_and_change_nothing(cloud, demo):
    server = create_server(demo)
    for body in ({"reboot": {}}, {"reboot": None}, {"reboot": {"type": "MEDIUM"}},
                 {"reboot": {"type": "HARD", "force": True}}):
        error_message(action(demo, server.id, body), 400)
    assert_error(action(demo, server.id, {"reboot": {"type": "warm"}}), 400,
                 "Invalid input for field/attribute type. Value: warm. 'warm' is not one of "
                 "['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']")
    record = instance_record(cloud, server.id)
    assert (record.vm_state, record.task_state) == (states.ACTIVE, None)
    assert "reboot" not in action_names(demo, server.id)


def test_a_failed_pause_leaves_the_server_active_with_a_fault(cloud, admin, demo):
    server = create_server(demo)
    host = instance_record(cloud, server.id).host
    cloud.computes[host].driver.fault_points.arm("pause")
    assert action(demo, server.id, {"pause": None}).status_code == 202
    wait_until(lambda: instance_record(cloud, server.id).task_state is None,
               message="the pause to be rolled back")
    record = instance_record(cloud, server.id)
    assert (record.vm_state, record.power_state) == (states.ACTIVE, states.RUNNING)
    assert guest_power(cloud, server.id) == states.RUNNING
    assert events_by_name(admin, server.id, "pause")["compute_pause_instance"][
        "result"] == "Error"
    pause = next(a for a in admin.compute.server_actions(server.id) if a.action == "pause")
    assert pause.message == "Error"
    # the server can be paused once the host behaves
    assert action(demo, server.id, {"pause": None}).status_code == 202
    wait_for_status(demo, server.id, "PAUSED")


def test_console_output_is_the_guests_console_or_its_last_lines(cloud, demo, other_project):
    server = create_server(demo)
    demo.compute.stop_server(server)
    wait_for_status(demo, server.id, "SHUTOFF")
    demo.compute.start_server(server)
    wait_for_status(demo, server.id, "ACTIVE")
    whole = demo.compute.get_server_console_output(server)["output"]
    lines = whole.splitlines(keepends=True)
    assert len(lines) == 2 and all(f"fake guest {server.id} running on" in line
                                   for line in lines)   # one line per power-on
    assert demo.compute.get_server_console_output(server, length=1)["output"] == lines[-1]
    for everything in (-1, "-1", None):
        reply = action(demo, server.id, {"os-getConsoleOutput": {"length": everything}})
        assert (reply.status_code, reply.json()) == (200, {"output": whole})
    assert action(demo, server.id, {"os-getConsoleOutput": {"length": 0}}).json() == \
        {"output": ""}
    assert action(demo, server.id, {"os-getConsoleOutput": {"length": -2}}).status_code == 400
    assert action(demo, server.id, {"os-getConsoleOutput": {"length": "x"}}).status_code == 400
    assert action(other_project, server.id, {"os-getConsoleOutput": {}}).status_code == 404
