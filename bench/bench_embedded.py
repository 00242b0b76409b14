"""Move latency and throughput of the embedded control plane, measured through the real API.

    .venv/bin/python bench/bench_embedded.py [--moves 50] [--concurrent 200] [--hosts 10]

Starts an EmbeddedCloud in this process (fake driver, power-off time 0, SQLite in a temporary
state directory, kombu memory:// bus, HTTP on 127.0.0.1 port 0) and drives it the way a client
does: plain keep-alive HTTP (http.client) with the admin token and microversion 2.80.

1. baseline: the round trip of a trivial GET /servers/{id} on an idle cloud;
2. latency: from sending the POST of an action to the response of the first GET /servers/{id}
   that shows the target status (GET polled every --poll-interval seconds), for
   migrate -> VERIFY_RESIZE, confirm -> ACTIVE, revert -> ACTIVE, resize -> VERIFY_RESIZE;
3. throughput: --concurrent servers migrated at once over --hosts hosts (all migrate requests
   fired from a thread pool, progress polled through the server lists, every server's status
   checked with GET /servers/detail at the end), then all confirmed the same way.

Prints a table and appends the run to bench/results/embedded-<date>.json. The script stops by
itself: every wait is bounded. This is a benchmark, not a test: nothing here asserts timings.
"""
import argparse
import dataclasses
import datetime
import http.client
import itertools
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from sqlalchemy import select

import herder
from herder import catalogue
from herder.conf import build_conf
from herder.db.models import InstanceAction, InstanceActionEvent, Migration
from herder.embedded import EmbeddedCloud

HERE = os.path.dirname(os.path.abspath(__file__))
MICROVERSION = "compute 2.80"
LIST_LIMIT = 5000               # the benchmarked clouds set [api] max_limit to this
TINY, SMALL = "1", "2"          # the catalogue's flavors m1.tiny and m1.small


class BenchError(RuntimeError):
    pass


# -- the client ---------------------------------------------------------------------------------

class Client:
    """A keep-alive HTTP/1.1 client for one thread (http.client is not thread-safe)."""

    def __init__(self, host: str, port: int, token: str):
        self._conn = http.client.HTTPConnection(host, port, timeout=60)
        self._headers = {"X-Auth-Token": token, "OpenStack-API-Version": MICROVERSION,
                         "Accept": "application/json", "Content-Type": "application/json"}

    def request(self, method: str, path: str,
                body: dict | None = None) -> tuple[int, dict | None]:
        data = json.dumps(body).encode() if body is not None else None
        try:
            self._conn.request(method, f"/v2.1{path}", body=data, headers=self._headers)
            resp = self._conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # the server closed the idle keep-alive connection ([api] client_timeout) before
            # it read this request: reconnect once, as urllib3 does for a stale pooled connection
            self._conn.close()
            self._conn.request(method, f"/v2.1{path}", body=data, headers=self._headers)
            resp = self._conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None)

    def expect(self, method: str, path: str, body: dict | None, statuses: tuple[int, ...]):
        status, data = self.request(method, path, body)
        if status not in statuses:
            raise BenchError(f"{method} {path} {body} -> {status} {data}")
        return data

    def server(self, server_id: str) -> dict:
        return self.expect("GET", f"/servers/{server_id}", None, (200,))["server"]

    def action(self, server_id: str, body: dict) -> None:
        self.expect("POST", f"/servers/{server_id}/action", body, (202, 204))

    def create(self, name: str) -> str:
        body = {"server": {"name": name, "flavorRef": TINY, "imageRef": catalogue.IMAGE_ID,
                           "networks": "auto"}}
        return self.expect("POST", "/servers", body, (202,))["server"]["id"]

    def wait_status(self, server_id: str, status: str, poll: float, timeout: float) -> int:
        """GET until `status`; returns how many GETs it took. ERROR or timeout raise."""
        deadline = time.perf_counter() + timeout
        polls = 0
        while True:
            server = self.server(server_id)
            polls += 1
            if server["status"] == status:
                return polls
            if server["status"] == "ERROR":
                raise BenchError(f"server {server_id} went to ERROR: {server.get('fault')}")
            if time.perf_counter() > deadline:
                raise BenchError(f"server {server_id} is {server['status']}, not {status}, "
                                 f"after {timeout}s")
            time.sleep(poll)

    def close(self) -> None:
        self._conn.close()


