"""Soak: random server operations against herder deployed as separate processes, while
services are killed and the broker and the database go away, checking after every fault that
nothing was lost, nothing is stuck, nothing is in ERROR and nothing leaked.

    .venv/bin/python bench/soak.py [--minutes 30] [--workers 4] [--seed N] [--database sqlite]

The deployment is tests/integration/deployment.py's: api, `--conductors` conductors, a
scheduler and `--hosts` compute hosts, each a `herder` process, on RabbitMQ and on the database
`--database` names (default: HERDER_TEST_DB, else SQLite). Every service reaches RabbitMQ, and
the database when it is a server, through an OutageRelay (tests/integration/outage_relay.py):
a "broker restart" or "database restart" drops and refuses their connections there, and the
machine's real servers, which other work shares, are never touched.

`--workers` threads each own up to `--servers-per-worker` servers and, one request at a time
through openstacksdk, create, migrate, resize, confirm, revert, stop, start and delete them,
choosing at random among the operations the server's state allows; after each request the
worker waits for the server to come to rest. Meanwhile, every `--fault-interval` seconds (a
random time between the two bounds), one fault: a service killed with SIGKILL and started
again after `--down-seconds`, a broker outage or a database outage of `--outage-seconds`.
After the fault is over, the workers finish what they are doing and wait while the invariants
are checked (bench/soak_invariants.py), then go on. At the end every server is deleted and the
invariants are checked once more (no allocation or file may remain).

Outcomes: a request may be refused with 409 because a fault raced it (a host is down, say):
that is counted. A request the api did not answer is counted too when the api was killed since
the worker last heard from it, and a 503 when the database was away then; otherwise, and for
any 500 or other unexpected answer, it is a finding. The run prints its seed (`--seed` repeats
the same choices; thread timing still differs), counts and findings, and exits 1 if there was
any finding. It stops the services it started (by PID), deletes its queues and databases, and
removes its directory (kept, with the services' logs, when there were findings, or with
`--keep`), also on Ctrl-C.
"""
import argparse
import configparser
import datetime
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))   # the repository: herder, tests.integration

# The longest a server may take to come to rest with herder's default timeouts, seconds (see
# `settle_bound`).
SETTLE_MARGIN = 30.0
# How long a check waits for servers to rest (the workers waited for theirs already).
CHECK_WAIT = 60.0
# How long after a fault ends its effects still excuse an answer (a connection pool's stale
# connections, a 503 from a pool not yet reconnected).
GRACE = 30.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to run (30)")
    parser.add_argument("--workers", type=int, default=4, help="concurrent workers (4)")
    parser.add_argument("--servers-per-worker", type=int, default=3,
                        help="servers each worker keeps (3)")
    parser.add_argument("--hosts", type=int, default=3, help="compute hosts (3)")
    parser.add_argument("--conductors", type=int, default=2, help="conductors (2)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: new)")
    parser.add_argument("--database", default=os.environ.get("HERDER_TEST_DB", "sqlite"),
                        help="sqlite, postgresql or mysql (default: HERDER_TEST_DB, else sqlite)")
    parser.add_argument("--fault-interval", type=float, nargs=2, default=(20.0, 60.0),
                        metavar=("MIN", "MAX"), help="seconds between faults (20 60)")
    parser.add_argument("--outage-seconds", type=float, nargs=2, default=(10.0, 30.0),
                        metavar=("MIN", "MAX"), help="length of a broker/database outage (10 30)")
    parser.add_argument("--down-seconds", type=float, nargs=2, default=(0.0, 10.0),
                        metavar=("MIN", "MAX"),
                        help="how long a killed service stays down (0 10)")
    parser.add_argument("--faults", default="kill,broker,database",
                        help="kinds of fault, comma-separated: kill, broker, database")
    parser.add_argument("--settle-seconds", type=float, default=None,
                        help="how long a server may take to come to rest (default: from "
                             "herder's timeouts, see the output)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the directory with the services' logs")
    args = parser.parse_args(argv)
    args.seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**9)
    args.faults = {kind.strip() for kind in args.faults.split(",") if kind.strip()}
    unknown = args.faults - {"kill", "broker", "database"}
    if unknown:
        parser.error(f"unknown kinds of fault: {', '.join(sorted(unknown))}")
    return args


