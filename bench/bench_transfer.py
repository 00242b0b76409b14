"""Disk transfer throughput: herder's transfer agents against `cp --sparse=always` and raw TCP.

Side by side in one run, interleaved, `--runs` times each (medians reported):

  herder raw    a sparse raw disk (`--size-gib`, 4 GiB) holding `--data-gib` (1 GiB) of random
                data in scattered extents of 1-64 MiB, sent over loopback from 127.0.1.1 to a
                transfer agent on 127.0.1.2 running in another process (as on another host):
                chunk checks, the content digest on both sides, the destination's syncs, all on
  cp            `cp --sparse=always` of the same file (to the page cache, no sync)
  cp, fsync     the same, then fsync of the copy: durable, as herder's copy is when the
                destination answers (for comparison; the goal is against the plain cp)
  raw TCP       1 GiB through a plain socket from 127.0.1.1 to a process on 127.0.1.2
                (sendall of a 4 MiB buffer, recv_into a 4 MiB buffer, nothing else)
  herder qcow2  the same transfer of a qcow2 overlay with `--data-gib` written into it by
                qemu-io (skipped without qemu-img and qemu-io)

MB/s are 10^6 bytes of data per second: the file's data (not its apparent size) for the file
copies, the bytes sent for raw TCP. Every file stays in the page cache between runs (it was just
written), so this measures CPU and memory bandwidth, not a disk. Scratch files go to a temporary
directory under /tmp (`--dir`), removed at the end. Each row runs once untimed first, then the
rows take turns (in a rotating order), each right after `warm_memory` (see there why).

    .venv/bin/python bench/bench_transfer.py                  # --runs 5 --size-gib 4 --data-gib 1
    .venv/bin/python bench/bench_transfer.py --runs 1 --size-gib 1 --data-gib 0.25   # quick check
"""
import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from herder.transfer import sparse  # noqa: E402
from herder.transfer.receiver import TransferReceiver  # noqa: E402
from herder.transfer.sender import DiskSender  # noqa: E402

MIB = 1024 * 1024
GIB = 1024 * MIB
SOURCE_IP, DEST_IP = "127.0.1.1", "127.0.1.2"
TCP_BUFFER = 4 * MIB


# -- the destination process ------------------------------------------------------------------

def serve(directory: str) -> None:
    """The destination host: a transfer agent and a raw TCP sink on 127.0.1.2, driven by JSON
    lines on stdin (one answer line each on stdout)."""
    receiver = TransferReceiver("bench-dest", DEST_IP, 0, directory, token_ttl=3600,
                                io_timeout=120, reserved_disk_mb=0)
    receiver.start()
    sink = socket.create_server((DEST_IP, 0))
    for line in sys.stdin:
        command = json.loads(line)
        if command["do"] == "expect":
            answer = receiver.expect(command["migration"], command["server"], "disk")
        elif command["do"] == "tcp":   # take one connection and `bytes` from it, then say so
            print(json.dumps({"port": sink.getsockname()[1]}), flush=True)
            _sink(sink, command["bytes"])
            continue
        elif command["do"] == "clean":
            shutil.rmtree(os.path.join(directory, command["server"]), ignore_errors=True)
            answer = {}
        else:
            break
        print(json.dumps(answer), flush=True)
    receiver.stop()


def _sink(listener: socket.socket, total: int) -> None:
    conn, _ = listener.accept()
    with conn:
        view = memoryview(bytearray(TCP_BUFFER))
        received = 0
        while received < total:
            count = conn.recv_into(view)
            if not count:
                break
            received += count
        conn.sendall(b"k")


class Destination:
    def __init__(self, directory: str):
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", directory],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        try:
            self.process.stdin.close()   # the destination stops at the end of its input
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()   # the process this bench started, by its own handle
            self.process.wait()


# -- the files ------------------------------------------------------------------------------------

