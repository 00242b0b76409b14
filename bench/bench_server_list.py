"""What listing servers costs: GET /servers and /servers/detail over N servers, through the API.

    .venv/bin/python bench/bench_server_list.py [--servers 200] [--rounds 30] [--against REV]

Starts an EmbeddedCloud in this process (fake driver, SQLite in a temporary state directory,
memory:// bus, HTTP on 127.0.0.1 port 0, 3 hosts), creates --servers servers through the API
and waits until they are ACTIVE, then sends each list request below --rounds times from one
keep-alive connection (http.client, admin token, microversion 2.80). For each it reports the
round trip (median and p95) and the process CPU per request: the cloud and the client share the
process, and the client's share is small (it only parses the JSON).

--against REV runs the same measurement a second time on a `git archive` of REV (a child
process with PYTHONPATH on it) and prints both side by side. This is a benchmark, not a test:
nothing here asserts timings.
"""
import argparse
import http.client
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MICROVERSION = "compute 2.80"
LISTS = [  # (label, path): the whole list, its summary, one page, a name pattern, a status
    ("detail, every server", "/servers/detail"),
    ("summary, every server", "/servers"),
    ("detail, a page of 20", "/servers/detail?limit=20"),
    ("detail, name=^vm-1", "/servers/detail?name=%5Evm-1"),
    ("detail, status=ACTIVE, by name", "/servers/detail?status=ACTIVE&sort_key=display_name"),
]


class Client:
    """One keep-alive HTTP/1.1 connection (http.client is not thread-safe: one per thread)."""

    def __init__(self, endpoint: str, token: str):
        host, port = endpoint.split("//", 1)[1].rsplit(":", 1)
        self._conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self._headers = {"X-Auth-Token": token, "OpenStack-API-Version": MICROVERSION,
                         "Accept": "application/json", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        self._conn.request(method, f"/v2.1{path}", body=data, headers=self._headers)
        resp = self._conn.getresponse()
        raw = resp.read()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path} -> {resp.status} {raw[:200]!r}")
        return json.loads(raw) if raw else {}


def create_servers(endpoint: str, token: str, count: int, timeout: float = 300) -> None:
    local = threading.local()

    def create(number: int) -> None:
        if not hasattr(local, "client"):
            local.client = Client(endpoint, token)
        local.client.call("POST", "/servers", {"server": {
            "name": f"vm-{number}", "flavorRef": "1", "imageRef": _image_id(),
            "networks": "auto"}})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, range(count)))
    client = Client(endpoint, token)
    deadline = time.monotonic() + timeout
    while True:
        listed = client.call("GET", "/servers/detail?limit=5000")["servers"]
        active = sum(1 for s in listed if s["status"] == "ACTIVE")
        if active == count:
            return
        if any(s["status"] == "ERROR" for s in listed) or time.monotonic() > deadline:
            raise RuntimeError(f"{active} of {count} servers became ACTIVE")
        time.sleep(0.5)


def _image_id() -> str:
    from herder import catalogue
    return catalogue.IMAGE_ID


def measure(servers: int, rounds: int) -> dict:
    from herder.conf import build_conf
    from herder.embedded import EmbeddedCloud
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-list-") as state_dir:
        big = 1_000_000
        cloud = EmbeddedCloud(build_conf(
            state_dir=state_dir, api__listen="127.0.0.1", api__port=0, api__max_limit=5000,
            compute__fake_power_off_seconds=0.0, compute__periodic_interval=1.0,
            compute__fake_vcpus=4096, compute__fake_memory_mb=4 * 1024 * 1024,
            compute__fake_disk_gb=big, quota__instances=big, quota__cores=big,
            quota__ram=big * 1024), hosts=3)
        cloud.start()
        try:
            token = cloud.conf.admin_token
            create_servers(cloud.endpoint, token, servers)
            client = Client(cloud.endpoint, token)
            results = {}
            for label, path in LISTS:
                client.call("GET", path)   # warm
                took = []
                cpu_before = time.process_time()
                for _ in range(rounds):
                    started = time.perf_counter()
                    shown = len(client.call("GET", path)["servers"])
                    took.append((time.perf_counter() - started) * 1000)
                cpu = (time.process_time() - cpu_before) * 1000 / rounds
                results[label] = {"median_ms": statistics.median(took),
                                  "p95_ms": sorted(took)[int(0.95 * (len(took) - 1))],
                                  "cpu_ms": cpu, "servers_shown": shown}
            return results
        finally:
            cloud.stop()


def measure_at(revision: str, servers: int, rounds: int) -> dict:
    """The same measurement on `revision`'s herder package, in a child process."""
    with tempfile.TemporaryDirectory(prefix="bench-list-rev-") as tree:
        archive = subprocess.run(["git", "-C", REPO, "archive", revision, "herder"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        env = {**os.environ, "PYTHONPATH": tree}
        child = subprocess.run([sys.executable, __file__, "--servers", str(servers),
                                "--rounds", str(rounds), "--json"], env=env, check=True,
                               capture_output=True, text=True, cwd=tree)
        result = json.loads(child.stdout.strip().splitlines()[-1])
        if not result["herder"].startswith(tree):   # an installed herder took precedence
            raise RuntimeError(f"the child ran the herder at {result['herder']}, not {tree}")
        return result["lists"]


def _commit(revision: str = "HEAD") -> str:
    return subprocess.run(["git", "-C", REPO, "rev-parse", "--short", revision],
                          capture_output=True, text=True).stdout.strip()


def print_table(columns: dict[str, dict]) -> None:
    names = list(columns)
    print("| request | " + " | ".join(f"{n}: median / p95 ms, CPU ms" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for label, _ in LISTS:
        cells = [f"{c[label]['median_ms']:.1f} / {c[label]['p95_ms']:.1f}, "
                 f"{c[label]['cpu_ms']:.1f}" for c in columns.values()]
        shown = columns[names[0]][label]["servers_shown"]
        print(f"| {label} ({shown} shown) | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--against", metavar="REV",
                        help="also measure this git revision, and print both side by side")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON only")
    args = parser.parse_args()
    if args.json:
        import herder
        print(json.dumps({"herder": os.path.dirname(herder.__file__),
                          "lists": measure(args.servers, args.rounds)}))
        return
    sys.path.insert(0, REPO)
    columns = {}
    if args.against:
        columns[f"{args.against} ({_commit(args.against)})"] = \
            measure_at(args.against, args.servers, args.rounds)
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "herder"],
                           capture_output=True, text=True).stdout.strip()
    columns[f"working tree ({_commit()}{' + changes' if dirty else ''})"] = \
        measure(args.servers, args.rounds)
    print(f"{args.servers} servers, {args.rounds} rounds each, load average "
          f"{os.getloadavg()[0]:.1f}")
    print_table(columns)


if __name__ == "__main__":
    main()