# -- bookkeeping --------------------------------------------------------------------------------
class Report:
    """Counts and findings, from every thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.operations: Counter = Counter()     # (kind, outcome)
        self.faults: Counter = Counter()
        self.checks_passed = 0
        self.checks_failed = 0
        self.findings: dict[str, list] = {}      # text -> [first seen (s), times seen]

    def count(self, kind: str, outcome: str) -> None:
        with self._lock:
            self.operations[(kind, outcome)] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def finding(self, text: str) -> None:
        with self._lock:
            seen = self.findings.setdefault(text, [self.elapsed(), 0])
            seen[1] += 1
            first = seen[1] == 1
        if first:
            log(f"FINDING: {text}")

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def log(message: str) -> None:
    print(f"{datetime.datetime.now():%H:%M:%S} {message}", flush=True)


class Timeline:
    """When each fault began and ended, to tell an answer a fault explains from a finding."""

    def __init__(self):
        self._lock = threading.Lock()
        self._windows: list[list] = []    # [kind, start, end or None]

    def begin(self, kind: str) -> list:
        window = [kind, time.monotonic(), None]
        with self._lock:
            self._windows.append(window)
        return window

    @staticmethod
    def end(window: list) -> None:
        window[2] = time.monotonic()

    def during(self, kind: str, since: float, until: float) -> bool:
        """A fault of `kind` was on at some time between `since` and `until` (or ended less
        than GRACE seconds before `since`)."""
        with self._lock:
            return any(k == kind and start <= until and (end is None or end + GRACE >= since)
                       for k, start, end in self._windows)


class Gate:
    """Workers pass it for each operation; the fault loop closes it to check the invariants
    once every operation under way has finished."""

    def __init__(self):
        self._cond = threading.Condition()
        self._open = True
        self._busy = 0
        self.stopped = False

    def enter(self) -> bool:
        with self._cond:
            while not self._open and not self.stopped:
                self._cond.wait()
            if self.stopped:
                return False
            self._busy += 1
            return True

    def leave(self) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._open = False
            while self._busy:
                self._cond.wait()

    def open(self) -> None:
        with self._cond:
            self._open = True
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()


# -- the workers --------------------------------------------------------------------------------
# What a worker may do to a server, by its status, with weights. Moves are what the soak is
# about, so they come up most.
OPERATIONS = {
    "ACTIVE": {"migrate": 4, "resize": 3, "stop": 2, "delete": 1},
    "SHUTOFF": {"migrate": 3, "resize": 2, "start": 3, "delete": 1},
    "VERIFY_RESIZE": {"confirm": 4, "revert": 4, "delete": 1},
}
# A migrate or resize the api accepted is aborted this often, after a random wait of up to
# ABORT_WITHIN seconds (a fake guest's move takes well under a second), with DELETE
# /servers/{id}/migrations/{migration id}: whichever phase the move is in then. A 400 (it
# reached VERIFY_RESIZE first) or a 404 (no migration in progress yet, or any more) is an
# outcome, not a finding.
ABORT_SHARE = 0.25
ABORT_WITHIN = 0.4
ABORT_OUTCOMES = {400: "400 too late", 404: "404 not in progress"}
RESIZE_FLAVORS = ("soak.a", "soak.b")   # same disk, so that a resize may go either way


def may_have_happened(outcome: str) -> bool:
    """Accepted, or no telling: the api died on it, or failed with a 5xx after it may have
    recorded the request. A 409 (and any other 4xx) changed nothing."""
    return outcome == "accepted" or outcome.startswith(("no answer", "5"))


class Worker(threading.Thread):
    def __init__(self, index: int, soak: "Soak"):
        super().__init__(name=f"worker-{index}", daemon=True)
        self.soak = soak
        self.rng = random.Random(f"{soak.args.seed}-{index}")
        self.conn = soak.connect()
        self.servers: dict[str, str] = {}       # id -> status when last at rest
        self.hands_off: set[str] = set()        # in ERROR or stuck: reported, left alone
        self.last_answer = time.monotonic()     # when the api last answered this worker

    def run(self) -> None:
        while self.soak.gate.enter():
            try:
                self._step()
            except Exception:
                self.soak.report.finding(f"{self.name} failed unexpectedly:\n"
                                         + traceback.format_exc())
                time.sleep(1)
            finally:
                self.soak.gate.leave()
            time.sleep(self.rng.uniform(0.0, 0.5))

    def _step(self) -> None:
        usable = sorted(set(self.servers) - self.hands_off)
        if len(self.servers) < self.soak.args.servers_per_worker and \
                (not usable or self.rng.random() < 0.5):
            return self._create()
        if not usable:
            time.sleep(1)
            return
        server_id = self.rng.choice(usable)
        server = self._get(server_id)
        if server is None or server.status not in OPERATIONS:
            return  # the api is away, or the server is not at rest: try something else
        choices = OPERATIONS[server.status]
        kind = self.rng.choices(list(choices), weights=list(choices.values()))[0]
        self._act(kind, server)

    def _get(self, server_id: str):
        try:
            server = self.conn.compute.get_server(server_id)
        except Exception:
            return None
        self.last_answer = time.monotonic()
        return server

    def _request(self, kind: str, call, outcomes: dict[int, str] | None = None) -> str:
        """Send one request; its outcome, counted (and reported when it is a finding, unless
        `outcomes` names its status code)."""
        import keystoneauth1.exceptions
        import openstack.exceptions
        import requests

        since, sent = self.last_answer, time.monotonic()
        try:
            call()
            outcome = "accepted"
        except openstack.exceptions.ConflictException:
            outcome = "409 conflict"
        except openstack.exceptions.HttpException as error:
            outcome = f"{error.status_code}"
            excused = error.status_code == 503 and \
                self.soak.timeline.during("database", since, time.monotonic())
            if excused:
                outcome = "503 database away"
            elif error.status_code in (outcomes or {}):
                outcome = outcomes[error.status_code]
            else:
                self.soak.report.finding(f"{kind}: {error.status_code} {error.details or error}"
                                         f" ({self._faults_now()})")
        except (keystoneauth1.exceptions.ConnectionError,
                requests.exceptions.RequestException) as error:
            outcome = "no answer, api killed"
            if not self.soak.timeline.during("kill api", since, time.monotonic()):
                outcome = "no answer"
                self.soak.report.finding(f"{kind}: the api did not answer: {error} "
                                         f"({self._faults_now()})")
        if not outcome.startswith("no answer"):
            self.last_answer = time.monotonic()
        self.soak.report.count(kind, outcome)
        if outcome != "accepted":
            log(f"{self.name} {kind}: {outcome} ({time.monotonic() - sent:.1f} s)")
        return outcome

    def _faults_now(self) -> str:
        return self.soak.current_fault or "no fault on"

    def _create(self) -> None:
        conn, name = self.conn, f"soak-{self.name}-{uuid.uuid4().hex[:8]}"
        flavor = self.soak.flavors[self.rng.choice(RESIZE_FLAVORS)]
        created = {}

        def create():
            created["server"] = conn.compute.create_server(
                name=name, flavor_id=flavor, image_id=self.soak.image, networks="auto")
        outcome = self._request("create", create)
        if outcome == "accepted":
            server_id = created["server"].id
        elif may_have_happened(outcome):
            server_id = self._find_by_name(name)   # the api may have made it nonetheless
        else:
            return
        if server_id is None:
            return
        self.soak.ledger.created(server_id, self.name)
        self.servers[server_id] = "BUILD"
        self._settle("create", server_id)

    def _find_by_name(self, name: str) -> str | None:
        deadline = time.monotonic() + self.soak.settle_seconds
        while time.monotonic() < deadline:
            try:
                found = [s.id for s in self.conn.compute.servers(name=name)]
                return found[0] if found else None
            except Exception:
                time.sleep(1)   # the api is still coming back
        self.soak.report.finding(f"create: could not tell whether {name} exists: the api did "
                                 "not answer within the settle bound")
        return None

    def _act(self, kind: str, server) -> None:
        compute = self.conn.compute
        if kind == "resize":
            current = server.flavor.get("original_name") or server.flavor.get("name")
            target = next(name for name in RESIZE_FLAVORS if name != current)
            call = lambda: compute.resize_server(server, self.soak.flavors[target])  # noqa: E731
        else:
            call = {"migrate": lambda: compute.migrate_server(server),
                    "confirm": lambda: compute.confirm_server_resize(server),
                    "revert": lambda: compute.revert_server_resize(server),
                    "stop": lambda: compute.stop_server(server),
                    "start": lambda: compute.start_server(server),
                    "delete": lambda: compute.delete_server(server)}[kind]
        if may_have_happened(self._request(kind, call)):
            if kind in ("migrate", "resize") and self.rng.random() < ABORT_SHARE:
                self._abort_soon(server.id)
            self._settle(kind, server.id, before=server.status)

    def _abort_soon(self, server_id: str) -> None:
        """Abort the server's move in progress, after a random wait."""
        time.sleep(self.rng.uniform(0.0, ABORT_WITHIN))
        compute = self.conn.compute
        try:
            moving = compute.get(f"/servers/{server_id}/migrations",
                                 microversion="2.23").json().get("migrations", [])
        except Exception:   # the api is away: no abort this time
            return
        if not moving:
            self.soak.report.count("abort", "no migration in progress yet, or any more")
            return

        def abort():
            import openstack.exceptions
            resp = compute.delete(f"/servers/{server_id}/migrations/{moving[0]['id']}",
                                  microversion="2.24")
            openstack.exceptions.raise_from_response(resp)
        self._request("abort", abort, ABORT_OUTCOMES)

    def _settle(self, kind: str, server_id: str, before: str | None = None) -> None:
        """Wait until the server is at rest (or gone); what it came to is the outcome."""
        from bench.soak_invariants import at_rest, describe
        import openstack.exceptions

        deadline = time.monotonic() + self.soak.settle_seconds
        server = None
        while time.monotonic() < deadline:
            try:
                server = self.conn.compute.get_server(server_id)
                self.last_answer = time.monotonic()
            except openstack.exceptions.NotFoundException:
                self.soak.ledger.gone(server_id)
                del self.servers[server_id]
                self.soak.report.count(kind, "came to: deleted")
                return
            except Exception:
                time.sleep(1)
                continue
            try:
                resting = server.status == "ERROR" or at_rest(self.soak.deployment, server)
            except Exception:   # our own line to the database: a hiccup of the server
                resting = False
            if resting:
                break
            time.sleep(0.5)
        else:
            self.hands_off.add(server_id)
            detail = describe(server) if server is not None else "never readable"
            self.soak.report.finding(f"stuck: {kind} of {detail} not at rest after "
                                     f"{self.soak.settle_seconds:.0f} s")
            return
        if server.status == "ERROR":
            self.hands_off.add(server_id)
            self.soak.report.finding(f"ERROR after {kind}: {describe(server)}")
        self.servers[server_id] = server.status
        if kind != "create":
            self.soak.report.count(kind, f"came to: {before} -> {server.status}")


