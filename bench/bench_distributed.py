"""Move latency and throughput of herder deployed as separate processes, through the real API.

    .venv/bin/python bench/bench_distributed.py [--moves 30] [--concurrent 1000] [--hosts 10]

Starts the deployment of tests/integration/deployment.py: api, conductor, scheduler and
`--hosts` compute hosts, each its own `herder` process (computes on 127.0.1.N, without database
credentials), on RabbitMQ at 127.0.0.1:5672 and the database `HERDER_TEST_DB` names
(postgresql by default here; mysql, or sqlite). Then the same phases as bench_embedded.py:
the GET baseline, one-at-a-time move latencies, and `--concurrent` servers migrated and
confirmed at once. CPU per move is the CPU of all the deployment's processes together.

Prints a table and appends the run to bench/results/distributed-<date>.json. This is a
benchmark, not a test: nothing here asserts timings.
"""
import argparse
import datetime
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))                 # the repository: tests.integration
os.environ.setdefault("HERDER_TEST_DB", "postgresql")    # read by tests.databases on import

import bench_embedded as common  # noqa: E402  (bench/ is this script's directory)
from sqlalchemy import func, select  # noqa: E402

from herder.db.models import InstanceFault  # noqa: E402
from tests import databases  # noqa: E402
from tests.integration.deployment import ADMIN_TOKEN, Deployment  # noqa: E402

BIG = 1_000_000


class DeploymentCPU:
    """CPU seconds used so far by every process of the deployment (from /proc). Each call also
    keeps the per-process figures, so that a phase's CPU can be split by service afterwards."""

    def __init__(self, deployment: Deployment):
        self.deployment = deployment
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.samples: list[dict[str, float]] = []

    def __call__(self) -> float:
        sample = {}
        for name, process in self.deployment.processes.items():
            try:
                fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            sample[name] = (int(fields[11]) + int(fields[12])) / self.ticks  # utime + stime
        self.samples.append(sample)
        return sum(sample.values())

    def by_service(self, first: int, last: int, moves: int) -> dict[str, float]:
        """ms of CPU per move between samples `first` and `last`, per service (all compute
        hosts together as `compute`)."""
        split: dict[str, float] = {}
        before, after = self.samples[first], self.samples[last]
        for name, seconds in after.items():
            service = "compute" if name.startswith("compute") else name
            split[service] = split.get(service, 0.0) + seconds - before.get(name, 0.0)
        return {service: round(seconds / moves * 1000, 1)
                for service, seconds in sorted(split.items())}


def print_fault_summary(db) -> None:
    """Why servers failed to get where the bench waited for them: their newest faults."""
    with db.transaction() as session:
        rows = session.execute(select(InstanceFault.message, func.count())
                               .group_by(InstanceFault.message)).all()
    for message, count in sorted(rows, key=lambda row: -row[1])[:10]:
        print(f"{count:6d} x fault: {message}")


def start(root: Path, hosts: int, args) -> Deployment:
    deployment = Deployment(
        root, hosts=hosts, conductors=args.conductors,
        DEFAULT={"report_interval": 5, "service_down_time": 60},
        messaging={"rpc_timeout": args.timeout},
        compute={"fake_power_off_seconds": 0.0, "periodic_interval": args.periodic_interval,
                 "fake_vcpus": 4096, "fake_memory_mb": 4 * 1024 * 1024, "fake_disk_gb": BIG,
                 "max_concurrent_migrations": args.move_limit},
        quota={"instances": BIG, "cores": BIG, "ram": BIG * 1024},
        api={"max_limit": common.LIST_LIMIT},
        # each process that has the database holds up to pool + overflow connections; with
        # more conductors, smaller pools keep the total under PostgreSQL's max_connections (100)
        database={} if args.conductors == 1 else {"max_pool_size": 10, "max_overflow": 10})
    deployment.start_all()
    return deployment


