"""A compute host: its agent on `compute.<host>`, heartbeat and periodic tasks.

Heartbeats and the resource report go to the conductor over the bus; so does the periodic
auto-confirm, which asks the conductor to confirm this host's moves that have waited longer than
`resize_confirm_window` (the conductor owns the database; the host only keeps the clock).
"""
import logging
import os
import threading

from herder.bus.rpc import Bus
from herder.compute.agent import ComputeAgent, ExceptionNotifyingEndpoint
from herder.compute.resource_tracker import ResourceTracker
from herder.conf import instances_root
from herder.context import admin_context
from herder.virt.fake import FakeDriver
from herder.virt.faults import FaultInjector

LOG = logging.getLogger(__name__)


def inventory_from_conf(conf) -> dict:
    c = conf.compute
    return {"vcpus": c.fake_vcpus, "memory_mb": c.fake_memory_mb, "local_gb": c.fake_disk_gb,
            "cpu_allocation_ratio": c.cpu_allocation_ratio,
            "ram_allocation_ratio": c.ram_allocation_ratio,
            "disk_allocation_ratio": c.disk_allocation_ratio,
            "reserved_host_memory_mb": c.reserved_host_memory_mb}


class ComputeService:
    def __init__(self, conf, bus: Bus, host: str, host_ip: str):
        self.conf = conf
        self.bus = bus
        self.host = host
        self.host_ip = host_ip
        self.inventory = inventory_from_conf(conf)
        self.driver = FakeDriver(host, os.path.join(instances_root(conf), host),
                                 conf.compute.fake_power_off_seconds,
                                 FaultInjector(host, conf.fault_injection.inject))
        self.tracker = ResourceTracker(host, self.inventory)
        self.tracker.rebuild(self.driver.list_guests())
        self.agent = ComputeAgent(host, host_ip, bus, self.driver, self.tracker)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._periodic, name=f"periodic-{host}",
                                        daemon=True)
        self._server = None
        self._since_heartbeat = 0.0

    def start(self) -> None:
        self.report()
        self._server = self.bus.serve(f"compute.{self.host}",
                                      ExceptionNotifyingEndpoint(self.agent),
                                      workers=self.conf.compute.max_concurrent_migrations * 2)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.stop()

    def report(self) -> None:
        """Heartbeat plus the host's inventory, through the conductor."""
        self.bus.call("conductor", "compute_report", admin_context(), host=self.host,
                      host_ip=self.host_ip, inventory=self.inventory,
                      zone=self.conf.default_availability_zone)

    def _periodic(self) -> None:
        interval = self.conf.compute.periodic_interval
        while not self._stop.wait(interval):
            self._since_heartbeat += interval
            try:
                if self._since_heartbeat >= self.conf.report_interval:
                    self._since_heartbeat = 0.0
                    self.report()
                if self.conf.resize_confirm_window > 0:
                    self.bus.cast("conductor", "confirm_expired_resizes", admin_context(),
                                  host=self.host, window=self.conf.resize_confirm_window)
            except Exception:  # the next period tries again
                LOG.exception("periodic tasks of %s failed", self.host)
