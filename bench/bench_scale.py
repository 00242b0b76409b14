"""How herder's reads grow with the size of a region, and what its services hold in memory.

    .venv/bin/python bench/bench_scale.py [--steps 1000,10000] [--hosts 50] [--memory-moves 10000]

Starts the deployment of tests/integration/deployment.py with `--hosts` fake compute hosts,
two conductors and two schedulers, each its own `herder` process, on RabbitMQ and PostgreSQL
(`HERDER_TEST_DB`). Then, for each size in `--steps`:

1. grows the cloud to that many servers, created through the API (32 client threads) and
   waited for until every one is ACTIVE;
2. brings the migration table to `--migrations-per-server` rows per server. These rows are
   written by SQL, as finished and confirmed moves between the cloud's hosts: making 100,000
   moves through the API would take hours here, and a list reads them the same way;
3. sends each request below `--rounds` times over one keep-alive connection (admin,
   microversion 2.80) and reports its round trip (median, p95) and the api process's CPU
   per request; and calls the schedulers' `select_destinations` over RabbitMQ as the
   conductor does (the claim it makes is removed after each call), reporting its round trip
   and the schedulers' CPU per call.

Last, with `--memory-moves` N, it migrates N servers and confirms them (in batches of
`--batch`, going round the servers again if there are fewer than N), and samples each
service's resident memory (VmRSS) after each batch: the growth from batch to batch says
whether memory levels off. A move that rolls back instead of reaching VERIFY_RESIZE is counted
in its batch's sample.

CPU per request (from /proc) is what to compare between sizes: it does not depend on what else
the machine runs, the round trips do. Prints the tables and appends the run to
bench/results/scale-<date>.json. A benchmark, not a test: nothing here asserts timings.
"""
import argparse
import datetime
import logging
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))                 # the repository: tests.integration
os.environ.setdefault("HERDER_TEST_DB", "postgresql")    # read by tests.databases on import

import bench_embedded as common  # noqa: E402  (bench/ is this script's directory)
from bench_distributed import BIG, DeploymentCPU, print_fault_summary  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from herder.context import admin_context  # noqa: E402
from herder.db import placement  # noqa: E402
from herder.db.models import Instance, Migration  # noqa: E402
from herder.scheduler.rpcapi import SchedulerAPI  # noqa: E402
from tests import databases  # noqa: E402
from tests.integration.deployment import ADMIN_TOKEN, Deployment  # noqa: E402

PAGE = 1000
SEED_CHUNK = 5000


def start(root: Path, args) -> Deployment:
    deployment = Deployment(
        root, hosts=args.hosts, conductors=2, schedulers=2,
        # fifty hosts heartbeating every second would be most of what the machine does
        DEFAULT={"report_interval": 10, "service_down_time": 120},
        messaging={"rpc_timeout": args.timeout},
        compute={"fake_power_off_seconds": 0.0, "periodic_interval": 2.0,
                 "fake_vcpus": 4096, "fake_memory_mb": 4 * 1024 * 1024, "fake_disk_gb": BIG},
        quota={"instances": BIG, "cores": BIG, "ram": BIG * 1024},
        api={"max_limit": PAGE},
        # five processes hold database connections: 5 x (8 + 8) stays under PostgreSQL's 100
        database={"max_pool_size": 8, "max_overflow": 8})
    for name in (*deployment.conductors, *deployment.schedulers, *deployment.hosts, "api"):
        deployment.start(name)
    # dozens of processes importing at once take a while on two cores
    deployment.wait_ready(timeout=args.timeout)
    return deployment


class Clients:
    """One keep-alive client per thread of a pool."""

    def __init__(self, deployment: Deployment, threads: int):
        self.deployment = deployment
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bench-client")
        self._clients: dict[int, common.Client] = {}

    def _client(self) -> common.Client:
        key = threading.get_ident()
        if key not in self._clients:
            self._clients[key] = common.Client("127.0.0.1", self.deployment.port, ADMIN_TOKEN)
        return self._clients[key]

    def map(self, function, items) -> list:
        return list(self.pool.map(lambda item: function(self._client(), item), items))

    def close(self) -> None:
        self.pool.shutdown()
        for client in self._clients.values():
            client.close()