# -- statistics ---------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summary(samples_s: list[float], extra: dict | None = None) -> dict:
    ms = [s * 1000 for s in samples_s]
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 2),
            "p95_ms": round(percentile(ms, 95), 2), "min_ms": round(min(ms), 2),
            "max_ms": round(max(ms), 2), **(extra or {})}


def process_cpu() -> float:
    """CPU seconds this process (cloud and client together) has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- phases ---------------------------------------------------------------------------------------

def baseline(client: Client, server_id: str, count: int) -> dict:
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        client.server(server_id)
        samples.append(time.perf_counter() - t0)
    return summary(samples)


def timed_action(client: Client, server_id: str, body: dict, target: str, poll: float,
                 timeout: float) -> tuple[float, float, int]:
    """(seconds to the first GET showing `target`, seconds the POST itself took, GETs)."""
    t0 = time.perf_counter()
    client.action(server_id, body)
    t_post = time.perf_counter()
    polls = client.wait_status(server_id, target, poll, timeout)
    return time.perf_counter() - t0, t_post - t0, polls


def latency(client: Client, server_id: str, moves: int, poll: float, timeout: float) -> dict:
    """`moves` rounds of: migrate+confirm, migrate+revert, resize+revert (one move at a time)."""
    kinds = ("migrate", "confirm", "revert", "resize")
    samples = {k: [] for k in kinds}
    posts = {k: [] for k in kinds}
    polls = {k: [] for k in kinds}

    def run(kind: str, body: dict, target: str) -> None:
        total, post, n = timed_action(client, server_id, body, target, poll, timeout)
        samples[kind].append(total)
        posts[kind].append(post)
        polls[kind].append(n)

    for _ in range(moves):
        run("migrate", {"migrate": None}, "VERIFY_RESIZE")
        run("confirm", {"confirmResize": None}, "ACTIVE")
        run("migrate", {"migrate": None}, "VERIFY_RESIZE")
        run("revert", {"revertResize": None}, "ACTIVE")
        run("resize", {"resize": {"flavorRef": SMALL}}, "VERIFY_RESIZE")
        run("revert", {"revertResize": None}, "ACTIVE")
    return {k: summary(samples[k], {"post_median_ms": round(statistics.median(posts[k]) * 1000, 2),
                                    "gets_per_move_median": statistics.median(polls[k])})
            for k in kinds}


def _ids(client: Client, path: str, ids: set[str]) -> set[str]:
    return {s["id"] for s in client.expect("GET", path, None, (200,))["servers"]} & ids


def wait_all(client: Client, ids: set[str], in_flight: str, status: str, poll: float,
             timeout: float) -> tuple[float, int]:
    """Wait until no server of `ids` is `in_flight` any more, then check they all show `status`.

    Progress is polled with `GET /servers?status=<in_flight>` plus
    `GET /servers/detail?status=ERROR`, whose cost does not grow with the number of servers
    rendered: a full `GET /servers/detail` of 200 servers costs ~250 ms of the cloud's CPU (two
    extra queries per server), so polling it would measure the watcher rather than the moves.
    One full `GET /servers/detail` at the end checks that every server reached `status`.
    Returns (perf_counter when the last in-flight server was seen gone, progress polls).
    """
    deadline = time.perf_counter() + timeout
    polls = 0
    while True:
        errors = _ids(client, f"/servers/detail?status=ERROR&limit={LIST_LIMIT}", ids)
        pending = _ids(client, f"/servers?status={in_flight}&limit={LIST_LIMIT}", ids)
        finished = time.perf_counter()
        polls += 1
        if errors:
            raise BenchError(f"{len(errors)} servers went to ERROR, e.g. {sorted(errors)[0]}")
        if not pending:
            break
        if finished > deadline:
            raise BenchError(f"{len(pending)}/{len(ids)} servers still {in_flight} after "
                             f"{timeout}s")
        time.sleep(poll)
    servers = client.expect("GET", f"/servers/detail?limit={LIST_LIMIT}", None,
                            (200,))["servers"]
    seen = {s["id"]: s["status"] for s in servers if s["id"] in ids}
    wrong = {i: s for i, s in seen.items() if s != status}
    if wrong or len(seen) != len(ids):
        counts: dict[str, int] = {}
        for value in wrong.values():
            counts[value] = counts.get(value, 0) + 1
        raise BenchError(f"expected every server {status}: {counts} (and "
                         f"{len(ids) - len(seen)} missing)")
    return finished, polls


@dataclasses.dataclass
class Target:
    """The cloud under measurement: where its API listens, its database (to check the outcome)
    and how to read the CPU time its processes used so far."""
    host: str
    port: int
    token: str
    db: object
    cpu_seconds: Callable[[], float]

    @classmethod
    def embedded(cls, cloud: EmbeddedCloud) -> "Target":
        # the cloud runs in this process, with the client
        return cls(cloud.conf.api.listen, cloud.port, cloud.conf.admin_token, cloud.db,
                   process_cpu)

    def client(self) -> Client:
        return Client(self.host, self.port, self.token)


def throughput(cloud: Target, count: int, workers: int, progress_poll: float,
               timeout: float) -> dict:
    local = threading.local()
    clients: list[Client] = []
    lock = threading.Lock()
    cpu_seconds = cloud.cpu_seconds  # of the processes that serve the cloud

    def client() -> Client:
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = cloud.client()
            with lock:
                clients.append(c)
        return c

    watcher = cloud.client()
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-client") as pool:
            t0 = time.perf_counter()
            ids = list(pool.map(lambda i: client().create(f"bench-{i}"), range(count)))
            end, _ = wait_all(watcher, set(ids), "BUILD", "ACTIVE", progress_poll, timeout)
            t_create = end - t0

            t0, cpu0 = time.perf_counter(), cpu_seconds()
            list(pool.map(lambda s: client().action(s, {"migrate": None}), ids))
            t_fired = time.perf_counter() - t0
            end, migrate_polls = wait_all(watcher, set(ids), "RESIZE", "VERIFY_RESIZE",
                                          progress_poll, timeout)
            t_migrate, cpu_migrate = end - t0, cpu_seconds() - cpu0

            t0, cpu0 = time.perf_counter(), cpu_seconds()
            list(pool.map(lambda s: client().action(s, {"confirmResize": None}), ids))
            t_fired_confirm = time.perf_counter() - t0
            # a confirming server shows VERIFY_RESIZE until its confirm is done
            end, confirm_polls = wait_all(watcher, set(ids), "VERIFY_RESIZE", "ACTIVE",
                                          progress_poll, timeout)
            t_confirm, cpu_confirm = end - t0, cpu_seconds() - cpu0
    finally:
        watcher.close()
        for c in clients:
            c.close()

    with cloud.db.transaction() as session:
        migrations = list(session.scalars(select(Migration).where(
            Migration.instance_uuid.in_(ids))))
    at_once = moves_at_once_per_host(cloud.db, migrations)
    statuses: dict[str, int] = {}
    for m in migrations:
        statuses[m.status] = statuses.get(m.status, 0) + 1
    moved = sum(1 for m in migrations if m.dest_compute and m.dest_compute != m.source_compute)
    return {"servers": count, "client_threads": workers, "progress_poll_s": progress_poll,
            "create_s": round(t_create, 3),
            "migrate_requests_s": round(t_fired, 3),
            "migrate_s": round(t_migrate, 3), "migrate_moves_per_s": round(count / t_migrate, 1),
            "migrate_progress_polls": migrate_polls,
            "migrate_process_cpu_ms_per_move": round(cpu_migrate / count * 1000, 1),
            "confirm_s": round(t_confirm, 3), "confirm_per_s": round(count / t_confirm, 1),
            "confirm_requests_s": round(t_fired_confirm, 3),
            "confirm_progress_polls": confirm_polls,
            "confirm_process_cpu_ms_per_move": round(cpu_confirm / count * 1000, 1),
            "migration_records": len(migrations), "migration_statuses": statuses,
            "moved_to_another_host": moved,
            # from the moves' own instance action events: what the move limit allowed
            "most_moves_at_once_on_a_host": max(at_once.values(), default=0),
            "all_confirmed": len(migrations) == count and statuses == {"confirmed": count}}


def moves_at_once_per_host(db, migrations: list) -> dict[str, int]:
    """Per host, the most of these moves that worked on it at once: each from its destination's
    prep_resize start to its finish_resize end (the span its move slots cover), as its server's
    migrate action events recorded them."""
    spans: dict[str, list] = {}
    with db.transaction() as session:
        rows = session.execute(
            select(InstanceAction.instance_uuid, InstanceActionEvent.event,
                   InstanceActionEvent.start_time, InstanceActionEvent.finish_time)
            .join(InstanceActionEvent, InstanceActionEvent.action_id == InstanceAction.id)
            .where(InstanceAction.action == "migrate",
                   InstanceAction.instance_uuid.in_([m.instance_uuid for m in migrations]),
                   InstanceActionEvent.event.in_(("compute_prep_resize",
                                                  "compute_finish_resize")))).all()
    times = {(uuid, event): (start, finish) for uuid, event, start, finish in rows}
    for m in migrations:
        start = times.get((m.instance_uuid, "compute_prep_resize"), (None,))[0]
        end = times.get((m.instance_uuid, "compute_finish_resize"), (None, None))[1]
        if start and end:
            for host in {m.source_compute, m.dest_compute}:
                spans.setdefault(host, []).append((start, end))
    return {host: most_at_once(host_spans) for host, host_spans in spans.items()}


def most_at_once(spans: list) -> int:
    # an end sorts before a start at the same instant: a move that ends as another begins
    # is not counted with it
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    return max(itertools.accumulate(change for _, change in edges), default=0)


# -- the run ------------------------------------------------------------------------------------

def machine() -> dict:
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"nproc": len(os.sched_getaffinity(0)), "mem_gib": round(mem_kib / 1024 ** 2, 1),
            "cpu": cpu, "python": platform.python_version(), "platform": platform.platform()}


def provenance() -> dict:
    """Which herder was measured: the commit, and the files changed since, if it is this repo's."""
    repo = os.path.dirname(HERE)
    package = os.path.dirname(os.path.abspath(herder.__file__))
    found = {"herder_package": package}
    if package != os.path.join(repo, "herder"):
        return found
    try:
        def git(*argv: str) -> str:
            return subprocess.run(["git", "-C", repo, *argv], capture_output=True, text=True,
                                  timeout=10).stdout
        found["commit"] = git("rev-parse", "--short", "HEAD").strip()
        found["uncommitted"] = [line[3:] for line in
                                git("status", "--porcelain", "--", "herder").splitlines()]
    except (OSError, subprocess.SubprocessError):
        pass
    return found