# -- faults ---------------------------------------------------------------------------------------
class Soak:
    def __init__(self, args, deployment, broker_relay, database_relay):
        from bench.soak_invariants import Checker, Ledger

        self.args = args
        self.deployment = deployment
        self.broker_relay = broker_relay
        self.database_relay = database_relay
        self.rng = random.Random(args.seed)
        self.report = Report()
        self.timeline = Timeline()
        self.gate = Gate()
        self.ledger = Ledger()
        self.current_fault: str | None = None
        self.settle_seconds = args.settle_seconds or settle_bound(deployment)
        self.down: set[str] = set()              # services killed on purpose, not yet back
        admin = self.connect()
        self.checker = Checker(deployment, admin, self.ledger)
        self.flavors = {name: admin.compute.create_flavor(
                            name=name, vcpus=vcpus, ram=ram, disk=1).id
                        for name, vcpus, ram in (("soak.a", 1, 256), ("soak.b", 2, 512))}
        self.image = admin.image.find_image("herder-guest").id

    def connect(self):
        conn = self.deployment.connect()
        # a request the api does not answer within this is a finding, not a hung worker
        conn.session.timeout = 120
        return conn

    def fault_kinds(self) -> list[str]:
        kinds = []
        if "kill" in self.args.faults:
            kinds.append("kill")
        if "broker" in self.args.faults:
            kinds.append("broker")
        if "database" in self.args.faults and self.database_relay is not None:
            kinds.append("database")
        return kinds

    def run(self) -> None:
        workers = [Worker(i, self) for i in range(self.args.workers)]
        for worker in workers:
            worker.start()
        end = time.monotonic() + self.args.minutes * 60
        kinds = self.fault_kinds()
        while True:
            pause = self.rng.uniform(*self.args.fault_interval)
            if time.monotonic() + pause >= end or not kinds:
                time.sleep(max(0.0, end - time.monotonic()))
                break
            time.sleep(pause)
            self.inject(self.rng.choice(kinds))
            self.check_invariants("after the fault")
        log("time is up: the workers finish what they are doing")
        self.gate.close()
        self.gate.stop()
        for worker in workers:
            worker.join(self.settle_seconds)
        self.check_invariants("at the end")
        self.delete_everything()
        self.check_invariants("after deleting every server")

    def inject(self, kind: str) -> None:
        if kind == "kill":
            name = self.rng.choice(sorted(self.deployment.processes))
            self.kill_and_restart(name)
        else:
            relay = self.broker_relay if kind == "broker" else self.database_relay
            seconds = self.rng.uniform(*self.args.outage_seconds)
            label = f"{kind} outage"
            self.current_fault = f"{label} of {seconds:.0f} s"
            log(f"fault: {self.current_fault}")
            window = self.timeline.begin("database" if kind == "database" else kind)
            relay.outage()
            try:
                time.sleep(seconds)
            finally:
                relay.restore()
                Timeline.end(window)
            self.report.fault(label)
            self.wait_ready()
        self.current_fault = None

    def kill_and_restart(self, name: str) -> None:
        service = "compute" if name in self.deployment.hosts else name.split("-")[0]
        down = self.rng.uniform(*self.args.down_seconds)
        self.current_fault = f"kill -9 of {name}, down {down:.0f} s"
        log(f"fault: {self.current_fault}")
        window = self.timeline.begin(f"kill {service}")
        self.down.add(name)
        self.deployment.kill(name)
        try:
            time.sleep(down)
        finally:
            self.deployment.restart(name)
            self.down.discard(name)
        self.wait_ready()
        Timeline.end(window)
        self.report.fault(f"kill -9 {service}")

    def wait_ready(self) -> None:
        """Every compute host is up again (heartbeats through the api)."""
        try:
            self.deployment.wait_ready(timeout=self.settle_seconds)
        except (TimeoutError, RuntimeError) as error:
            self.report.finding(f"the deployment did not come back after "
                                f"{self.current_fault}: {error}")
            self.restart_dead()

    def restart_dead(self) -> None:
        """A service that died without being killed is a finding; start it again to go on."""
        for name, process in list(self.deployment.processes.items()):
            if name not in self.down and process.poll() is not None:
                tail = self.deployment.log(name)[-2000:]
                self.report.finding(f"{name} exited by itself ({process.returncode}); the end "
                                    f"of its log:\n{tail}")
                self.deployment.restart(name)

    def check_invariants(self, when: str) -> None:
        self.gate.close()
        try:
            self.restart_dead()
            started = time.monotonic()
            # each worker waited for its own servers to rest (up to the settle bound) before it
            # let the gate close, and reported those that did not: this is a last look
            self.checker.wait_at_rest(CHECK_WAIT)
            findings = self.checker.check()
            took = time.monotonic() - started
            if findings:
                self.report.checks_failed += 1
                for finding in findings:
                    self.report.finding(f"invariant broken {when}: {finding}")
            else:
                self.report.checks_passed += 1
            live, deleted = self.ledger.snapshot()
            log(f"check {when}: {'FAILED' if findings else 'passed'} ({len(live)} servers "
                f"live, {len(deleted)} deleted; {took:.1f} s)")
        except Exception:
            self.report.checks_failed += 1
            self.report.finding(f"the check {when} failed:\n{traceback.format_exc()}")
        finally:
            self.gate.open()

    def delete_everything(self) -> None:
        import openstack.exceptions

        admin = self.checker.conn
        live, _ = self.ledger.snapshot()
        for server_id in live:
            try:
                admin.compute.delete_server(server_id)
            except Exception as error:
                self.report.finding(f"final delete of {server_id}: {error}")
        deadline = time.monotonic() + self.settle_seconds
        remaining = set(live)
        while remaining and time.monotonic() < deadline:
            for server_id in sorted(remaining):
                try:
                    admin.compute.get_server(server_id)
                except openstack.exceptions.NotFoundException:
                    remaining.discard(server_id)
                    self.ledger.gone(server_id)
                except Exception:
                    pass
            time.sleep(0.5)
        self.report.count("final delete", f"{len(live) - len(remaining)} deleted")
        for server_id in sorted(remaining):
            self.report.finding(f"final delete: {server_id} still there after "
                                f"{self.settle_seconds:.0f} s")