def make_raw(path: str, size: int, data: int, seed: int = 1) -> int:
    """A sparse file of `size` bytes with `data` bytes of random data in extents of 1-64 MiB,
    scattered; returns its allocated bytes."""
    rng = random.Random(seed)
    lengths = []
    while sum(lengths) < data:
        lengths.append(min(rng.randint(1, 64) * MIB, data - sum(lengths)))
    holes = size - data
    weights = [rng.random() for _ in range(len(lengths) + 1)]
    gaps = [int(holes * w / sum(weights)) // MIB * MIB for w in weights]
    with open(path, "wb") as f:
        f.truncate(size)
        position = 0
        for gap, length in zip(gaps, lengths):
            position += gap
            f.seek(position)
            for start in range(0, length, 16 * MIB):
                f.write(os.urandom(min(16 * MIB, length - start)))
            position += length
    return sparse.allocated_bytes(path)


def make_qcow2(directory: str, size: int, data: int) -> str | None:
    """A qcow2 overlay (on an empty base) with `data` bytes written by qemu-io at a few offsets;
    None without qemu-img/qemu-io."""
    if not (shutil.which("qemu-img") and shutil.which("qemu-io")):
        return None
    base, overlay = os.path.join(directory, "base.qcow2"), os.path.join(directory, "overlay")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", base, str(size)], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2",
                    overlay], check=True)
    pieces, step = 16, size // 16
    length = data // pieces // MIB * MIB
    commands = []
    for index in range(pieces):
        commands += ["-c", f"write -P 0x{0xa0 + index:x} {index * step} {length}"]
    subprocess.run(["qemu-io", "-f", "qcow2", *commands, overlay], check=True,
                   stdout=subprocess.DEVNULL)
    return overlay


def warm_memory(nbytes: int, directory: str) -> None:
    """Write `nbytes` to a scratch file in `directory` (into the page cache) and delete it,
    right before a measured run.

    On the VM this was written on (Firecracker, virtio-balloon free page reporting), memory the
    guest freed goes back to the host after a couple of seconds, and the next first touch of
    each page costs a page fault on the host: whichever row happens to write its 1 GiB into such
    pages runs 2-6x slower (a `cp` right after a delete: 0.35 s; after 5 s idle: 0.8-3 s). So
    every row starts right after this, with the same warm memory to write into. Page cache, not
    an anonymous buffer: on 2026-12-07 a `cp` right after touching and freeing 1.25 GiB of
    anonymous memory ran at a median 631 MB/s, right after writing and deleting a 1 GiB file at
    1501 MB/s (4 runs each), so the rows were warmed by whatever the row before them left in
    the page cache rather than by this."""
    path = os.path.join(directory, "warm-up")
    piece = bytes(16 * MIB)
    with open(path, "wb") as f:
        for start in range(0, nbytes, len(piece)):
            f.write(piece[:min(len(piece), nbytes - start)])
    os.remove(path)   # dirty pages of a deleted file are dropped, never written to the disk


# -- the rows -------------------------------------------------------------------------------------

def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU: dict[str, list[tuple[float, float]]] = {}   # row -> (source, destination) CPU s per GiB


def herder_send(dest: Destination, sender: DiskSender, path: str, row: str) -> float:
    server = str(uuid.uuid4())
    target = dest.ask(do="expect", migration=str(uuid.uuid4()), server=server)
    source_cpu, dest_cpu = time.process_time(), process_cpu(dest.process.pid)
    started = time.perf_counter()
    result = sender.send(path, target)
    elapsed = time.perf_counter() - started
    gib = result.allocated_bytes / GIB
    CPU.setdefault(row, []).append(((time.process_time() - source_cpu) / gib,
                                    (process_cpu(dest.process.pid) - dest_cpu) / gib))
    dest.ask(do="clean", server=server)
    assert result.bytes_sent == result.allocated_bytes
    return elapsed