def cloud_settings(state_dir: str, args) -> dict:
    """The `build_conf` overrides of the benchmarked cloud."""
    big = 1_000_000
    settings = dict(
        state_dir=state_dir, api__listen="127.0.0.1", api__port=0,
        compute__fake_power_off_seconds=0.0, compute__periodic_interval=args.periodic_interval,
        compute__fake_vcpus=4096, compute__fake_memory_mb=4 * 1024 * 1024,
        compute__fake_disk_gb=big, quota__instances=big, quota__cores=big, quota__ram=big * 1024,
        api__max_limit=LIST_LIMIT)
    if args.move_limit is not None:
        settings["compute__max_concurrent_migrations"] = args.move_limit
    if args.bus_polling_interval is not None:
        # only herder versions whose bus polls kombu's memory transport have this option
        settings["messaging__polling_interval"] = args.bus_polling_interval
    return settings


def start_cloud(state_dir: str, hosts: int, args) -> EmbeddedCloud:
    cloud = EmbeddedCloud(build_conf(**cloud_settings(state_dir, args)), hosts=hosts)
    cloud.start()
    return cloud


def print_table(result: dict) -> None:
    lat, base = result["latency"], result["baseline_get"]
    print()
    print(f"herder {result.get('kind', 'embedded')} bench  {result['date']}  hosts={result['config']['hosts']}  "
          f"nproc={result['machine']['nproc']}  python={result['machine']['python']}  "
          f"poll={result['config']['poll_interval_ms']} ms  load average "
          f"{result['loadavg_start'][0]:.2f} -> {result['loadavg_end'][0]:.2f}")
    print(f"{'measure':<34}{'n':>5}{'median ms':>11}{'p95 ms':>10}{'min ms':>9}"
          f"{'POST ms':>9}{'GETs':>6}")
    print(f"{'GET /servers/{id} round trip':<34}{base['n']:>5}{base['median_ms']:>11.2f}"
          f"{base['p95_ms']:>10.2f}{base['min_ms']:>9.2f}")
    for kind, target in (("migrate", "VERIFY_RESIZE"), ("confirm", "ACTIVE"),
                         ("revert", "ACTIVE"), ("resize", "VERIFY_RESIZE")):
        s = lat[kind]
        print(f"{kind + ' -> ' + target:<34}{s['n']:>5}{s['median_ms']:>11.2f}"
              f"{s['p95_ms']:>10.2f}{s['min_ms']:>9.2f}{s['post_median_ms']:>9.2f}"
              f"{s['gets_per_move_median']:>6g}")
    t = result.get("throughput")
    if t:
        print()
        print(f"throughput: {t['servers']} servers over {result['config']['hosts']} hosts "
              f"({t['client_threads']} client threads, progress polled every "
              f"{t['progress_poll_s'] * 1000:g} ms)")
        print(f"  create (to all ACTIVE)       {t['create_s']:8.2f} s")
        print(f"  migrate (to all VERIFY_RESIZE){t['migrate_s']:7.2f} s   "
              f"{t['migrate_moves_per_s']:6.1f} moves/s   "
              f"(requests accepted in {t['migrate_requests_s']:.2f} s; "
              f"{t['migrate_process_cpu_ms_per_move']:.0f} ms CPU per move)")
        print(f"  confirm (to all ACTIVE)      {t['confirm_s']:8.2f} s   "
              f"{t['confirm_per_s']:6.1f} confirms/s   "
              f"({t['confirm_process_cpu_ms_per_move']:.0f} ms CPU per confirm)")
        print(f"  migrations: {t['migration_statuses']}  moved to another host: "
              f"{t['moved_to_another_host']}/{t['servers']}  all confirmed: {t['all_confirmed']}")
        print(f"  most moves at once on one host: {t['most_moves_at_once_on_a_host']} "
              f"(move limit {result['config'].get('move_limit') or 'herder default'})")