def settle_bound(deployment) -> float:
    """How long a server may take to come to rest, from the deployment's settings: the slowest
    recovery there is, a request the api accepted whose cast never reached a conductor (the api
    killed in between, or the broker away for longer than its retries). A conductor puts it
    back once it is `lost_request_timeout` old, looking every `recovery_interval`; and a move
    interrupted mid-step may wait out a few calls (`rpc_timeout` each) before it completes or
    rolls back. Plus SETTLE_MARGIN for a machine busy with other work."""
    conf = deployment_conf(deployment)
    return (conf.workflow.lost_request_timeout + conf.workflow.recovery_interval
            + 3 * conf.messaging.rpc_timeout + SETTLE_MARGIN)


def deployment_conf(deployment):
    from herder.conf import build_conf
    return build_conf(config_files=[str(deployment.control_conf)])


def shortened_settings(deployment) -> list[str]:
    """The deployment's timeouts and intervals that differ from herder's defaults (those
    tests/integration/deployment.py shortens), as `[group] name = value (default ...)`."""
    from herder.conf import build_conf

    defaults, ours = build_conf(), deployment_conf(deployment)
    ini = configparser.ConfigParser()
    ini.read(deployment.control_conf)
    lines = []
    for section in ["DEFAULT", *ini.sections()]:
        for name in (ini.defaults() if section == "DEFAULT" else ini[section]):
            if section != "DEFAULT" and name in ini.defaults():
                continue
            group = None if section == "DEFAULT" else section
            try:
                default = (defaults[group] if group else defaults)[name]
                value = (ours[group] if group else ours)[name]
            except (KeyError, Exception):
                continue
            timing = any(word in name for word in ("interval", "timeout", "time", "deadline",
                                                   "seconds"))
            if timing and value != default:
                lines.append(f"[{section}] {name} = {value} (default {default})")
    return lines


