"""Where a disk transfer's CPU goes: thread CPU time per phase, source and destination.

Sends a sparse file (`--size-gib`, 4 GiB, holding `--data-mib` of random data) from a
DiskSender on 127.0.1.1 to a TransferReceiver on 127.0.1.2 in this same process (the sender on
the main thread, the receiver on its session thread), `--runs` times, with the hot functions
wrapped to add up the CPU time (`time.thread_time`) of their outermost calls. Prints, for the
last run, each side's CPU seconds per GiB of data by phase (source: read_into, update (hashing),
send; destination: receive, verify (hashing), write, ...), and the whole of each side's thread
(`run`), so that what the phases do not explain shows. One process has one GIL; for throughput
use bench_transfer.py, which runs the destination in a process of its own.

    .venv/bin/python bench/profile_transfer.py                      # --runs 3 --data-mib 512
"""
import argparse
import collections
import functools
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from herder.transfer import partial_disk, protocol, receiver, sender, sparse  # noqa: E402

MIB = 1024 * 1024
GIB = 1024 * MIB
SPENT: dict[tuple[str, str], float] = collections.defaultdict(float)
CALLS: collections.Counter = collections.Counter()
_DEPTH = threading.local()
PHASES = [(sparse, ["read_into", "write_at"]),
          (sparse.ContentDigest, ["update", "chunk_check", "fingerprint", "hexdigest"]),
          (protocol, ["send", "receive", "readable"]),
          (partial_disk.PartialDisk, ["verify", "write", "prepare", "finish"]),
          (partial_disk._Syncer, ["_run"])]
LABELS = {"_run": "checkpoints"}   # the syncer thread: fdatasync, page cache drop, record
WHOLE = [(sender._Transfer, "run"), (receiver._Session, "run")]


def _side() -> str:
    return "source" if threading.current_thread() is threading.main_thread() else "destination"


def _timed(owner, name: str, label: str) -> None:
    """Count the thread CPU time of the outermost calls of owner.name under `label`."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        depth = getattr(_DEPTH, "value", 0)
        _DEPTH.value = depth + 1
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            _DEPTH.value = depth
            if depth == 0:
                SPENT[(_side(), label)] += time.thread_time() - started
                CALLS[(_side(), label)] += 1
    setattr(owner, name, timed)


def _whole(owner, name: str) -> None:
    """Count the thread CPU of owner.name apart from the phases (they nest inside it)."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def whole(*args, **kwargs):
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            SPENT[(_side(), "(whole thread)")] += time.thread_time() - started
    setattr(owner, name, whole)


def make_file(path: str, size: int, data: int) -> None:
    """Extents of 64 MiB of random data, 32 MiB apart."""
    with open(path, "wb") as f:
        f.truncate(size)
        position = 0
        while data > 0:
            length = min(64 * MIB, data)
            f.seek(position)
            f.write(os.urandom(length))
            position += length + 32 * MIB
            data -= length


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-gib", type=float, default=4)
    parser.add_argument("--data-mib", type=int, default=512)
    parser.add_argument("--dir", default="/tmp")
    args = parser.parse_args()
    for owner, names in PHASES:
        for name in names:
            _timed(owner, name, LABELS.get(name, name))
    for owner, name in WHOLE:
        _whole(owner, name)
    work = tempfile.mkdtemp(prefix="herder-profile-transfer-", dir=args.dir)
    agent = None
    try:
        disk = os.path.join(work, "disk")
        make_file(disk, int(args.size_gib * GIB), args.data_mib * MIB)
        agent = receiver.TransferReceiver("profile-dest", "127.0.1.2", 0,
                                          os.path.join(work, "dest"), token_ttl=3600,
                                          io_timeout=120, reserved_disk_mb=0)
        agent.start()
        source = sender.DiskSender("127.0.1.1", io_timeout=120)
        for run in range(args.runs):
            SPENT.clear()
            CALLS.clear()
            server = str(uuid.uuid4())
            started, cpu = time.perf_counter(), time.process_time()
            result = source.send(disk, agent.expect(str(uuid.uuid4()), server))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            gib = result.allocated_bytes / GIB
            print(f"run {run + 1}: {result.allocated_bytes / elapsed / 1e6:.0f} MB/s, "
                  f"process CPU {cpu / gib:.2f} s per GiB", flush=True)
            shutil.rmtree(os.path.join(work, "dest", server))
        print("last run, CPU seconds per GiB of data:")
        for (side, label), spent in sorted(SPENT.items(), key=lambda i: (i[0][0], -i[1])):
            calls = f"  ({CALLS[(side, label)]} calls)" if (side, label) in CALLS else ""
            print(f"  {side:12} {label:16} {spent / gib:6.3f}{calls}")
    finally:
        if agent is not None:
            agent.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
