"""One process running api, conductor, scheduler and N compute hosts: `herder serve`.

The same service classes as the separate processes (`herder api|conductor|scheduler|compute`),
composed in one process: state in a SQLite file under the state directory, the bus on kombu's
in-process `memory://` transport, and each compute host on its own loopback address
(127.0.1.N) with its own instances directory. Tests start the same thing in-process to drive it
through real HTTP.
"""
import logging
import os
import uuid

from herder import catalogue
from herder.api.service import ApiService
from herder.bus.rpc import bus_from_conf
from herder.compute.service import ComputeService
from herder.conductor.service import ConductorService
from herder.conf import database, database_url, default_api_url
from herder.db.session import upgrade
from herder.scheduler.service import SchedulerService

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
        self.db = database(conf)
        # memory:// is one broker per interpreter: a namespace of its own keeps clouds that
        # tests start side by side from reading each other's queues
        self.bus = bus_from_conf(conf, namespace=bus_tag or f"herder-{uuid.uuid4().hex[:8]}")
        self.host_name = conf.host
        self.conductor_service = ConductorService(conf, self.db, self.bus, self.host_name)
        self.conductor = self.conductor_service.manager
        self.scheduler_service = SchedulerService(conf, self.db, self.bus, self.host_name)
        self.scheduler = self.scheduler_service.manager
        self.computes = {f"compute{i}": ComputeService(conf, self.bus, f"compute{i}",
                                                       host_address(i))
                         for i in range(1, hosts + 1)}
        self.api_service = ApiService(conf, self.db, self.bus)
        self.api = self.api_service.services
        self._serving_http = False

    def start(self, serve_http: bool = True) -> None:
        catalogue.install(self.db, self.conf)
        self.scheduler_service.start()
        self.conductor_service.start()
        for compute in self.computes.values():
            compute.start()
        # the only conductor: what is unfinished is its own; compensations run on the
        # computes, so after they started
        self.conductor_service.recover(sole_conductor=True)
        if serve_http:
            self.api_service.start()
            self._serving_http = True
            if self.conf.api.port == 0:   # the image URLs the conductor signs name this port
                self.conf.set_default("api_url", default_api_url(self.conf, self.port),
                                      group="image")

    @property
    def port(self) -> int:
        return self.api_service.port

    @property
    def endpoint(self) -> str:
        return self.api_service.endpoint

    def instances_dirs(self) -> dict[str, str]:
        """host -> its instances directory."""
        return {host: compute.driver.instances_dir for host, compute in self.computes.items()}

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking requests, then let each service finish what it runs (up to `timeout`
        seconds per service; None waits as long as that takes)."""
        if self._serving_http:
            self.api_service.stop()
        for compute in self.computes.values():
            compute.stop_periodic_tasks()   # their conductor is about to go
        self.conductor_service.stop(timeout)
        self.scheduler_service.stop(timeout)
        for compute in self.computes.values():
            compute.stop(timeout)
        self.bus.close(timeout)
        self.db.dispose()
