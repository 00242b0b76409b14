"""A compute host: its agent on `compute.<host>`, heartbeat and periodic tasks.

Heartbeats and the resource report go to the conductor over the bus; so does the periodic
automatic confirm, which asks the conductor to confirm or revert this host's moves that have
waited past their window, giving it the cloud's `resize_confirm_window` and
`resize_confirm_action` as this host has them (the conductor owns the database, where the
flavors' and projects' policies are; the host only keeps the clock).
"""
import logging
import os
import threading
import time

from herder import exception, fault_injection
from herder.bus.replies import DiskReplyLog
from herder.bus.rpc import Bus
from herder.compute import rpcapi, shared_storage
from herder.compute.agent import ComputeAgent, ExceptionNotifyingEndpoint, server_line
from herder.compute.move_claims import MoveClaimRecords
from herder.compute.resource_tracker import ResourceTracker
from herder.compute.shared_storage import SharedStorageProbes
from herder.conductor.rpcapi import ConductorAPI, ReportsAPI
from herder.conf import host_instances_dir
from herder.context import admin_context
from herder.log_budget import FailureStreak
from herder.transfer.host import TransferAgent
from herder.virt.driver import HostInventory, load_driver
from herder.virt.images import ImageCache

LOG = logging.getLogger(__name__)

# How often, at most, a host asks the conductor to settle its moves whose confirm window passed
_CONFIRM_CHECK_SECONDS = 1.0


def report_inventory(host: HostInventory, conf) -> dict:
    """What the host reports to placement: the driver's measure of the host, with the
    operator's overcommit ratios and reservation, and its move limit (keys are compute node
    columns)."""
    c = conf.compute
    return {"vcpus": host.vcpus, "memory_mb": host.memory_mb, "local_gb": host.local_gb,
            "hypervisor_type": host.hypervisor_type,
            "hypervisor_version": host.hypervisor_version,
            "cpu_allocation_ratio": c.cpu_allocation_ratio,
            "ram_allocation_ratio": c.ram_allocation_ratio,
            "disk_allocation_ratio": c.disk_allocation_ratio,
            "reserved_host_memory_mb": c.reserved_host_memory_mb,
            # not a resource: how many moves the host takes part in at once (db/move_slots.py)
            "max_concurrent_migrations": c.max_concurrent_migrations}


# requests a host serves at once besides its moves' steps: builds, power operations, deletes
OTHER_REQUEST_WORKERS = 8


def request_workers(conf) -> int:
    """A move has at most two requests at work on a host at once (a step, and the transfer
    grant the source asks the destination for meanwhile), and a host takes part in at most
    max_concurrent_migrations moves: their requests never wait behind each other, nor do the
    others' (a limit of 1 must not leave a host two workers for everything)."""
    return conf.compute.max_concurrent_migrations * 2 + OTHER_REQUEST_WORKERS