def save(result: dict, path: str, benchmark: str = "bench/bench_embedded.py") -> None:
    """Append this run to the day's file, so the runs of one day sit side by side."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    runs = []
    if os.path.exists(path):
        with open(path) as f:
            runs = json.load(f).get("runs", [])
    runs.append(result)
    with open(path + ".tmp", "w") as f:
        json.dump({"benchmark": benchmark, "runs": runs}, f, indent=2)
        f.write("\n")
    os.replace(path + ".tmp", path)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options every bench script takes: its client threads, a note, and --no-save."""
    parser.add_argument("--client-threads", type=int, default=32)
    parser.add_argument("--label", default="", help="a note stored with the run")
    parser.add_argument("--no-save", action="store_true")


def loopback_only() -> None:
    """The benches talk to loopback only: a proxy a shell exports must not get the requests."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ.pop(name, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moves", type=int, default=50,
                        help="rounds of migrate+confirm, migrate+revert, resize+revert")
    parser.add_argument("--concurrent", type=int, default=200,
                        help="servers migrated at once in the throughput phase (0 to skip)")
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--move-limit", type=int, default=None,
                        help="[compute] max_concurrent_migrations of every host (default: "
                             "herder's, 8; versions before the limit ignore it)")
    parser.add_argument("--poll-interval", type=float, default=0.001,
                        help="seconds between GETs while waiting for a status")
    parser.add_argument("--progress-poll-interval", type=float, default=0.1,
                        help="seconds between progress polls in the throughput phase")
    parser.add_argument("--baseline-gets", type=int, default=200)
    parser.add_argument("--periodic-interval", type=float, default=0.05,
                        help="compute periodic task interval (conf compute.periodic_interval)")
    parser.add_argument("--bus-polling-interval", type=float, default=None,
                        help="conf messaging.polling_interval, where herder has that option "
                             "(default: herder's own default)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="longest wait for any one status, in seconds")
    parser.add_argument("--output", default=None,
                        help="results file (default bench/results/embedded-<date>.json)")
    add_run_options(parser)
    args = parser.parse_args(argv)
    if args.hosts < 2:
        parser.error("--hosts must be at least 2 (a migration needs another host)")

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    loopback_only()

    today = datetime.date.today().isoformat()
    result = {"date": today, "started": datetime.datetime.now().isoformat(timespec="seconds"),
              "label": args.label, "machine": machine(), "herder": provenance(),
              "loadavg_start": os.getloadavg(),
              "config": {"hosts": args.hosts, "moves": args.moves, "concurrent": args.concurrent,
                         "move_limit": args.move_limit,
                         "poll_interval_ms": args.poll_interval * 1000,
                         "periodic_interval_s": args.periodic_interval,
                         "bus_polling_interval_s": args.bus_polling_interval,
                         "fake_power_off_seconds": 0, "http_client": "http.client keep-alive",
                         "microversion": MICROVERSION}}
    with tempfile.TemporaryDirectory(prefix="herder-bench-") as state_dir:
        t0 = time.perf_counter()
        cloud = start_cloud(state_dir, args.hosts, args)
        result["startup_s"] = round(time.perf_counter() - t0, 3)
        try:
            client = Client(cloud.conf.api.listen, cloud.port, cloud.conf.admin_token)
            try:
                server_id = client.create("bench-latency")
                client.wait_status(server_id, "ACTIVE", args.poll_interval, args.timeout)
                result["baseline_get"] = baseline(client, server_id, args.baseline_gets)
                result["latency"] = latency(client, server_id, args.moves, args.poll_interval,
                                            args.timeout)
            finally:
                client.close()
            if args.concurrent > 0:
                result["throughput"] = throughput(Target.embedded(cloud), args.concurrent,
                                                  args.client_threads,
                                                  args.progress_poll_interval, args.timeout)
        finally:
            cloud.stop()
    result["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    result["loadavg_end"] = os.getloadavg()
    print_table(result)
    if not args.no_save:
        path = args.output or os.path.join(HERE, "results", f"embedded-{today}.json")
        save(result, path)
        print(f"\nappended to {os.path.relpath(path)}")
    t = result.get("throughput")
    return 0 if not t or t["all_confirmed"] else 1


if __name__ == "__main__":
    sys.exit(main())
