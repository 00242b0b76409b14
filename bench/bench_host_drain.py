"""A host drain beside the same number of plain concurrent migrates, in one embedded cloud.

    .venv/bin/python bench/bench_host_drain.py [--servers 1000] [--hosts 10]
        [--max-per-source 20] [--max-per-destination 5]

Starts an EmbeddedCloud as bench_embedded.py does (fake driver, power-off time 0, SQLite,
memory:// bus, large hosts, quota out of the way), puts `--servers` servers on compute1 (the
other hosts disabled while they are built), then, one after the other on the same servers:

1. drain: POST /herder/v1/host-drains for compute1 with the limits and auto-confirm, polled
   (GET /herder/v1/host-drains/{id}) until completed: every server moved off and confirmed;
2. restore: POST .../restore of that drain, polled until completed: every server back on
   compute1 and confirmed;
3. plain: every server's migrate action fired at once from a pool of client threads, waited
   to VERIFY_RESIZE, then every confirm fired at once, waited to ACTIVE (bench_embedded.py's
   throughput phase): the same moves, from compute1 to the other hosts, without limits.

Each phase reports its wall time, moves per second and the cloud's CPU per move, and the most
moves that were at work at once out of one host and into one host, from the migration records
(created_at to updated_at, the confirm included). Prints a table and appends the run to
bench/results/host-drain-<date>.json. A benchmark, not a test: nothing asserts timings.
"""
import argparse
import datetime
import json
import logging
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select, update

import bench_embedded as common  # (bench/ is this script's directory)
from herder.conf import build_conf
from herder.db import services
from herder.db.models import Migration, Service
from herder.embedded import EmbeddedCloud

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = "compute1"


def herder_api(client: common.Client, method: str, path: str, body: dict | None = None,
               statuses: tuple[int, ...] = (200, 202)) -> dict:
    """A call to herder's own API (/herder/v1) on the client's keep-alive connection."""
    conn = client._conn
    conn.request(method, f"/herder/v1{path}", body=json.dumps(body) if body else None,
                 headers=client._headers)
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"null")
    if resp.status not in statuses:
        raise common.BenchError(f"{method} {path} -> {resp.status} {data}")
    return data


class ThreadClients:
    """One keep-alive client per pool thread (http.client is not thread-safe)."""

    def __init__(self, target: common.Target):
        self.target, self.local, self.made = target, threading.local(), []
        self.lock = threading.Lock()

    def __call__(self) -> common.Client:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = self.target.client()
            with self.lock:
                self.made.append(client)
        return client

    def close(self) -> None:
        for client in self.made:
            client.close()


def set_other_hosts(cloud: EmbeddedCloud, disabled: bool) -> None:
    with cloud.db.transaction() as session:
        session.execute(update(Service).where(
            Service.binary == services.COMPUTE_BINARY, Service.host != SOURCE).values(
            disabled=disabled))


def servers_on_source(cloud: EmbeddedCloud, target: common.Target, count: int,
                      workers: int, poll: float, timeout: float) -> tuple[list[str], float]:
    set_other_hosts(cloud, disabled=True)
    clients, watcher = ThreadClients(target), target.client()
    try:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            ids = list(pool.map(lambda i: clients().create(f"drained-{i}"), range(count)))
        end, _ = common.wait_all(watcher, set(ids), "BUILD", "ACTIVE", poll, timeout)
    finally:
        clients.close()
        watcher.close()
        set_other_hosts(cloud, disabled=False)
    return ids, end - t0


def most_at_once(cloud: EmbeddedCloud, since_id: int) -> dict:
    """The most migrations (of id > since_id) at work at one instant out of one host and into
    one host, each counted from its created_at to its updated_at."""
    with cloud.db.transaction() as session:
        rows = list(session.scalars(select(Migration).where(Migration.id > since_id)))
    found = {}
    for side, host_of in (("per_source", lambda m: m.source_compute),
                          ("per_destination", lambda m: m.dest_compute)):
        events: dict[str, list] = {}
        for m in rows:
            events.setdefault(host_of(m), []).extend(
                [(m.created_at, 1), (m.updated_at or m.created_at, -1)])
        most = 0
        for points in events.values():
            running = 0
            for _, step in sorted(points):
                running += step
                most = max(most, running)
        found[side] = most
    found["migrations"] = len(rows)
    found["statuses"] = sorted({m.status for m in rows})
    return found


def newest_migration_id(cloud: EmbeddedCloud) -> int:
    with cloud.db.transaction() as session:
        return max(session.scalars(select(Migration.id)), default=0)


def run_job(cloud: EmbeddedCloud, client: common.Client, path: str, body: dict,
            poll: float, timeout: float) -> dict:
    """Start a drain or restore, poll it to its end: wall time, CPU, and its outcome."""
    since = newest_migration_id(cloud)
    t0, cpu0 = time.perf_counter(), common.process_cpu()
    job = herder_api(client, "POST", path, body)["host_drain"]
    deadline = t0 + timeout
    polls = 0
    while True:
        shown = herder_api(client, "GET", f"/host-drains/{job['id']}")["host_drain"]
        polls += 1
        if shown["status"] in ("completed", "cancelled"):
            break
        if time.perf_counter() > deadline:
            raise common.BenchError(f"job {job['id']} not done after {timeout}s: "
                                    f"{shown['servers_by_state']}")
        time.sleep(poll)
    wall, cpu = time.perf_counter() - t0, common.process_cpu() - cpu0
    moved = shown["servers_by_state"]["moved"]
    return {"job": job["id"], "status": shown["status"], "by_state": shown["servers_by_state"],
            "wall_s": round(wall, 2), "moves_per_s": round(moved / wall, 2) if wall else None,
            "cpu_ms_per_move": round(cpu / max(moved, 1) * 1000, 1), "progress_polls": polls,
            "at_once": most_at_once(cloud, since)}