class ComputeService:
    def __init__(self, conf, bus: Bus, host: str, host_ip: str):
        self.conf = conf
        self.bus = bus
        self.host = host
        self.host_ip = host_ip
        self.instances_dir = instances_dir = host_instances_dir(conf, host)
        fault_points = fault_injection.from_conf(conf, host)
        # the host's transfer agent receives disks on the host's own address
        self.transfers = TransferAgent.from_conf(conf, host, host_ip, instances_dir, fault_points)
        images = ImageCache(host, os.path.join(instances_dir, "_base"))
        self.driver = load_driver(conf, host, instances_dir, fault_points, self.transfers, images)
        self.inventory = report_inventory(self.driver.inventory(), conf)
        # per host: the instances directory may be shared with other hosts
        self.move_claims = MoveClaimRecords(os.path.join(instances_dir, "_move_claims", host))
        self.probes = SharedStorageProbes(instances_dir, host)
        self._replies_dir = os.path.join(instances_dir, "_replies", host)
        self.tracker = ResourceTracker(host, self.inventory)
        self.rebuild_claims()
        self.agent = ComputeAgent(host, bus, self.driver, self.tracker,
                                  self.move_claims, self.probes, self.transfers)
        # what the host asks the conductor waits one report interval at most: a heartbeat
        # older than that is worthless
        self.reports = ReportsAPI(bus, timeout=conf.report_interval)
        self.conductor = ConductorAPI(bus)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._periodic, name=f"periodic-{host}",
                                        daemon=True)
        self._server = None
        self._last_report = time.monotonic()
        self._last_confirm_check = float("-inf")

    def rebuild_claims(self) -> None:
        """The host's claims, from what its disk holds (at start: they are not kept elsewhere)."""
        claims = self.move_claims.all()
        self.tracker.rebuild(self.driver.list_instances(), self.driver.list_kept_copies(),
                             claims)
        self.probes.sweep({claim["migration_uuid"] for claim in claims.values()})

    def start(self) -> None:
        self.transfers.start()   # bound before prep_resize can hand out its address
        self.reconcile()
        self._server = self.bus.serve(rpcapi.topic(self.host),
                                      ExceptionNotifyingEndpoint(self.agent),
                                      workers=request_workers(self.conf),
                                      # a step cut off by a crash runs again after the restart
                                      acknowledge_when_done=True,
                                      # and one done before the crash is answered, not redone
                                      replies=DiskReplyLog(self._replies_dir),
                                      # and a server's requests never cross each other
                                      one_at_a_time=server_line)
        try:
            self.report()
        except Exception:  # no conductor yet: the periodic task reports again
            LOG.warning("%s could not report to the conductor yet; retrying", self.host,
                        exc_info=True)
        self._thread.start()

    def reconcile(self) -> None:
        """The hypervisor against herder's view of this host's guests, before the host takes
        steps. Without a conductor to ask (not started yet), it is skipped and says so."""
        def placements(uuids: list[str]) -> dict:
            return self.reports.guest_placements(admin_context(), uuids=uuids)
        try:
            self.driver.init_host(placements)
        except exception.MessagingTimeout:
            LOG.warning("%s did not reconcile its guests: no conductor answered", self.host)

    def stop_periodic_tasks(self) -> None:
        """No more heartbeats or confirm sweeps (a whole cloud stopping: no conductor to hear
        them); steps the host is asked to run still run."""
        self._stop.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Take no new requests; let running steps (a disk copy) finish, up to `timeout`
        seconds. True if they all did."""
        self.stop_periodic_tasks()
        drained = self._server.stop(timeout) if self._server is not None else True
        self.transfers.stop()
        return drained

    def report(self) -> None:
        """Heartbeat plus the host's inventory, through the conductor (a heartbeat older than
        the report interval is worthless, so the call waits no longer than that)."""
        self.reports.compute_report(admin_context(), host=self.host, host_ip=self.host_ip,
                                    inventory=self.inventory,
                                    zone=self.conf.default_availability_zone,
                                    instances_dir_id=self._instances_dir_id())

    def _instances_dir_id(self) -> str | None:
        """Read at every report, so that a host whose directory was mounted anew says so
        within a report interval; a directory it cannot write leaves its sharing unknown."""
        try:
            return shared_storage.directory_id(self.instances_dir)
        except OSError as error:
            LOG.warning("%s cannot read or write the id of its instances directory %s: %s",
                        self.host, self.instances_dir, error)
            return None

    def _periodic(self) -> None:
        interval = self.conf.compute.periodic_interval
        failures = FailureStreak(LOG, f"periodic tasks of {self.host}")
        while not self._stop.wait(interval):
            try:
                # by the clock, not by counting periods: under load a period lasts longer
                if time.monotonic() - self._last_report >= self.conf.report_interval:
                    self._last_report = time.monotonic()
                    self.report()
                # whatever this host's window: a flavor or a project may set one, and only
                # the conductor, which holds the database, can tell. Windows are whole
                # seconds: a move settled within a second after its window is soon enough, and
                # asking at every period of a short interval would keep the conductor busy
                if time.monotonic() - self._last_confirm_check >= _CONFIRM_CHECK_SECONDS:
                    self._last_confirm_check = time.monotonic()
                    self.conductor.confirm_expired_resizes(
                        admin_context(), host=self.host,
                        window=self.conf.resize_confirm_window,
                        action=self.conf.resize_confirm_action)
            except exception.MessagingTimeout as error:  # the conductor or the broker is away
                LOG.warning("periodic tasks of %s: %s", self.host, error)
            except Exception as error:  # the next period tries again
                failures.failed(error)
            else:
                failures.succeeded()
