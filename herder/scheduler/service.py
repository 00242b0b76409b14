"""The scheduler as a service: RPC on `scheduler` plus the fanout of host updates."""
from herder.bus.notifier import Notifier
from herder.bus.rpc import Bus
from herder.db import services
from herder.db.session import Database
from herder.periodic import Periodic
from herder.scheduler import rpcapi
from herder.scheduler.manager import SchedulerManager

BINARY = "herder-scheduler"


class SchedulerService:
    def __init__(self, conf, db: Database, bus: Bus, host: str):
        self.conf = conf
        self.db = db
        self.bus = bus
        self.host = host
        self.manager = SchedulerManager(conf, db, Notifier(bus, f"{BINARY}:{host}"))
        self._heartbeat = Periodic(f"heartbeat-{BINARY}", conf.report_interval, self.heartbeat)
        self._server = None

    def heartbeat(self) -> None:
        services.heartbeat(self.db, self.host, services.SCHEDULER_BINARY, "scheduler", "internal")

    def start(self) -> None:
        self.heartbeat()
        # every scheduler gets every host update (fanout); requests go to one of them
        self._server = self.bus.serve(rpcapi.TOPIC, self.manager,
                                      workers=self.conf.scheduler.workers, fanout=True)
        self._heartbeat.start()

    def stop(self, timeout: float | None = None) -> bool:
        self._heartbeat.stop()
        return self._server.stop(timeout) if self._server is not None else True