def plain(cloud: EmbeddedCloud, target: common.Target, ids: list[str], workers: int,
          poll: float, timeout: float) -> dict:
    """Every migrate at once, then every confirm at once (the same moves, no limits)."""
    since = newest_migration_id(cloud)
    clients, watcher = ThreadClients(target), target.client()
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            t0, cpu0 = time.perf_counter(), common.process_cpu()
            list(pool.map(lambda s: clients().action(s, {"migrate": None}), ids))
            end_migrate, _ = common.wait_all(watcher, set(ids), "RESIZE", "VERIFY_RESIZE",
                                             poll, timeout)
            list(pool.map(lambda s: clients().action(s, {"confirmResize": None}), ids))
            end, _ = common.wait_all(watcher, set(ids), "VERIFY_RESIZE", "ACTIVE", poll,
                                     timeout)
            cpu = common.process_cpu() - cpu0
    finally:
        clients.close()
        watcher.close()
    wall = end - t0
    return {"wall_s": round(wall, 2), "migrate_s": round(end_migrate - t0, 2),
            "moves_per_s": round(len(ids) / wall, 2),
            "cpu_ms_per_move": round(cpu / len(ids) * 1000, 1),
            "at_once": most_at_once(cloud, since)}


def print_table(result: dict) -> None:
    c = result["config"]
    print()
    print(f"herder host drain bench  {result['date']}  servers={c['servers']}  "
          f"hosts={c['hosts']}  limits {c['max_per_source']}/source "
          f"{c['max_per_destination']}/destination  nproc={result['machine']['nproc']}  "
          f"load average {result['loadavg_start'][0]:.2f} -> {result['loadavg_end'][0]:.2f}")
    print(f"  create {c['servers']} servers on {SOURCE}: {result['create_s']:.1f} s")
    print(f"{'phase':<44}{'wall s':>9}{'moves/s':>9}{'CPU ms/move':>13}"
          f"{'max out':>9}{'max in':>8}")
    for name, label in (("drain", "drain (moves + auto-confirm, limited)"),
                        ("restore", "restore (moves back + auto-confirm)"),
                        ("plain", "plain: all migrates, then all confirms")):
        p = result[name]
        print(f"{label:<44}{p['wall_s']:>9.1f}{p['moves_per_s']:>9.2f}"
              f"{p['cpu_ms_per_move']:>13.1f}{p['at_once']['per_source']:>9}"
              f"{p['at_once']['per_destination']:>8}")
    print(f"  drain wall / plain wall: {result['drain']['wall_s'] / result['plain']['wall_s']:.2f}"
          f"   drain: {result['drain']['by_state']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--max-per-source", type=int, default=20)
    parser.add_argument("--max-per-destination", type=int, default=5)
    parser.add_argument("--drain-interval", type=float, default=0.2,
                        help="conf conductor.host_drain_interval")
    parser.add_argument("--progress-poll-interval", type=float, default=0.5)
    parser.add_argument("--periodic-interval", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=3600.0)
    common.add_run_options(parser)
    args = parser.parse_args(argv)
    args.bus_polling_interval = None   # what bench_embedded's cloud_settings reads

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    common.loopback_only()
    today = datetime.date.today().isoformat()
    result = {"date": today, "started": datetime.datetime.now().isoformat(timespec="seconds"),
              "label": args.label, "machine": common.machine(), "herder": common.provenance(),
              "loadavg_start": os.getloadavg(),
              "config": {"servers": args.servers, "hosts": args.hosts,
                         "max_per_source": args.max_per_source,
                         "max_per_destination": args.max_per_destination,
                         "host_drain_interval_s": args.drain_interval,
                         "periodic_interval_s": args.periodic_interval,
                         "client_threads": args.client_threads}}
    limits = {"max_per_source": args.max_per_source,
              "max_per_destination": args.max_per_destination, "auto_confirm": True}
    with tempfile.TemporaryDirectory(prefix="herder-bench-") as state_dir:
        settings = common.cloud_settings(state_dir, args)
        cloud = EmbeddedCloud(build_conf(**settings,
                                         conductor__host_drain_interval=args.drain_interval),
                              hosts=args.hosts)
        cloud.start()
        try:
            target = common.Target.embedded(cloud)
            ids, result["create_s"] = servers_on_source(
                cloud, target, args.servers, args.client_threads, args.progress_poll_interval,
                args.timeout)
            client = target.client()
            try:
                result["drain"] = run_job(
                    cloud, client, "/host-drains", {"host_drain": {"host": SOURCE, **limits}},
                    args.progress_poll_interval, args.timeout)
                result["restore"] = run_job(
                    cloud, client, f"/host-drains/{result['drain']['job']}/restore",
                    {"restore": None}, args.progress_poll_interval, args.timeout)
            finally:
                client.close()
            result["plain"] = plain(cloud, target, ids, args.client_threads,
                                    args.progress_poll_interval, args.timeout)
        finally:
            cloud.stop()
    result["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    result["loadavg_end"] = os.getloadavg()
    print_table(result)
    if not args.no_save:
        path = os.path.join(HERE, "results", f"host-drain-{today}.json")
        common.save(result, path, "bench/bench_host_drain.py")
        print(f"\nappended to {os.path.relpath(path)}")
    return 0 if result["drain"]["by_state"]["moved"] == args.servers else 1


if __name__ == "__main__":
    sys.exit(main())
