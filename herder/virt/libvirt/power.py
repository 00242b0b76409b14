"""A libvirt guest's power: on, off (ACPI first), pause, suspend, reboot, and its state.

A mixin of the libvirt driver (driver.py), which provides `host`, `fault_points`,
`shutdown_timeout`, `shutdown_retry_interval` and `_domain(uuid)` (the guest's domain on
this host, or None). Each operation is idempotent: a guest already in the wanted state stays
there (a step the conductor retries).
"""
import logging
import time

import libvirt

from herder import exception, states

LOG = logging.getLogger(__name__)
POWER_POLL = 0.5        # seconds between looks at a guest that is shutting down

_POWER_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: states.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: states.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: states.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: states.PAUSED_POWER,
    libvirt.VIR_DOMAIN_SHUTDOWN: states.RUNNING,     # still shutting down
    libvirt.VIR_DOMAIN_SHUTOFF: states.SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: states.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: states.SUSPENDED_POWER,
}


class GuestPower:
    def power_state(self, uuid: str) -> int:
        dom = self._domain(uuid)
        if dom is None:
            return states.NOSTATE
        state, _reason = dom.state()
        if state == libvirt.VIR_DOMAIN_SHUTOFF and dom.hasManagedSaveImage():
            return states.SUSPENDED_POWER
        return _POWER_STATES.get(state, states.NOSTATE)

    def _existing(self, step: str, uuid: str) -> libvirt.virDomain:
        dom = self._domain(uuid)
        if dom is None:
            raise exception.DriverError(step=step, host=self.host,
                                        reason=f"no guest {uuid} on this host")
        return dom

    def power_on(self, instance: dict) -> int:
        self.fault_points.check("power_on")
        dom = self._domain(instance["uuid"])
        if dom is None:
            return states.NOSTATE
        if not dom.isActive():
            dom.create()    # restores a managed save (a suspended guest) if there is one
        elif dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
            dom.resume()
        return states.RUNNING

    def power_off(self, instance: dict) -> int:
        """ACPI power-off, asked again every shutdown_retry_interval (a request that arrives
        before the guest listens is lost), then a hard stop after shutdown_timeout."""
        self.fault_points.check("power_off")
        uuid = instance["uuid"]
        dom = self._domain(uuid)
        if dom is None:
            return states.NOSTATE
        if dom.isActive() and not self._shut_down_cleanly(dom):
            LOG.warning("guest %s on %s did not power off within %ss; stopping it", uuid,
                        self.host, self.shutdown_timeout)
            try:
                dom.destroy()
            except libvirt.libvirtError:
                if dom.isActive():
                    raise
        return states.SHUTDOWN

    def _shut_down_cleanly(self, dom: libvirt.virDomain) -> bool:
        if dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
            return False   # a frozen guest cannot hear ACPI
        deadline = time.monotonic() + self.shutdown_timeout
        next_request = time.monotonic()
        while time.monotonic() < deadline:
            if not dom.isActive():
                return True
            if time.monotonic() >= next_request:
                try:
                    dom.shutdown()
                except libvirt.libvirtError:
                    if dom.isActive():
                        raise
                next_request = time.monotonic() + self.shutdown_retry_interval
            time.sleep(POWER_POLL)
        return not dom.isActive()

    def pause(self, instance: dict) -> int:
        self.fault_points.check("pause")
        dom = self._existing("pause", instance["uuid"])
        state = dom.state()[0]
        if state != libvirt.VIR_DOMAIN_PAUSED:
            self._require(dom, "pause", libvirt.VIR_DOMAIN_RUNNING)
            dom.suspend()
        return states.PAUSED_POWER

    def unpause(self, instance: dict) -> int:
        self.fault_points.check("unpause")
        dom = self._existing("unpause", instance["uuid"])
        if dom.state()[0] != libvirt.VIR_DOMAIN_RUNNING:
            self._require(dom, "unpause", libvirt.VIR_DOMAIN_PAUSED)
            dom.resume()
        return states.RUNNING

    def suspend(self, instance: dict) -> int:
        """The guest's memory goes to disk (libvirt's managed save) and it stops."""
        self.fault_points.check("suspend")
        dom = self._existing("suspend", instance["uuid"])
        if not dom.hasManagedSaveImage():
            self._require(dom, "suspend", libvirt.VIR_DOMAIN_RUNNING)
            dom.managedSave(0)
        return states.SUSPENDED_POWER

    def resume(self, instance: dict) -> int:
        self.fault_points.check("resume")
        dom = self._existing("resume", instance["uuid"])
        if not dom.isActive():
            if not dom.hasManagedSaveImage():
                raise exception.DriverError(step="resume", host=self.host,
                                            reason="the guest is off, not suspended")
            dom.create()
        elif dom.state()[0] != libvirt.VIR_DOMAIN_RUNNING:
            raise exception.DriverError(step="resume", host=self.host,
                                        reason="the guest is paused, not suspended")
        return states.RUNNING

    def reboot(self, instance: dict, hard: bool) -> int:
        """Soft: a clean power-off and start again (a running guest only), hard if the guest
        does not go down in time; hard: stop and start from any state."""
        self.fault_points.check("reboot")
        dom = self._existing("reboot", instance["uuid"])
        if not hard:
            self._require(dom, "reboot", libvirt.VIR_DOMAIN_RUNNING)
            if not self._shut_down_cleanly(dom):
                LOG.warning("guest %s did not shut down for a soft reboot: rebooting it hard",
                            instance["uuid"])
        if dom.isActive():
            dom.destroy()
        if dom.hasManagedSaveImage():
            dom.managedSaveRemove(0)
        dom.create()
        return states.RUNNING

    def _require(self, dom: libvirt.virDomain, step: str, wanted: int) -> None:
        state = dom.state()[0]
        if state != wanted:
            raise exception.DriverError(
                step=step, host=self.host,
                reason=f"guest is in power state {_POWER_STATES.get(state, states.NOSTATE)}")

