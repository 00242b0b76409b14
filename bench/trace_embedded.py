"""Where a move's time goes: the latency phase of bench_embedded.py, traced span by span.

    .venv/bin/python bench/trace_embedded.py [--moves 30] [--hosts 10] [--poll-interval 0.001]

Runs migrate -> VERIFY_RESIZE then confirm -> ACTIVE, one move at a time, like the benchmark,
with timing wrappers patched into the running process (herder's code is not changed):

  api <METHOD> <route>        a WSGI request, server side
  rpc <topic>.<method>        an RPC handler on its worker thread (conductor, scheduler, compute)
  step <workflow>.<step>      one conductor workflow step
  call <topic>.<method>       an RPC call as the caller sees it (round trip)
  db transaction              one database transaction: a `Database.transaction()` block, or a
                              `one_transaction()` block with the transactions inside it
  bus publish                 putting one message on the bus

For each span it reports, per move, how many there were, their wall time and the CPU time their
thread used (`time.thread_time`): wall well above CPU means waiting (for the GIL, the SQLite
write lock, or a reply). "self" columns subtract the nested spans. `--db-callers` names each
transaction after the herder function that opened it (`instances.update`, `journal.step_state`).

Below the table: bus hops, from publish to the start of the handler (or to the caller's reply
consumer), and `db BEGIN wait`, the time herder's BEGIN listener takes (on SQLite, BEGIN
IMMEDIATE waiting for the write lock, including the busy handler's sleeps), by the request or
RPC handler that waited. Everything runs on a 127.0.0.1 cloud configured as in the bench.
"""
import argparse
import collections
import dataclasses
import functools
import logging
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_embedded as bench  # noqa: E402
from sqlalchemy import event  # noqa: E402

from herder.bus import rpc  # noqa: E402
from herder.conductor import engine  # noqa: E402
from herder.conf import build_conf  # noqa: E402
from herder.db import session as db_session  # noqa: E402
from herder.embedded import EmbeddedCloud  # noqa: E402

STAMP = "_bench_published"


class Tracer:
    def __init__(self):
        self.local = threading.local()
        self.lock = threading.Lock()
        self.phase = "setup"
        # (phase, span path) -> [count, wall, cpu, child wall, child cpu]
        self.spans: dict = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0])
        self.hops: dict = collections.defaultdict(list)   # (phase, hop) -> seconds

    def _stack(self) -> list:
        stack = getattr(self.local, "stack", None)
        if stack is None:
            stack = self.local.stack = []
        return stack

    @contextmanager
    def span(self, name: str):
        stack = self._stack()
        frame = [name, 0.0, 0.0]          # name, child wall, child cpu
        stack.append(frame)
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
            stack.pop()
            if stack:
                stack[-1][1] += wall
                stack[-1][2] += cpu
            # aggregate by the innermost meaningful parent, to keep the table readable
            parent = next((f[0] for f in reversed(stack) if not f[0].startswith("db ")), "")
            if name.startswith("db ") and stack and stack[-1][0].startswith("db "):
                name = f"{name} (nested)"
            key = (self.phase, name if not parent else f"{parent} > {name}")
            with self.lock:
                entry = self.spans[key]
                entry[0] += 1
                entry[1] += wall
                entry[2] += cpu
                entry[3] += frame[1]
                entry[4] += frame[2]

    def hop(self, name: str, seconds: float) -> None:
        with self.lock:
            self.hops[(self.phase, name)].append(seconds)


def _db_caller() -> str:
    """`module.function` of the herder code that opened the transaction."""
    frame = sys._getframe(3)  # transaction wrapper <- contextmanager __enter__ <- caller
    while frame is not None and frame.f_code.co_filename.endswith("contextlib.py"):
        frame = frame.f_back
    if frame is None:
        return "?"
    module = os.path.splitext(os.path.basename(frame.f_code.co_filename))[0]
    return f"{module}.{frame.f_code.co_name}"