def print_report(soak: Soak, args, database_note: str) -> None:
    report = soak.report
    print()
    print(f"== soak report: seed {args.seed}, {report.elapsed() / 60:.1f} min, "
          f"{args.workers} workers x {args.servers_per_worker} servers, {args.hosts} hosts, "
          f"{args.conductors} conductors, database {args.database}")
    print("operations (kind: outcome count):")
    for kind in sorted({k for k, _ in report.operations}):
        outcomes = ", ".join(f"{outcome} {n}" for (k, outcome), n
                             in sorted(report.operations.items()) if k == kind)
        print(f"  {kind}: {outcomes}")
    print("faults: " + (", ".join(f"{kind} {n}" for kind, n in sorted(report.faults.items()))
                        or "none"))
    print(f"database outages: {database_note}")
    print(f"invariant checks: {report.checks_passed} passed, {report.checks_failed} failed")
    print(f"findings: {len(report.findings)}")
    for text, (first, times) in report.findings.items():
        print(f"  - at {first:.0f} s (x{times}): {text}")


def main(argv=None) -> int:
    args = parse_args(argv)
    # tests.databases reads HERDER_TEST_DB when it is imported
    os.environ["HERDER_TEST_DB"] = args.database
    from tests import databases
    from tests.integration.deployment import Deployment, rabbitmq_reachable
    from tests.integration.outage_relay import OutageRelay

    def interrupted(signum, frame):
        raise KeyboardInterrupt
    # SIGINT too: a shell starts a background job with SIGINT ignored
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)

    log(f"soak: seed {args.seed} (repeat with --seed {args.seed}), {args.minutes:g} min, "
        f"database {args.database}")
    if not rabbitmq_reachable():
        log("RabbitMQ is not reachable on 127.0.0.1:5672")
        return 2
    root = Path(tempfile.mkdtemp(prefix="herder-soak-"))
    broker_relay = OutageRelay(("127.0.0.1", 5672))
    database_relay = None
    if databases.SERVER is not None:
        url = databases.SERVER.url
        port = url.port or {"postgresql": 5432}.get(url.get_backend_name(), 3306)
        database_relay = OutageRelay(("127.0.0.1", port))
        database_note = "through a relay; each drops and refuses connections as a restart does"
    else:
        database_note = "none: on SQLite there is no database server to restart"
    deployment = soak = None
    status = 1
    try:
        deployment = Deployment(
            root, hosts=args.hosts, conductors=args.conductors,
            services_reach_database=database_relay.database_url if database_relay else None,
            # herder's defaults instead of the shorter ones the tests use: a broker or
            # database outage of up to 30 s must not make every compute host look down (5 s)
            # nor outlast how long the api waits for the broker to send a request (20 s)
            DEFAULT={"service_down_time": 60},
            messaging={"transport_url": broker_relay.broker_url(), "rpc_timeout": 60},
            # quotas never decide an outcome here: each worker's servers fit anyway
            quota={"instances": -1, "cores": -1, "ram": -1})
        deployment.start_all()
        soak = Soak(args, deployment, broker_relay, database_relay)
        log(f"deployment in {root}; a server must come to rest within "
            f"{soak.settle_seconds:.0f} s")
        log("timeouts shortened for tests (all others are herder's defaults): "
            + "; ".join(shortened_settings(deployment)))
        soak.run()
        status = 1 if soak.report.findings else 0
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        status = 130
    finally:
        if soak is not None:
            soak.gate.stop()
            print_report(soak, args, database_note)
        if deployment is not None:
            deployment.close()
        broker_relay.close()
        if database_relay is not None:
            database_relay.close()
        if databases.SERVER is not None:
            databases.SERVER.drop_all()
        if args.keep or status != 0:
            log(f"kept {root} (the services' logs are in {root / 'logs'})")
        else:
            shutil.rmtree(root, ignore_errors=True)
    log(f"soak: exit status {status} (seed {args.seed}; machine {platform.node()}, "
        f"load average {os.getloadavg()[0]:.1f})")
    return status


if __name__ == "__main__":
    sys.exit(main())