def count_in_status(client: common.Client, status: str) -> int:
    """Servers in `status`, up to a page: enough to tell none from some."""
    return len(client.expect("GET", f"/servers?status={status}&limit={PAGE}", None,
                             (200,))["servers"])


def wait_until_none(client: common.Client, status: str, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while count_in_status(client, status):
        if count_in_status(client, "ERROR"):
            raise common.BenchError("servers went to ERROR")
        if time.perf_counter() > deadline:
            raise common.BenchError(f"servers still {status} after {timeout}s")
        time.sleep(1.0)
    if count_in_status(client, "ERROR"):
        raise common.BenchError("servers went to ERROR")


def grow(deployment: Deployment, clients: Clients, watcher: common.Client, total: int,
         timeout: float) -> float:
    """Create servers until there are `total`; the seconds it took."""
    with deployment.db.transaction() as session:
        have = session.scalar(select(func.count(Instance.id)).where(Instance.deleted.is_(False)))
    started = time.perf_counter()
    clients.map(lambda client, n: client.create(f"scale-{n}"), range(have, total))
    wait_until_none(watcher, "BUILD", timeout)
    return time.perf_counter() - started


def seed_migrations(deployment: Deployment, total: int) -> int:
    """Write finished, confirmed moves between the cloud's hosts until the table holds `total`
    rows; how many were written."""
    db = deployment.db
    with db.transaction() as session:
        have = session.scalar(select(func.count(Migration.id)))
        servers = list(session.execute(select(Instance.uuid, Instance.host).where(
            Instance.deleted.is_(False))).all())
    hosts = deployment.hosts
    written = 0
    base = datetime.datetime.utcnow() - datetime.timedelta(days=30)
    for start_at in range(have, total, SEED_CHUNK):
        rows = []
        for n in range(start_at, min(start_at + SEED_CHUNK, total)):
            server_uuid, host = servers[n % len(servers)]
            other = hosts[(hosts.index(host) + 1) % len(hosts)]
            when = base + datetime.timedelta(seconds=n)
            rows.append({"uuid": str(uuid.uuid4()), "instance_uuid": server_uuid,
                         "source_compute": other, "source_node": other,
                         "dest_compute": host, "dest_node": host, "dest_host": "127.0.1.1",
                         "old_instance_type_id": 1, "new_instance_type_id": 1,
                         "status": "confirmed", "migration_type": "migration",
                         "hidden": False, "deleted": False, "created_at": when,
                         "updated_at": when, "project_id": "admin", "user_id": "admin"})
        with db.transaction() as session:
            session.execute(insert(Migration), rows)
        written += len(rows)
    return written


def measure_get(client: common.Client, cpu: DeploymentCPU, path: str, rounds: int) -> dict:
    """Round trips of `path`, and the api's CPU per request over all rounds (/proc counts in
    10 ms ticks: one request alone would round to 0 or 10)."""
    seconds = []
    cpu()
    for _ in range(rounds):
        t0 = time.perf_counter()
        client.expect("GET", path, None, (200,))
        seconds.append(time.perf_counter() - t0)
    cpu()
    return {**common.summary(seconds),
            "api_cpu_ms": round(cpu_between(cpu, "api") / rounds * 1000, 1)}


def cpu_between(cpu: DeploymentCPU, prefix: str) -> float:
    """CPU seconds the processes named `prefix`... used between the last two samples."""
    before, after = cpu.samples[-2], cpu.samples[-1]
    return sum(after[name] - before.get(name, 0) for name in after if name.startswith(prefix))


def measure_select_destinations(deployment: Deployment, cpu: DeploymentCPU,
                                rounds: int) -> dict:
    """The schedulers' select_destinations as the conductor calls it, for a new 1-vCPU
    server; the claim each call makes is removed after it."""
    bus = deployment.bus()
    scheduler = SchedulerAPI(bus)
    request = {"resources": {"vcpus": 1, "memory_mb": 512, "disk_gb": 1},
               "availability_zone": None, "image_properties": {}}
    seconds = []
    cpu()
    try:
        for _ in range(rounds):
            consumer = str(uuid.uuid4())
            t0 = time.perf_counter()
            scheduler.select_destinations(admin_context(), request=request,
                                          instance_uuid=consumer, ignore_hosts=[])
            seconds.append(time.perf_counter() - t0)
            placement.remove(deployment.db, consumer)
    finally:
        bus.close()
    cpu()
    return {**common.summary(seconds),
            "schedulers_cpu_ms": round(cpu_between(cpu, "scheduler") / rounds * 1000, 1)}


def deep_marker(client: common.Client, path: str, key: str, depth: int) -> str | None:
    """The id of the item `depth` items into a list, read page by page."""
    marker, seen = None, 0
    while seen < depth:
        # never read past `depth`: the marker is the item there, not the end of its page
        query = f"{path}?limit={min(PAGE, depth - seen)}" + \
            (f"&marker={marker}" if marker else "")
        items = client.expect("GET", query, None, (200,))[key]
        if not items:
            return marker
        seen += len(items)
        marker = items[-1]["id" if key == "servers" else "uuid"]
    return marker


def measure_size(deployment: Deployment, client: common.Client, cpu: DeploymentCPU,
                 rounds: int, servers: int) -> dict:
    server_marker = deep_marker(client, "/servers/detail", "servers", servers // 2)
    migration_marker = deep_marker(client, "/os-migrations", "migrations", servers * 5)
    requests = {
        "GET /servers/detail, first page of 1,000": f"/servers/detail?limit={PAGE}",
        "GET /servers/detail, a page of 1,000 halfway": f"/servers/detail?limit={PAGE}"
                                                       f"&marker={server_marker}",
        "GET /os-migrations, first page of 1,000": f"/os-migrations?limit={PAGE}",
        "GET /os-migrations, a page of 1,000 halfway": f"/os-migrations?limit={PAGE}"
                                                      f"&marker={migration_marker}",
        "GET /os-hypervisors/detail": "/os-hypervisors/detail",
    }
    found = {label: measure_get(client, cpu, path, rounds) for label, path in requests.items()}
    found["select_destinations (RPC)"] = measure_select_destinations(deployment, cpu, rounds)
    return found


def resident_memory(deployment: Deployment) -> dict[str, float]:
    """VmRSS of each process, in MiB."""
    found = {}
    for name, process in deployment.processes.items():
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except FileNotFoundError:
            continue
        kib = next(int(line.split()[1]) for line in status.splitlines()
                   if line.startswith("VmRSS:"))
        found[name] = round(kib / 1024, 1)
    return found


def by_service(memory: dict[str, float]) -> dict[str, float]:
    computes = [mib for name, mib in memory.items() if name.startswith("compute")]
    found = {name: mib for name, mib in memory.items() if not name.startswith("compute")}
    if computes:
        found["compute (max)"] = max(computes)
        found["compute (median)"] = statistics.median(computes)
    return found


def server_ids(client: common.Client, count: int | None = None,
               status: str | None = None) -> list[str]:
    """The ids of the first `count` servers (all of them for None), of those in `status` if
    given, page by page."""
    ids, marker = [], None
    status_filter = f"&status={status}" if status else ""
    while count is None or len(ids) < count:
        query = f"/servers?limit={PAGE}{status_filter}" + (f"&marker={marker}" if marker else "")
        page = client.expect("GET", query, None, (200,))["servers"]
        if not page:
            break
        ids += [s["id"] for s in page]
        marker = page[-1]["id"]
    return ids if count is None else ids[:count]


def memory_after_moves(deployment: Deployment, clients: Clients, watcher: common.Client,
                       moves: int, batch: int, timeout: float) -> list[dict]:
    """Migrate and confirm `moves` servers, `batch` at a time (going round the cloud's servers
    again when it has fewer than `moves`); each service's memory after each batch, and the
    moves that rolled back instead of reaching VERIFY_RESIZE (counted, not confirmed)."""
    samples = [{"moves": 0, **by_service(resident_memory(deployment))}]
    ids = server_ids(watcher, moves)
    done = 0
    while done < moves:
        chunk = [ids[(done + n) % len(ids)] for n in range(min(batch, moves - done))]
        clients.map(lambda client, s: client.action(s, {"migrate": None}), chunk)
        wait_until_none(watcher, "RESIZE", timeout)
        waiting = set(server_ids(watcher, status="VERIFY_RESIZE"))
        rolled_back = [s for s in chunk if s not in waiting]
        clients.map(lambda client, s: client.action(s, {"confirmResize": None}),
                    [s for s in chunk if s in waiting])
        wait_until_none(watcher, "VERIFY_RESIZE", timeout)
        done += len(chunk)
        samples.append({"moves": done, "rolled_back": len(rolled_back),
                        **by_service(resident_memory(deployment))})
        print(f"  memory after {done} moves: {samples[-1]}", flush=True)
    return samples


def run(root: Path, args, steps: list[int], result: dict) -> None:
    deployment = start(root, args)
    cpu = DeploymentCPU(deployment)
    clients = Clients(deployment, args.client_threads)
    watcher = common.Client("127.0.0.1", deployment.port, ADMIN_TOKEN)
    try:
        for size in steps:
            grown = grow(deployment, clients, watcher, size, args.timeout)
            seeded = seed_migrations(deployment, size * args.migrations_per_server)
            print(f"{size} servers (created in {grown:.0f} s), {seeded} migration rows "
                  "written", flush=True)
            measured = measure_size(deployment, watcher, cpu, args.rounds, size)
            result["sizes"][size] = {"create_s": round(grown, 1), "measured": measured,
                                     "memory_mib": by_service(resident_memory(deployment))}
            for label, numbers in measured.items():
                print(f"  {label}: {numbers}", flush=True)
        if args.memory_moves:
            result["memory_after_moves"] = memory_after_moves(
                deployment, clients, watcher, args.memory_moves, args.batch, args.timeout)
    except common.BenchError:
        print_fault_summary(deployment.db)
        print(f"the services' logs are in {root}/logs")
        raise
    finally:
        watcher.close()
        clients.close()
        deployment.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="1000,10000",
                        help="the sizes to measure at, in servers, comma-separated")
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--migrations-per-server", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--memory-moves", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds the deployment may take to come up, and each wait")
    common.add_run_options(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    common.loopback_only()
    steps = [int(step) for step in args.steps.split(",")]

    today = datetime.date.today().isoformat()
    result = {"kind": "scale", "date": today, "label": args.label, "machine": common.machine(),
              "herder": common.provenance(), "loadavg_start": os.getloadavg(),
              "config": {"hosts": args.hosts, "steps": steps, "database": databases.KIND,
                         "processes": f"api, 2 conductors, 2 schedulers, {args.hosts} computes",
                         "migrations_per_server": args.migrations_per_server,
                         "rounds": args.rounds}, "sizes": {}}
    root = tempfile.mkdtemp(prefix="herder-bench-scale-")   # kept when the run fails: its logs
    run(Path(root), args, steps, result)
    shutil.rmtree(root)
    result["loadavg_end"] = os.getloadavg()
    if not args.no_save:
        path = os.path.join(HERE, "results", f"scale-{today}.json")
        common.save(result, path)
        print(f"\nappended to {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