def cp_sparse(path: str, copy: str, sync: bool = False) -> float:
    started = time.perf_counter()
    subprocess.run(["cp", "--sparse=always", path, copy], check=True)
    if sync:   # durable, as herder's destination makes it before it says the disk is there
        fd = os.open(copy, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    elapsed = time.perf_counter() - started
    os.remove(copy)
    return elapsed


def raw_tcp(dest: Destination, total: int) -> float:
    dest.process.stdin.write(json.dumps({"do": "tcp", "bytes": total}) + "\n")
    dest.process.stdin.flush()
    port = json.loads(dest.process.stdout.readline())["port"]
    buffer = memoryview(os.urandom(TCP_BUFFER))
    started = time.perf_counter()
    with socket.create_connection((DEST_IP, port), source_address=(SOURCE_IP, 0)) as sock:
        sent = 0
        while sent < total:
            piece = buffer[:min(TCP_BUFFER, total - sent)]
            sock.sendall(piece)
            sent += len(piece)
        assert sock.recv(1) == b"k"
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-gib", type=float, default=4)
    parser.add_argument("--data-gib", type=float, default=1)
    parser.add_argument("--chunk-kb", type=int, default=1024)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--no-qcow2", action="store_true")
    parser.add_argument("--no-warm", action="store_true",
                        help="do not warm memory before each measured run (see warm_memory)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    size, data = int(args.size_gib * GIB), int(args.data_gib * GIB)
    work = tempfile.mkdtemp(prefix="herder-bench-transfer-", dir=args.dir)
    dest = None
    try:
        print(f"scratch directory {work}; making the files ...", flush=True)
        raw = os.path.join(work, "disk.raw")
        allocated = make_raw(raw, size, data)
        qcow2 = None if args.no_qcow2 else make_qcow2(work, size, data)
        qcow2_allocated = sparse.allocated_bytes(qcow2) if qcow2 else 0
        dest = Destination(os.path.join(work, "dest"))
        sender = DiskSender(SOURCE_IP, chunk_size=args.chunk_kb * 1024, io_timeout=120,
                            window_chunks=args.window)
        rows: dict[str, list[float]] = {"herder raw": [], "cp --sparse=always": [],
                                        "raw TCP": [], "cp, then fsync": []}
        if qcow2:
            rows["herder qcow2"] = []
        measure = {
            "herder raw": lambda: allocated / herder_send(dest, sender, raw, "herder raw"),
            "cp --sparse=always": lambda: allocated / cp_sparse(raw, os.path.join(work, "copy")),
            "raw TCP": lambda: data / raw_tcp(dest, data),
            "cp, then fsync": lambda: allocated / cp_sparse(raw, os.path.join(work, "copy"),
                                                            sync=True),
            "herder qcow2": lambda: qcow2_allocated / herder_send(dest, sender, qcow2,
                                                                  "herder qcow2")}
        warm = int(max(allocated, qcow2_allocated) * 1.25)
        for name in rows:   # once each, untimed: the files are read into the page cache
            measure[name]()
        CPU.clear()
        for run in range(args.runs):
            order = list(rows)[run % len(rows):] + list(rows)[:run % len(rows)]
            for name in order:
                if not args.no_warm:
                    warm_memory(warm, work)
                rows[name].append(measure[name]() / 1e6)
            print(f"run {run + 1}: " + ", ".join(f"{name} {values[-1]:.0f}"
                                                 for name, values in rows.items()), flush=True)
        print()
        print(f"files: raw {size / GIB:g} GiB with {allocated / GIB:.2f} GiB of data"
              + (f"; qcow2 overlay of {size / GIB:g} GiB, file {qcow2_allocated / GIB:.2f} "
                 f"GiB of data" if qcow2 else "; qcow2: skipped (no qemu-img/qemu-io)"))
        print(f"herder: chunk {args.chunk_kb} KiB, window {args.window}; {args.runs} runs, "
              f"rows interleaved{'' if args.no_warm else ', memory warmed before each'}; "
              f"load average {os.getloadavg()[0]:.2f}")
        print(f"{'':20} {'median MB/s':>12} {'min':>8} {'max':>8}   CPU s per GiB, median: "
              f"source / destination process")
        medians = {}
        for name, values in rows.items():
            medians[name] = statistics.median(values)
            cpu = ""
            if name in CPU:
                cpu = (f"   {statistics.median(c[0] for c in CPU[name]):.2f} / "
                       f"{statistics.median(c[1] for c in CPU[name]):.2f}")
            print(f"{name:20} {medians[name]:12.0f} {min(values):8.0f} {max(values):8.0f}{cpu}")
        floor = min(medians["cp --sparse=always"], medians["raw TCP"])
        print()
        print(f"herder raw / min(cp, raw TCP) = {medians['herder raw'] / floor:.2f}"
              + (f"; herder qcow2 / min(cp, raw TCP) = {medians['herder qcow2'] / floor:.2f}"
                 if qcow2 else "") + "   (goal: >= 0.9)")
        print(f"herder raw / (cp, then fsync) = "
              f"{medians['herder raw'] / medians['cp, then fsync']:.2f}   (both durable)")
    finally:
        if dest is not None:
            dest.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
