"""The api as a service: the Compute API application served by cheroot behind a gate that keeps
slow clients off its workers (http_server.py; `herder api`, and the api of `herder serve`).
Production may serve `herder.api.wsgi:application` with any WSGI server instead."""
import logging
import threading

from herder.api import auth
from herder.api.app import make_app
from herder.api.handlers.base import ApiServices
from herder.api.keystone import WsgiApp
from herder.api.http_server import GatedServer
from herder.api.policies import make_enforcer
from herder.bus.rpc import Bus
from herder.db.session import Database

LOG = logging.getLogger(__name__)


def build_app(conf, db: Database, bus: Bus) -> WsgiApp:
    return make_app(ApiServices(conf, db, bus, make_enforcer(conf)), conf.api.public_endpoint)


class ApiService:
    def __init__(self, conf, db: Database, bus: Bus):
        self.conf = conf
        self.services = ApiServices(conf, db, bus, make_enforcer(conf))
        self.app = make_app(self.services, conf.api.public_endpoint)  # replaceable before start
        self._http: GatedServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._http = GatedServer(self.conf, (self.conf.api.listen, self.conf.api.port),
                                 self.app)
        self._http.prepare()  # bound: `port` is known from here on
        auth.warn_if_unauthenticated(self.conf)
        self._thread = threading.Thread(target=self._http.serve, daemon=True, name="api-http")
        self._thread.start()
        LOG.info("Compute API listening on %s", self.endpoint)

    @property
    def port(self) -> int:
        return self._http.bind_addr[1] if self._http else self.conf.api.port

    @property
    def endpoint(self) -> str:
        return f"http://{self.conf.api.listen}:{self.port}"

    def stop(self) -> None:
        """Requests being answered are finished; new connections are refused."""
        if self._http is not None:
            self._http.stop()