def install(tracer: Tracer, cloud: EmbeddedCloud, db_callers: bool = False) -> None:
    """Wrap the few seams every request and move goes through."""
    # db transactions: a `transaction()` inside a `one_transaction()` block is part of the
    # block's transaction, so only the outermost block of a thread counts as one
    original_transaction = db_session.Database.transaction
    original_one_transaction = db_session.Database.one_transaction

    def traced(original):
        @contextmanager
        def wrapper(self, *args, **kwargs):
            if getattr(self._shared, "session", None) is not None:
                with original(self, *args, **kwargs) as inner:
                    yield inner
                return
            name = f"db transaction {_db_caller()}" if db_callers else "db transaction"
            with tracer.span(name):
                with original(self, *args, **kwargs) as inner:
                    yield inner
        return wrapper
    db_session.Database.transaction = traced(original_transaction)
    db_session.Database.one_transaction = traced(original_one_transaction)

    # how long herder's BEGIN (IMMEDIATE, on SQLite) waits for the write lock: time its listener
    engine_ = cloud.db.engine
    for listener in list(engine_.dispatch.begin):
        event.remove(engine_, "begin", listener)

        def timed_begin(conn, _listener=listener):
            started = time.perf_counter()
            _listener(conn)
            stack = tracer._stack()
            where = stack[0][0].split(" > ")[0] if stack else "other"
            tracer.hop(f"db BEGIN wait (SQLite write lock) in {where}",
                       time.perf_counter() - started)
        event.listen(engine_, "begin", timed_begin)

    # bus: publish stamps the body so the receiving side can time the hop
    original_publish = rpc.Bus.publish

    def publish(self, body, routing_key, *args, **kwargs):
        body = {**body, STAMP: time.perf_counter()}
        with tracer.span("bus publish"):
            return original_publish(self, body, routing_key, *args, **kwargs)
    rpc.Bus.publish = publish

    original_call = rpc.Bus.call

    def call(self, topic, method, *args, **kwargs):
        with tracer.span(f"call {topic.split('.')[0]}.{method}"):
            return original_call(self, topic, method, *args, **kwargs)
    rpc.Bus.call = call

    original_on_reply = rpc.Bus._on_reply

    def on_reply(self, body, message):
        if STAMP in body:
            tracer.hop("bus reply: publish -> caller's consumer", time.perf_counter() - body[STAMP])
        return original_on_reply(self, body, message)
    rpc.Bus._on_reply = on_reply

    original_dispatch = rpc.RpcServer._dispatch

    def dispatch(self, body, *args, **kwargs):
        topic = self.topic.split(".")[0]
        name = f"{topic}.{body.get('method')}"
        if STAMP in body:
            tracer.hop(f"bus request: publish -> {topic} handler start",
                       time.perf_counter() - body[STAMP])
        with tracer.span(f"rpc {name}"):
            return original_dispatch(self, body, *args, **kwargs)
    rpc.RpcServer._dispatch = dispatch

    # workflow steps
    original_run = engine.Engine.run

    def run(self, flow, *args, **kwargs):
        original_steps = flow.steps

        def steps():
            return [dataclasses.replace(s, run=_spanned(tracer, f"step {flow.kind}.{s.name}",
                                                        s.run))
                    for s in original_steps()]
        flow.steps = steps
        return original_run(self, flow, *args, **kwargs)
    engine.Engine.run = run

    # the WSGI app (the HTTP server takes api_service.app at start: wrap before starting)
    app = cloud.api_service.app

    def wsgi(environ, start_response):
        path = environ.get("PATH_INFO", "")
        parts = path.rstrip("/").split("/")
        route = "/".join("{id}" if len(p) == 36 and p.count("-") == 4 else p for p in parts)
        with tracer.span(f"api {environ.get('REQUEST_METHOD')} {route}"):
            return app(environ, start_response)
    cloud.api_service.app = wsgi


