"""A server (RabbitMQ, PostgreSQL, MariaDB) behind a relay on 127.0.0.1 that a test can take
down and bring back.

An outage looks to the services as the server's restart does: every open connection is dropped
at once, and new ones are dropped as soon as they are made, until the relay is restored. The
server itself (which other test runs on this machine share) is never touched.
"""
import socket
import threading

from sqlalchemy.engine import make_url

from tests.functional.observe import assert_consistent, create_server, wait_for_status
from tests.integration.deployment import RABBITMQ, Deployment


class OutageRelay:
    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._up = threading.Event()
        self._up.set()
        threading.Thread(target=self._accept, name="broker-relay", daemon=True).start()

    def broker_url(self) -> str:
        """The test broker's URL, through this relay."""
        credentials = RABBITMQ.split("://", 1)[1].split("@", 1)[0]
        return f"amqp://{credentials}@127.0.0.1:{self.port}//"

    def database_url(self, url: str) -> str:
        """A database URL of the relayed server, through this relay."""
        return make_url(url).set(host="127.0.0.1", port=self.port) \
            .render_as_string(hide_password=False)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if not self._up.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        self._drop(source, sink)

    def _drop(self, *ends: socket.socket) -> None:
        for end in ends:
            with self._lock:
                self._open.discard(end)
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()

    def outage(self) -> None:
        """Drop every connection, and every new one until `restore`."""
        self._up.clear()
        with self._lock:
            ends = list(self._open)
        self._drop(*ends)

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self.outage()
        self._listener.close()


# -- what the outage tests share ----------------------------------------------------------------
def relayed_deployment(relay: OutageRelay, root, **deployment_args):
    """For a fixture: yields a started Deployment (whose services reach the relayed server
    through `relay`, as `deployment_args` say) with the relay, and stops both after."""
    deployment = Deployment(root, **deployment_args)
    try:
        deployment.start_all()
        yield deployment, relay
    finally:
        deployment.close()
        relay.close()


def migrate_held_in_the_copy(deployment: Deployment, admin, server) -> str:
    """A migrate of `server`, stopped in the source's disk copy; the source's name."""
    deployment.hold("*", "copy_disk")
    admin.compute.migrate_server(server)
    source, _ = deployment.wait_reached("copy_disk")
    return source


def migrate_held_before(deployment: Deployment, admin, server, step: str) -> str:
    """A migrate of `server`, its conductor stopped before the move's `step` (until
    `deployment.release(<the name returned>, f"migrate.{step}")`); the conductor's name."""
    deployment.hold("*", f"migrate.{step}")
    admin.compute.migrate_server(server)
    owner, _ = deployment.wait_reached(f"migrate.{step}")
    return owner


def moves_work(deployment: Deployment, admin, server, timeout: float) -> None:
    """After an outage: `server` migrates and confirms, a new server builds, and allocations
    and files are what the servers hold."""
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=timeout)
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE", timeout=timeout)
    assert create_server(admin, name="after-the-outage").status == "ACTIVE"
    assert_consistent(deployment)
