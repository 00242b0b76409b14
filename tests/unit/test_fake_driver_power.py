"""The fake hypervisor's pause, suspend and reboot: which power states each starts from, and
that a retried step finds the work done."""
import pytest

from herder import exception, states
from herder.virt.fake import FakeDriver
from herder.fault_injection import FaultInjector

FLAVOR = {"id": 1, "vcpus": 1, "memory_mb": 512, "root_gb": 1, "ephemeral_gb": 0}
VM = {"uuid": "vm", "display_name": "vm", "hostname": "vm", "flavor": FLAVOR, "image": None,
      "power_state": states.NOSTATE}


@pytest.fixture
def driver(tmp_path) -> FakeDriver:
    driver = FakeDriver("compute1", str(tmp_path / "instances"),
                        fault_points=FaultInjector("compute1"))
    driver.spawn(VM)
    return driver


def test_pause_and_unpause_round_trip_and_are_idempotent(driver):
    assert driver.pause(VM) == states.PAUSED_POWER
    assert driver.pause(VM) == states.PAUSED_POWER          # a retry: already paused
    assert driver.power_state("vm") == states.PAUSED_POWER
    assert driver.unpause(VM) == states.RUNNING
    assert driver.power_state("vm") == states.RUNNING


def test_suspend_needs_a_running_guest_and_resume_a_suspended_one(driver):
    assert driver.resume(VM) == states.RUNNING     # a retried resume: already running
    driver.pause(VM)
    with pytest.raises(exception.DriverError):
        driver.resume(VM)
    with pytest.raises(exception.DriverError):
        driver.suspend(VM)
    driver.unpause(VM)
    assert driver.suspend(VM) == states.SUSPENDED_POWER
    with pytest.raises(exception.DriverError):
        driver.pause(VM)
    assert driver.resume(VM) == states.RUNNING


def test_soft_reboot_needs_a_running_guest_and_hard_reboot_starts_any(driver):
    driver.power_off(VM)
    with pytest.raises(exception.DriverError):
        driver.reboot(VM, hard=False)
    assert driver.power_state("vm") == states.SHUTDOWN
    assert driver.reboot(VM, hard=True) == states.RUNNING
    driver.suspend(VM)
    assert driver.reboot(VM, hard=True) == states.RUNNING
    assert driver.reboot(VM, hard=False) == states.RUNNING


def test_a_missing_guest_and_an_injected_fault_are_driver_errors(driver):
    with pytest.raises(exception.DriverError):
        driver.pause({**VM, "uuid": "nobody"})
    driver.fault_points.arm("suspend")
    with pytest.raises(exception.DriverError):
        driver.suspend(VM)
    assert driver.power_state("vm") == states.RUNNING
    assert driver.suspend(VM) == states.SUSPENDED_POWER


@pytest.mark.parametrize("power_state, vm_state", [
    (states.RUNNING, states.ACTIVE), (states.SHUTDOWN, states.STOPPED),
    (states.PAUSED_POWER, states.PAUSED), (states.SUSPENDED_POWER, states.SUSPENDED),
    (states.CRASHED, states.STOPPED)])
def test_the_vm_state_follows_the_guests_power_state(power_state, vm_state):
    assert states.vm_state_for_power(power_state) == vm_state


def test_only_an_active_server_shows_its_reboot():
    assert states.server_status(states.ACTIVE, states.REBOOTING) == "REBOOT"
    assert states.server_status(states.ACTIVE, states.REBOOTING_HARD) == "HARD_REBOOT"
    assert states.server_status(states.STOPPED, states.REBOOTING_HARD) == "SHUTOFF"
    assert states.server_status(states.PAUSED, states.REBOOTING_HARD) == "PAUSED"
    assert states.server_status(states.ACTIVE, states.PAUSING) == "ACTIVE"