def _spanned(tracer: Tracer, name: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with tracer.span(name):
            return fn(*args, **kwargs)
    return wrapper


def report(tracer: Tracer, phase: str, moves: int, latencies: list[float], cpu_s: float,
           wall_s: float, top: int) -> None:
    print(f"\n== {phase}: {moves} moves, median {statistics.median(latencies) * 1000:.1f} ms "
          f"(first GET showing the status); process CPU {cpu_s / moves * 1000:.1f} ms per move, "
          f"{cpu_s / wall_s * 100:.0f}% of one core")
    rows = [(k[1], v) for k, v in tracer.spans.items() if k[0] == phase]
    rows.sort(key=lambda r: -r[1][1])
    print(f"{'span (per move)':<64}{'count':>7}{'wall ms':>9}{'cpu ms':>8}{'self wall':>10}"
          f"{'self cpu':>9}")
    for name, (count, wall, cpu, cwall, ccpu) in rows[:top]:
        print(f"{name[:63]:<64}{count / moves:>7.1f}{wall / moves * 1000:>9.2f}"
              f"{cpu / moves * 1000:>8.2f}{(wall - cwall) / moves * 1000:>10.2f}"
              f"{(cpu - ccpu) / moves * 1000:>9.2f}")
    txns = [v for k, v in tracer.spans.items()
            if k[0] == phase and k[1].rpartition("> ")[2].startswith("db transaction")]
    n = sum(v[0] for v in txns)
    print(f"db transactions: {n / moves:.1f} per move, "
          f"{sum(v[1] for v in txns) / moves * 1000:.1f} ms wall, "
          f"{sum(v[2] for v in txns) / moves * 1000:.1f} ms cpu per move "
          f"({sum(v[1] for v in txns) / max(n, 1) * 1000:.2f} ms wall each)")
    hops = {k[1]: v for k, v in tracer.hops.items() if k[0] == phase}
    for name, values in sorted(hops.items()):
        total = sum(values) / moves * 1000
        print(f"{name:<52} {len(values) / moves:5.1f}/move  median "
              f"{statistics.median(values) * 1000:6.2f} ms  p95 "
              f"{bench.percentile(values, 95) * 1000:6.2f} ms  total {total:6.2f} ms/move")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moves", type=int, default=30)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--poll-interval", type=float, default=0.001)
    parser.add_argument("--periodic-interval", type=float, default=0.05)
    parser.add_argument("--bus-polling-interval", type=float, default=None)
    parser.add_argument("--move-limit", type=int, default=None,
                        help="[compute] max_concurrent_migrations (default: herder's, 8)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--db-callers", action="store_true",
                        help="name each transaction after the herder function that opened it")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tracer = Tracer()
    with tempfile.TemporaryDirectory(prefix="herder-trace-") as state_dir:
        cloud = EmbeddedCloud(build_conf(**bench.cloud_settings(state_dir, args)),
                              hosts=args.hosts)
        install(tracer, cloud, args.db_callers)
        cloud.start()
        client = bench.Client("127.0.0.1", cloud.port, cloud.conf.admin_token)
        try:
            server_id = client.create("trace")
            client.wait_status(server_id, "ACTIVE", 0.01, 60)
            for _ in range(3):  # warm up
                bench.timed_action(client, server_id, {"migrate": None}, "VERIFY_RESIZE",
                                   args.poll_interval, 60)
                bench.timed_action(client, server_id, {"confirmResize": None}, "ACTIVE",
                                   args.poll_interval, 60)
            results = {"migrate": [[], 0.0, 0.0], "confirm": [[], 0.0, 0.0]}
            for _ in range(args.moves):
                for phase, body, target in (("migrate", {"migrate": None}, "VERIFY_RESIZE"),
                                            ("confirm", {"confirmResize": None}, "ACTIVE")):
                    tracer.phase = phase
                    r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
                    total, _, _ = bench.timed_action(client, server_id, body, target,
                                                     args.poll_interval, 60)
                    # let the workflow's tail (journal, action finish) land in this phase
                    time.sleep(0.05)
                    r1, w1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
                    tracer.phase = "idle"
                    results[phase][0].append(total)
                    results[phase][1] += (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
                    results[phase][2] += w1 - w0
        finally:
            client.close()
            cloud.stop()
    for phase, (latencies, cpu_s, wall_s) in results.items():
        report(tracer, phase, args.moves, latencies, cpu_s, wall_s, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
