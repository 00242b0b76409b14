"""herder deployed as clouds run it: api, conductor, scheduler and N compute hosts, each its own
process, on RabbitMQ and on the test database (SQLite file, or PostgreSQL / MariaDB with
`HERDER_TEST_DB`).

Compute hosts get a configuration file without any `[database]` section: they hold no database
credentials. Every deployment uses a namespace of its own on the broker, so deployments of
concurrent test runs never share a queue.
"""
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import openstack
import requests
from kombu import Connection

from herder.bus.rpc import Bus
from herder.conductor import REPORTS_TOPIC
from herder.db.session import Database
from tests import databases
from tests.conftest import connect
from tests.functional.serve_process import free_port

BIN = os.path.join(os.path.dirname(sys.executable), "herder")
RABBITMQ = os.environ.get("HERDER_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//")
ADMIN_TOKEN = "integration-admin-token"


def rabbitmq_reachable() -> bool:
    try:
        with Connection(RABBITMQ, connect_timeout=2) as conn:
            conn.connect()
        return True
    except Exception:
        return False


def _ini(sections: dict[str, dict]) -> str:
    return "".join(f"[{name}]\n" + "".join(f"{key} = {value}\n" for key, value in opts.items())
                   + "\n" for name, opts in sections.items())


class Deployment:
    def __init__(self, root: Path, hosts: int = 3, conductors: int = 1, schedulers: int = 1,
                 services_reach_database=None, **conf: dict):
        """`conf`: extra options per section, e.g. `workflow={"step_deadline": 30}`.
        `services_reach_database`: the database URL the services get, from the test's own
        (an OutageRelay's database_url: the test keeps a direct line to check the data)."""
        self.root = root
        self.hosts = [f"compute{i}" for i in range(1, hosts + 1)]
        self.conductors = ["conductor", *(f"conductor-{i}" for i in range(2, conductors + 1))]
        self.schedulers = ["scheduler", *(f"scheduler-{i}" for i in range(2, schedulers + 1))]
        self.namespace = f"herder-it-{uuid.uuid4().hex[:10]}"
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.database_url = databases.SERVER.create() if databases.SERVER else \
            f"sqlite:///{root / 'herder.sqlite'}"
        self.hold_dir.mkdir(exist_ok=True)
        common = {
            "DEFAULT": {"state_dir": root / "state", "report_interval": 1,
                        "service_down_time": 5, "graceful_shutdown_timeout": 30,
                        "admin_token": ADMIN_TOKEN},
            "fault_injection": {"hold_dir": self.hold_dir},
            "messaging": {"transport_url": RABBITMQ, "namespace": self.namespace,
                          "rpc_timeout": 20},
            "compute": {"periodic_interval": 0.2},
        }
        for section, options in conf.items():
            common.setdefault(section, {}).update(options)
        services_url = services_reach_database(self.database_url) \
            if services_reach_database else self.database_url
        database = {**common.pop("database", {}), "connection": services_url}
        control = {**common, "database": database,
                   "api": {"listen": "127.0.0.1", "port": self.port,
                           "auth_strategy": "noauth2", **common.get("api", {})}}
        self.control_conf = root / "herder.conf"
        self.control_conf.write_text(_ini(control))
        self.compute_conf = root / "compute.conf"   # no [database]: no credentials
        self.compute_conf.write_text(_ini(common))
        self.logs = root / "logs"
        self.logs.mkdir(exist_ok=True)
        self.processes: dict[str, subprocess.Popen] = {}
        self._db: Database | None = None
        subprocess.run([BIN, "--config-file", str(self.control_conf), "db", "upgrade"],
                       check=True, capture_output=True)

    # -- processes ------------------------------------------------------------------------
    def command(self, name: str) -> list[str]:
        if name in self.hosts:
            address = f"127.0.1.{self.hosts.index(name) + 1}"
            return [BIN, "--config-file", str(self.compute_conf), "compute", "--host", name,
                    "--my-ip", address]
        for kind, names in (("conductor", self.conductors), ("scheduler", self.schedulers)):
            if name in names:
                return [BIN, "--config-file", str(self.control_conf), kind, "--host", name]
        return [BIN, "--config-file", str(self.control_conf), name]

    def start(self, name: str) -> None:
        log = open(self.logs / f"{name}.log", "a")
        self.processes[name] = subprocess.Popen(self.command(name), stdout=log,
                                                stderr=subprocess.STDOUT)
        log.close()

    def start_all(self) -> None:
        for name in (*self.conductors, *self.schedulers, *self.hosts, "api"):
            self.start(name)
        self.wait_ready()

    def name_of(self, pid: int) -> str:
        return next(name for name, process in self.processes.items() if process.pid == pid)

    def kill(self, name: str) -> None:
        """kill -9: the process gets no chance to clean anything up."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def terminate(self, name: str, timeout: float = 60) -> int:
        """SIGTERM, as an operator stops a service; its exit status."""
        process = self.processes[name]
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout)

    def restart(self, name: str) -> None:
        self.start(name)

    def alive(self, name: str) -> bool:
        return self.processes[name].poll() is None

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    # -- readiness ------------------------------------------------------------------------
    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited ({process.returncode}):\n"
                                       f"{self.log(name)[-3000:]}")
            if self._computes_up() == set(self.hosts):
                return
            time.sleep(0.2)
        raise TimeoutError("the deployment did not come up; logs in " + str(self.logs))

    def _computes_up(self) -> set[str]:
        try:
            reply = requests.get(f"{self.endpoint}/v2.1/os-services?binary=nova-compute",
                                 headers={"X-Auth-Token": ADMIN_TOKEN}, timeout=5)
        except requests.ConnectionError:
            return set()
        if reply.status_code != 200:
            return set()
        return {s["host"] for s in reply.json()["services"] if s["state"] == "up"}

    def bus(self) -> Bus:
        """A handle on the deployment's broker namespace (close it after use)."""
        return Bus(RABBITMQ, virtual_host_tag=self.namespace)

    def connect(self, token: str = ADMIN_TOKEN) -> openstack.connection.Connection:
        return connect(self, token)  # as clouds.yaml configures a client for this endpoint

    # -- fault points (herder/fault_injection.py) -------------------------------------------------
    @property
    def hold_dir(self) -> Path:
        return self.root / "holds"

    def hold(self, owner: str, point: str) -> None:
        """The next time `owner` (a host, conductor, scheduler or `*`) reaches `point`, it
        stops there until released (or killed)."""
        (self.hold_dir / f"{owner}.{point}.hold").touch()

    def wait_reached(self, point: str, timeout: float = 30) -> tuple[str, int]:
        """(owner, pid) of the process holding at `point`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for marker in self.hold_dir.glob(f"*.{point}.reached"):
                pid = marker.read_text().strip()
                if pid:
                    return marker.name[:-len(f".{point}.reached")], int(pid)
            time.sleep(0.02)
        raise TimeoutError(f"nobody reached {point}; logs in {self.logs}")

    def clear_holds(self) -> None:
        for marker in self.hold_dir.iterdir():
            marker.unlink()

    def release(self, owner: str, point: str) -> None:
        (self.hold_dir / f"{owner}.{point}.release").touch()

    def instances_dirs(self) -> dict[str, str]:
        """host -> its instances directory (what observe.assert_consistent inspects)."""
        return {host: str(self.root / "state" / "hosts" / host) for host in self.hosts}

    @property
    def db(self) -> Database:
        """The test's own handle on the deployment's database, to check invariants."""
        if self._db is None:
            self._db = Database(self.database_url)
        return self._db

    # -- teardown -------------------------------------------------------------------------
    def __enter__(self) -> "Deployment":
        """`with Deployment(...) as cloud:` starts every service and closes it all after."""
        try:
            self.start_all()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self._delete_queues()
        if self._db is not None:
            self._db.dispose()
        if databases.SERVER:
            databases.SERVER.drop(self.database_url)

    def _delete_queues(self) -> None:
        """Topic queues outlive their consumers (so that a restarted service finds its
        requests): remove this deployment's."""
        names = ["conductor", REPORTS_TOPIC, "scheduler",
                 *(f"compute.{host}" for host in self.hosts)]
        try:
            with Connection(RABBITMQ, connect_timeout=2) as conn:
                channel = conn.channel()
                for name in names:
                    channel.queue_delete(f"{self.namespace}.{name}")
        except Exception:
            pass  # best effort: the broker may be the thing a test stopped
