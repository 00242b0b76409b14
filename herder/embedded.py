"""One process running api, conductor, scheduler and N compute hosts: `herder serve`.

State lives in a SQLite file under the state directory, the bus is kombu's in-process
`memory://` transport, and each compute host gets its own loopback address (127.0.1.N) and
instances directory. Tests start the same thing in-process to drive it through real HTTP.
"""
import logging
import os
import socket
import threading
import uuid

from cheroot import wsgi

from herder import seed
from herder.api.app import make_app
from herder.api.handlers.base import ApiServices
from herder.api.policies import make_enforcer
from herder.bus.notifier import Notifier
from herder.bus.rpc import Bus
from herder.compute.service import ComputeService
from herder.conductor.base import ConductorServices
from herder.conductor.manager import ConductorManager
from herder.conf import database_url
from herder.db import services
from herder.db.session import Database, upgrade
from herder.scheduler.manager import SchedulerManager

LOG = logging.getLogger(__name__)


def host_address(index: int) -> str:
    """compute1 -> 127.0.1.1: every simulated host on its own loopback address."""
    return f"127.0.1.{index}"


class EmbeddedCloud:
    def __init__(self, conf, hosts: int = 3, bus_tag: str | None = None):
        self.conf = conf
        os.makedirs(conf.state_dir, exist_ok=True)
        self.db_url = database_url(conf)
        upgrade(self.db_url)
        self.db = Database(self.db_url)
        self.bus = Bus(conf.messaging.transport_url, conf.messaging.rpc_timeout,
                       virtual_host_tag=bus_tag or f"herder-{uuid.uuid4().hex[:8]}")
        self.host_name = socket.gethostname()
        self.conductor = ConductorManager(ConductorServices(
            conf, self.db, self.bus, Notifier(self.bus, f"herder-conductor:{self.host_name}"),
            self.host_name))
        self.scheduler = SchedulerManager(conf, self.db, Notifier(
            self.bus, f"herder-scheduler:{self.host_name}"))
        self.computes = {f"compute{i}": ComputeService(conf, self.bus, f"compute{i}",
                                                       host_address(i))
                         for i in range(1, hosts + 1)}
        self.api = ApiServices(conf, self.db, self.bus, make_enforcer(conf))
        self.app = make_app(self.api, conf.api.public_endpoint)
        self._http: wsgi.Server | None = None
        self._http_thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self, serve_http: bool = True) -> None:
        seed.seed_catalogue(self.db, self.conf)
        self.bus.serve("conductor", self.conductor, workers=64)
        self.bus.serve("scheduler", self.scheduler, workers=16, fanout=True)
        self._heartbeat_control_plane()
        for compute in self.computes.values():
            compute.start()
        self.conductor.recover()  # needs the computes: compensations run on them
        threading.Thread(target=self._control_plane_heartbeats, daemon=True,
                         name="control-plane-heartbeat").start()
        if serve_http:
            self._http = wsgi.Server((self.conf.api.listen, self.conf.api.port), self.app,
                                     numthreads=16, request_queue_size=256)
            self._http.prepare()
            self._http_thread = threading.Thread(target=self._http.serve, daemon=True,
                                                 name="api-http")
            self._http_thread.start()

    @property
    def port(self) -> int:
        return self._http.bind_addr[1] if self._http else self.conf.api.port

    @property
    def endpoint(self) -> str:
        return f"http://{self.conf.api.listen}:{self.port}"

    def _heartbeat_control_plane(self) -> None:
        for binary in ("herder-conductor", "herder-scheduler"):
            services.heartbeat(self.db, self.host_name, binary, binary.split("-", 1)[1],
                               "internal")

    def _control_plane_heartbeats(self) -> None:
        while not self._stop.wait(self.conf.report_interval):
            try:
                self._heartbeat_control_plane()
            except Exception:
                LOG.exception("control plane heartbeat failed")

    def stop(self) -> None:
        self._stop.set()
        if self._http is not None:
            self._http.stop()
        for compute in self.computes.values():
            compute.stop()
        self.bus.close()
        self.db.dispose()
