"""The API's server status, derived from vm_state and task_state as Nova does."""
import pytest

from herder import states
from herder.states import server_status


@pytest.mark.parametrize("vm_state", [states.ACTIVE, states.STOPPED])
@pytest.mark.parametrize("task_state", [states.RESIZE_PREP, states.RESIZE_MIGRATING,
                                        states.RESIZE_MIGRATED, states.RESIZE_FINISH])
def test_a_server_being_moved_is_in_resize(vm_state, task_state):
    assert server_status(vm_state, task_state) == "RESIZE"


def test_a_resized_server_waits_for_verify_resize():
    assert server_status(states.RESIZED, None) == "VERIFY_RESIZE"


def test_a_resized_server_being_reverted_is_in_revert_resize():
    assert server_status(states.RESIZED, states.RESIZE_REVERTING) == "REVERT_RESIZE"


def test_a_resized_server_being_confirmed_still_shows_verify_resize():
    assert server_status(states.RESIZED, states.RESIZE_CONFIRMING) == "VERIFY_RESIZE"


@pytest.mark.parametrize("vm_state, status", [
    (states.ACTIVE, "ACTIVE"), (states.STOPPED, "SHUTOFF"), (states.BUILDING, "BUILD"),
    (states.ERROR, "ERROR"), (states.PAUSED, "PAUSED"), (states.SUSPENDED, "SUSPENDED"),
    (states.DELETED, "DELETED")])
def test_a_server_at_rest_shows_its_vm_state(vm_state, status):
    assert server_status(vm_state, None) == status


def test_a_server_in_error_stays_error_whatever_the_task():
    assert server_status(states.ERROR, states.RESIZE_PREP) == "ERROR"


def test_power_tasks_do_not_hide_the_vm_state():
    assert server_status(states.ACTIVE, states.POWERING_OFF) == "ACTIVE"
    assert server_status(states.STOPPED, states.POWERING_ON) == "SHUTOFF"


def test_unknown_vm_state_is_unknown():
    assert server_status("exploded", None) == "UNKNOWN"


@pytest.mark.parametrize("power_state, vm_state", [
    (states.RUNNING, states.ACTIVE), (states.SHUTDOWN, states.STOPPED),
    (states.NOSTATE, states.STOPPED), (states.CRASHED, states.STOPPED)])
def test_resting_vm_state_follows_the_guests_power_state(power_state, vm_state):
    assert states.vm_state_for_power(power_state) == vm_state
