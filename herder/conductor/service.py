"""The conductor as a service: its RPC servers on `conductor` and `conductor_reports` (the
compute hosts' heartbeats and progress), its own heartbeat, and recovery.

Several conductors may run at once: they share the `conductor` queue, so each request is taken
by exactly one of them, and each workflow belongs to the one running it for as long as that one
renews its lease (leases.py, on a thread and a database connection of their own). Every
`recovery_interval` a conductor adopts the workflows whose conductor stopped renewing (see
recovery.py).
"""
import logging
import threading

from herder.bus.notifier import Notifier
from herder.bus.rpc import Bus
from herder.conductor import REPORTS_TOPIC, rpcapi
from herder.conductor.base import ConductorServices
from herder.conductor.host_drains import HostDrainRunner
from herder.conductor.leases import LeaseKeeper
from herder.conductor.manager import ConductorManager
from herder.db import services
from herder.db.session import Database
from herder.periodic import Periodic

LOG = logging.getLogger(__name__)
BINARY = "herder-conductor"


class _Reports:
    """What the conductor serves on REPORTS_TOPIC."""
    # the version of its RPC API this serves (herder/conductor/rpcapi.py keeps the history), and the
    # client whose methods are all a message may call
    RPC_API_VERSION = "1.1"
    RPC_API = rpcapi.ReportsAPI

    def __init__(self, manager: ConductorManager):
        self._manager = manager

    def compute_report(self, context, **report) -> None:
        self._manager.compute_report(context, **report)

    def report_progress(self, context, **progress) -> None:
        self._manager.report_progress(context, **progress)

    def guest_placements(self, context, uuids: list[str]) -> dict:
        return self._manager.guest_placements(context, uuids)


class ConductorService:
    def __init__(self, conf, db: Database, bus: Bus, host: str):
        self.conf = conf
        self.db = db
        self.bus = bus
        self.host = host
        self.manager = ConductorManager(ConductorServices(
            conf, db, bus, Notifier(bus, f"{BINARY}:{host}"), host))
        self._heartbeat = Periodic(f"heartbeat-{BINARY}", conf.report_interval, self.heartbeat)
        self._leases = LeaseKeeper(db, self.manager.incarnation, conf.workflow.lease_seconds,
                                   requests_taken=self._requests_taken,
                                   request_hold_seconds=conf.workflow.request_resend_after)
        self._recovery = Periodic("conductor-recovery", conf.workflow.recovery_interval,
                                  self._recover)
        # host drain and restore jobs: driven by whichever conductor holds a job's lease
        self._host_drains = Periodic(
            "conductor-host-drains", conf.conductor.host_drain_interval,
            HostDrainRunner(self.manager.svc, self.manager.incarnation).look)
        self._server = self._reports = None

    def heartbeat(self) -> None:
        services.heartbeat(self.db, self.host, services.CONDUCTOR_BINARY, "conductor", "internal")

    def _requests_taken(self) -> list[str]:
        """The recorded requests (db/accepted_requests.py) this conductor has taken from its
        queue and not finished."""
        if self._server is None:
            return []
        return [args["request_uuid"] for args in self._server.taken()
                if args.get("request_uuid")]

    def start(self) -> None:
        self.heartbeat()
        self._server = self.bus.serve(rpcapi.TOPIC, self.manager,
                                      workers=self.conf.conductor.workers)
        self._reports = self.bus.serve(REPORTS_TOPIC, _Reports(self.manager),
                                       workers=self.conf.conductor.report_workers)
        self.manager.move_queue.start()
        self._leases.start()
        self._heartbeat.start()
        self._host_drains.start()

    def recover(self, sole_conductor: bool = False, in_background: bool = False) -> None:
        """Finish or undo what a previous run left half done, now and then periodically.

        `sole_conductor` (the embedded cloud): adopt everything unfinished at once, since no
        other conductor can be running it. Otherwise what earlier processes of this host name
        left is adopted at once, and other conductors' workflows once their lease ran out.
        Recovery calls the compute hosts (compensations run there). In one process they are up
        before it runs; a conductor process recovers on a thread of its own, because the hosts
        may still be starting (its requests wait in their queues meanwhile).
        """
        if in_background:
            threading.Thread(target=self._recover, args=(sole_conductor, True),
                             name="conductor-recovery-start", daemon=True).start()
        else:
            self._recover(sole_conductor, True)
        self._recovery.start()

    def _recover(self, sole_conductor: bool = False, starting: bool = False) -> None:
        try:
            self.manager.recover(sole_conductor, starting)
        except Exception:
            LOG.exception("recovery of unfinished workflows failed")

    def stop(self, timeout: float | None = None) -> bool:
        """Take no new requests, let the running ones finish (up to `timeout` seconds); True if
        they all did. A workflow still running is left in the journal for the next start."""
        self._heartbeat.stop()
        self._recovery.stop()
        self._leases.stop()
        self.manager.move_queue.stop()
        self._host_drains.stop()
        if self._server is None:
            return True
        drained = self._server.stop(timeout)
        self._reports.stop(timeout)
        return drained