def requests_sent_again(logs: Path) -> int:
    """How many times the conductors sent a recorded request again, taking it for lost (none
    is lost in this bench: no service dies and the broker stays up)."""
    return sum(log.read_text(errors="replace").count("was not taken by any conductor")
               for log in logs.glob("conductor*.log"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moves", type=int, default=30)
    parser.add_argument("--concurrent", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--move-limit", type=int, default=32,
                        help="[compute] max_concurrent_migrations of every host: the moves it "
                             "takes part in at once (herder's default is 8)")
    parser.add_argument("--conductors", type=int, default=1,
                        help="conductor processes sharing the work (each has its own GIL)")
    parser.add_argument("--poll-interval", type=float, default=0.001)
    parser.add_argument("--progress-poll-interval", type=float, default=0.5)
    parser.add_argument("--baseline-gets", type=int, default=200)
    parser.add_argument("--periodic-interval", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    common.add_run_options(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    common.loopback_only()

    today = datetime.date.today().isoformat()
    result = {"kind": "distributed", "date": today, "started": datetime.datetime.now().isoformat(timespec="seconds"),
              "label": args.label, "machine": common.machine(), "herder": common.provenance(),
              "loadavg_start": os.getloadavg(),
              "config": {"hosts": args.hosts, "moves": args.moves, "concurrent": args.concurrent,
                         "move_limit": args.move_limit,
                         "database": databases.KIND, "bus": "RabbitMQ (amqp://127.0.0.1)",
                         "processes": f"api, {args.conductors} conductor(s), scheduler, "
                                      f"{args.hosts} computes",
                         "poll_interval_ms": args.poll_interval * 1000,
                         "microversion": common.MICROVERSION}}
    with tempfile.TemporaryDirectory(prefix="herder-bench-dist-") as root:
        t0 = time.perf_counter()
        deployment = start(Path(root), args.hosts, args)
        result["startup_s"] = round(time.perf_counter() - t0, 3)
        cpu = DeploymentCPU(deployment)
        target = common.Target("127.0.0.1", deployment.port, ADMIN_TOKEN, deployment.db, cpu)
        try:
            client = target.client()
            try:
                server_id = client.create("bench-latency")
                client.wait_status(server_id, "ACTIVE", args.poll_interval, args.timeout)
                result["baseline_get"] = common.baseline(client, server_id, args.baseline_gets)
                result["latency"] = common.latency(client, server_id, args.moves,
                                                   args.poll_interval, args.timeout)
            finally:
                client.close()
            if args.concurrent > 0:
                first_sample = len(cpu.samples)
                try:
                    result["throughput"] = common.throughput(
                        target, args.concurrent, args.client_threads,
                        args.progress_poll_interval, args.timeout)
                except common.BenchError:
                    print_fault_summary(deployment.db)
                    raise
                # throughput() samples the CPU at the start and end of the migrates, then
                # of the confirms
                result["throughput"]["cpu_ms_per_move_by_service"] = {
                    "migrate": cpu.by_service(first_sample, first_sample + 1, args.concurrent),
                    "confirm": cpu.by_service(first_sample + 2, first_sample + 3,
                                              args.concurrent)}
        finally:
            deployment.close()
            result["requests_sent_again"] = requests_sent_again(deployment.logs)
    result["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    result["loadavg_end"] = os.getloadavg()
    common.print_table(result)
    for phase, split in result.get("throughput", {}).get("cpu_ms_per_move_by_service",
                                                          {}).items():
        print(f"CPU per {phase} by service (ms): "
              + ", ".join(f"{service} {ms}" for service, ms in split.items()))
    print(f"requests the conductors sent again as lost: {result['requests_sent_again']}")
    if not args.no_save:
        path = os.path.join(HERE, "results", f"distributed-{today}.json")
        common.save(result, path)
        print(f"\nappended to {os.path.relpath(path)}")
    t = result.get("throughput")
    return 0 if not t or t["all_confirmed"] else 1


if __name__ == "__main__":
    sys.exit(main())
