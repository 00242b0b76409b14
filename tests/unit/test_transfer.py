"""Disk transfer between two hosts on their own loopback addresses: what arrives, what is
refused, what a retry resends, how fast it may go."""
import errno
import json
import logging
import os
import re
import socket
import stat
import threading
import time
import uuid

import pytest

from herder import exception
from herder.log_budget import WarningBudget
from herder.transfer import keys, partial_disk, protocol, sparse
from herder.transfer.bandwidth import Throttle
from herder.transfer.host import disk_size_limit
from herder.transfer.protocol import Kind
from herder.transfer.receiver import TransferReceiver
from herder.transfer.sender import DiskSender
from herder.transfer.tokens import GrantBook
from tests.unit.sparse_disks import (GIB, MIB, cancel_while_a_chunk_is_held, make_sparse,
                                     sparse_disk)

KIB = 1024
SOURCE_IP, DEST_IP = "127.0.1.1", "127.0.1.2"
CHUNK = 64 * KIB
# (offset, length): a boot sector, an extent of many chunks, one at the very end
EXTENTS = [(0, 64 * KIB), (100 * MIB, 1 * MIB + 12 * KIB), (GIB - 4096, 4096)]
ALLOCATED = sum(length for _, length in EXTENTS)
# the chunks the sender cuts them into, in order: 64 KiB each, and none crosses a 1 MiB block
CHUNK_LENGTHS = [CHUNK] * 17 + [12 * KIB, 4 * KIB]
assert sum(CHUNK_LENGTHS) == ALLOCATED


@pytest.fixture
def disk(tmp_path) -> str:
    return sparse_disk(tmp_path / "source-disk", EXTENTS)


@pytest.fixture
def receiver(tmp_path):
    agent = TransferReceiver("compute2", DEST_IP, 0, str(tmp_path / "compute2"), token_ttl=60)
    agent.start()
    yield agent
    agent.stop()


@pytest.fixture
def sender() -> DiskSender:
    return DiskSender(SOURCE_IP, chunk_size=CHUNK)


@pytest.fixture
def server() -> str:
    return str(uuid.uuid4())


def arrived(receiver: TransferReceiver, server: str) -> str:
    return os.path.join(receiver.instances_dir, server, "disk")


def key_of(target: dict) -> bytes:
    """The digest key of the grant `target`: what the transfer's digest is keyed with."""
    return keys.from_target(target)


def data_before(offset: int) -> int:
    """Bytes of the test disk's data that lie before `offset`."""
    return sum(max(0, min(start + length, offset) - start) for start, length in EXTENTS)


class Proxy:
    """A man in the middle on 127.0.0.1 that can flip one byte of what the source sends, or
    cut the source's connection after some bytes of it. A cut is clean towards the
    destination: it gets every byte before the cut, then the end of the stream (what was in
    flight behind the cut is lost, as on a real network)."""

    def __init__(self, target: dict, corrupt_at: int | None = None,
                 cut_after: int | None = None):
        self.upstream = (target["host"], target["port"])
        self.target = {**target, "host": "127.0.0.1"}
        self.corrupt_at, self.cut_after = corrupt_at, cut_after
        self.forwarded = 0     # bytes of the source's stream passed on so far
        self._cut = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.target["port"] = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        upstream = socket.create_connection(self.upstream)
        self._sockets = [client, upstream]
        threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, outbound: bool) -> None:
        try:
            while data := source.recv(65536):
                if outbound and self.cut_after is not None and \
                        self.forwarded + len(data) >= self.cut_after:
                    sink.sendall(data[:self.cut_after - self.forwarded])
                    self.forwarded = self.cut_after
                    self._cut = True
                    sink.shutdown(socket.SHUT_WR)        # the destination reads to the cut
                    source.shutdown(socket.SHUT_RDWR)    # the source's connection is gone
                    return
                if outbound and self.corrupt_at is not None and \
                        self.forwarded <= self.corrupt_at < self.forwarded + len(data):
                    flipped = bytearray(data)
                    flipped[self.corrupt_at - self.forwarded] ^= 0xFF
                    data, self.corrupt_at = bytes(flipped), None   # once
                if not outbound and self._cut:
                    continue    # answers to a source that is gone: drained, never reset
                sink.sendall(data)
                if outbound:
                    self.forwarded += len(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            if not outbound:   # keep reading the destination's answers until it hangs up
                try:
                    while source.recv(65536):
                        pass
                except OSError:
                    pass

    def close(self) -> None:
        self._listener.close()
        for sock in getattr(self, "_sockets", []):
            sock.close()


# -- what arrives ------------------------------------------------------------------------------

def test_sparse_disk_arrives_identical_by_digest_and_stays_sparse(disk, receiver, sender,
                                                                  server):
    reports = []
    target = receiver.expect("migration-1", server)
    result = sender.send(disk, target, lambda done, total: reports.append((done, total)))

    copy = arrived(receiver, server)
    key = key_of(target)
    assert sparse.digest(copy, key) == sparse.digest(disk, key) == result.digest
    assert sparse.digest(copy) == sparse.digest(disk)
    assert os.path.getsize(copy) == GIB
    assert os.stat(copy).st_blocks * 512 < 8 * MIB
    assert (result.bytes_sent, result.resumed_from, result.chunks_resent) == (ALLOCATED, 0, 0)
    assert reports[-1] == (ALLOCATED, ALLOCATED)
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)


def test_the_bytes_cross_a_socket_between_the_two_hosts_addresses(disk, receiver, sender,
                                                                   server):
    target = receiver.expect("migration-1", server)
    assert target["host"] == DEST_IP and target["port"] == receiver.address[1] > 0
    result = sender.send(disk, target)
    assert result.local[0] == SOURCE_IP and result.peer == (DEST_IP, target["port"])
    seen = receiver.last_transfer
    assert (seen.migration_uuid, seen.instance_uuid, seen.completed) == \
        ("migration-1", server, True)
    assert seen.peer == result.local and seen.local == result.peer
    assert seen.bytes_received == ALLOCATED


def test_a_disk_without_data_arrives_as_an_empty_sparse_file(tmp_path, receiver, sender,
                                                             server):
    empty = make_sparse(tmp_path / "empty", 256 * MIB, [])
    target = receiver.expect("migration-1", server)
    result = sender.send(empty, target)
    copy = arrived(receiver, server)
    assert os.path.getsize(copy) == 256 * MIB and os.stat(copy).st_blocks == 0
    key = key_of(target)
    assert result.digest == sparse.digest(copy, key) == sparse.digest(empty, key)
    assert result.bytes_sent == 0


def test_only_the_disk_and_its_record_are_left_beside_each_other(disk, receiver, sender,
                                                                 server):
    sender.send(disk, receiver.expect("migration-1", server))
    assert sorted(os.listdir(os.path.dirname(arrived(receiver, server)))) == \
        ["disk", "disk.transfer"]
    partial_disk.remove_leftovers(arrived(receiver, server))
    assert os.listdir(os.path.dirname(arrived(receiver, server))) == ["disk"]


def test_stop_and_wait_still_works(disk, receiver, server):
    result = DiskSender(SOURCE_IP, chunk_size=CHUNK, window_chunks=1).send(
        disk, receiver.expect("migration-1", server))
    assert (result.bytes_sent, result.chunks_resent) == (ALLOCATED, 0)
    assert sparse.digest(arrived(receiver, server)) == sparse.digest(disk)


def _keep_no_holes(monkeypatch) -> None:
    """From now on the destination's filesystem keeps no holes: the part of a partial file
    still to come is zeros stored as data (as on a filesystem without sparse files)."""
    prepare = partial_disk.PartialDisk.prepare

    def allocated_through(self, should_stop=None):
        resume_from = prepare(self, should_stop)
        _store_zeros(self.partial, resume_from, self.record.size)
        return resume_from

    monkeypatch.setattr(partial_disk.PartialDisk, "prepare", allocated_through)


@pytest.fixture
def allocating_destination(monkeypatch):
    _keep_no_holes(monkeypatch)


def _store_zeros(path: str, start: int, end: int) -> None:
    with open(path, "r+b") as f:
        for offset in range(start, end, MIB):
            f.seek(offset)
            f.write(bytes(min(MIB, end - offset)))


SMALL_EXTENTS = [(0, 64 * KIB), (5 * MIB + 4 * KIB, MIB + 12 * KIB), (32 * MIB - 4096, 4096)]


def test_a_destination_that_stores_holes_as_data_still_verifies(
        tmp_path, receiver, sender, server, allocating_destination):
    disk = make_sparse(tmp_path / "small-disk", 32 * MIB, SMALL_EXTENTS)
    target = receiver.expect("migration-1", server)
    result = sender.send(disk, target)
    copy = arrived(receiver, server)
    assert os.stat(copy).st_blocks * 512 >= 32 * MIB > 4 * os.stat(disk).st_blocks * 512
    key = key_of(target)
    assert result.digest == sparse.digest(copy, key) == sparse.digest(disk, key)


def test_a_destination_that_stores_holes_as_data_resumes(tmp_path, receiver, sender, server,
                                                         allocating_destination):
    disk = make_sparse(tmp_path / "small-disk", 32 * MIB, SMALL_EXTENTS)
    _interrupted(disk, receiver, sender, server, cut_after=600 * KIB)
    _wait_idle(receiver)
    target = receiver.expect("migration-1", server)
    result = sender.send(disk, target)
    assert result.resumed_from > 5 * MIB
    key = key_of(target)
    assert result.digest == sparse.digest(arrived(receiver, server), key) == \
        sparse.digest(disk, key)


def test_the_files_of_one_server_each_arrive_with_their_own_grant(tmp_path, receiver, sender,
                                                                  server):
    files = {"disk": make_sparse(tmp_path / "disk", 64 * MIB, [(0, 64 * KIB), (9 * MIB, MIB)]),
             "disk.eph0": make_sparse(tmp_path / "disk.eph0", 16 * MIB, [(MIB, 4096)]),
             "disk.swap": make_sparse(tmp_path / "disk.swap", 8 * MIB, []),
             "disk.info": str(tmp_path / "disk.info"),
             "disk.config": str(tmp_path / "disk.config")}
    with open(files["disk.info"], "w") as f:
        f.write('{"disk": "qcow2"}')   # 17 bytes, no holes
    open(files["disk.config"], "w").close()   # empty
    targets = {name: receiver.expect("migration-1", server, name) for name in files}
    for name, path in files.items():
        assert sender.send(path, targets[name]).digest == \
            sparse.digest(path, key_of(targets[name]))
    directory = os.path.dirname(arrived(receiver, server))
    for name, path in files.items():
        assert sparse.digest(os.path.join(directory, name)) == sparse.digest(path)
    assert sorted(os.listdir(directory)) == sorted(
        [*files, *(name + ".transfer" for name in files)])


def test_cancel_stops_and_cleans_up_every_transfer_of_the_server(tmp_path, disk, receiver,
                                                                server):
    targets = {name: receiver.expect("migration-1", server, name)
               for name in ("disk", "disk.eph0", "disk.swap", "disk.info")}
    other = str(uuid.uuid4())
    other_target = receiver.expect("migration-2", other, "disk.eph0")
    DiskSender(SOURCE_IP, chunk_size=CHUNK).send(disk, targets["disk"])        # complete
    for target in (targets["disk.eph0"], other_target):                        # partial
        proxy = Proxy(target, cut_after=300 * KIB)
        with pytest.raises(exception.TransferFailed):
            DiskSender(SOURCE_IP, chunk_size=CHUNK).send(disk, proxy.target)
        proxy.close()
        _wait_idle(receiver)
    hold = receiver.fault_points.hold("receive_chunk")                               # running
    failures, cancelled = cancel_while_a_chunk_is_held(
        hold, lambda: DiskSender(SOURCE_IP, chunk_size=CHUNK).send(disk, targets["disk.swap"]),
        lambda: receiver.cancel(server))

    assert failures and cancelled
    directory = os.path.dirname(arrived(receiver, server))
    assert os.listdir(directory) == ["disk"]     # what arrived complete is the caller's
    with pytest.raises(exception.TransferRefused):
        DiskSender(SOURCE_IP).send(disk, targets["disk.info"])
    assert sorted(os.listdir(os.path.join(receiver.instances_dir, other))) == \
        ["disk.eph0.part", "disk.eph0.transfer"]   # another server's transfer is untouched


@pytest.mark.parametrize("name", ["disk.part", "disk.transfer", "disk.transfer.tmp"])
def test_a_disk_named_like_a_transfers_own_files_is_never_expected(receiver, server, name):
    with pytest.raises(exception.TransferRefused):
        receiver.expect("migration-1", server, name)


def test_a_corrupted_chunk_is_detected_and_sent_again(disk, receiver, sender, server):
    # 2000 bytes into the stream is inside the first chunk's payload
    proxy = Proxy(receiver.expect("migration-1", server), corrupt_at=2000)
    try:
        result = sender.send(disk, proxy.target)
    finally:
        proxy.close()
    assert (result.chunks_damaged, receiver.last_transfer.chunks_rejected) == (1, 1)
    # it went again, with whatever had been sent after it (the window)
    assert 1 <= result.chunks_resent <= 16
    assert result.bytes_sent == ALLOCATED + sum(CHUNK_LENGTHS[:result.chunks_resent])
    assert sparse.digest(arrived(receiver, server)) == sparse.digest(disk)


def test_a_chunk_damaged_every_time_fails_the_transfer(disk, receiver, sender, server,
                                                      monkeypatch):
    honest, source_thread = sparse.ContentDigest.chunk_check, threading.current_thread()

    def check_on_the_source_side(digest, offset: int) -> str:
        # the source vouches for other bytes than those it sends at offset 0, every time
        if threading.current_thread() is source_thread and offset == 0:
            return "0" * 64
        return honest(digest, offset)

    monkeypatch.setattr(sparse.ContentDigest, "chunk_check", check_on_the_source_side)
    with pytest.raises(exception.TransferFailed, match="arrived damaged 4 times"):
        sender.send(disk, receiver.expect("migration-1", server))
    assert not os.path.exists(arrived(receiver, server))


def _frame_start(seq: int) -> int:
    """About where DATA frame `seq` starts in the source's stream (HELLO and headers are a few
    hundred bytes; what matters is landing well inside the chunk's payload)."""
    return 300 + seq * (CHUNK + 120)


def _send_in_background(sender: DiskSender, disk: str, target: dict):
    outcome: dict = {}

    def sending():
        try:
            outcome["result"] = sender.send(disk, target)
        except exception.TransferFailed as error:
            outcome["error"] = error

    thread = threading.Thread(target=sending)
    thread.start()
    return thread, outcome


def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_chunk_corrupted_mid_window_is_sent_again_with_the_chunks_after_it(
        disk, receiver, sender, server):
    hold = receiver.fault_points.hold("receive_chunk")   # the destination waits at the first chunk
    proxy = Proxy(receiver.expect("migration-1", server), corrupt_at=_frame_start(5) + 2000)
    try:
        thread, outcome = _send_in_background(sender, disk, proxy.target)
        hold.wait_reached()
        # the source has sent the damaged chunk and more behind it, none acknowledged yet
        _wait_for(lambda: proxy.forwarded >= _frame_start(9))
        hold.release()
        thread.join(10)
    finally:
        proxy.close()
    result = outcome["result"]
    assert (result.chunks_damaged, receiver.last_transfer.chunks_rejected) == (1, 1)
    assert result.chunks_resent >= 4   # the damaged one, and those in flight behind it
    assert result.bytes_sent == ALLOCATED + sum(CHUNK_LENGTHS[5:5 + result.chunks_resent])
    assert receiver.last_transfer.bytes_received == ALLOCATED
    assert sparse.digest(arrived(receiver, server)) == sparse.digest(disk)


def test_a_cut_mid_window_resumes_after_the_last_chunk_verified_in_order(disk, receiver,
                                                                         sender, server):
    hold = receiver.fault_points.hold("receive_chunk")
    # chunk 3 is damaged and the connection is cut inside chunk 8: chunks 4 to 7 arrive
    # intact, but after a damaged one, so they do not count
    proxy = Proxy(receiver.expect("migration-1", server), corrupt_at=_frame_start(3) + 2000,
                  cut_after=_frame_start(8) + 2000)
    try:
        thread, outcome = _send_in_background(sender, disk, proxy.target)
        hold.wait_reached()
        _wait_for(lambda: proxy.forwarded >= proxy.cut_after)
        hold.release()
        thread.join(10)
    finally:
        proxy.close()
    assert "error" in outcome
    _wait_idle(receiver)

    result = sender.send(disk, receiver.expect("migration-1", server))
    assert result.resumed_from == 100 * MIB + 2 * CHUNK   # chunks 0, 1 and 2
    assert result.bytes_sent == ALLOCATED - sum(CHUNK_LENGTHS[:3])
    assert sparse.digest(arrived(receiver, server)) == sparse.digest(disk)


# -- what is refused ----------------------------------------------------------------------------

def test_a_made_up_token_is_refused_and_nothing_is_written(disk, receiver, sender, server):
    target = receiver.expect("migration-1", server)
    with pytest.raises(exception.TransferRefused, match="invalid, expired or spent token"):
        sender.send(disk, {**target, "token": "guess"})
    assert not os.path.exists(os.path.join(receiver.instances_dir, server))
    sender.send(disk, target)    # the real grant is still good
    assert sparse.digest(arrived(receiver, server)) == sparse.digest(disk)


def test_a_token_is_good_for_one_transfer_only(disk, receiver, sender, server):
    target = receiver.expect("migration-1", server)
    sender.send(disk, target)
    with pytest.raises(exception.TransferRefused):
        sender.send(disk, target)


def test_an_expired_token_is_refused(tmp_path, disk, sender, server):
    short = TransferReceiver("compute2", DEST_IP, 0, str(tmp_path / "c2"), token_ttl=0.05)
    short.start()
    try:
        target = short.expect("migration-1", server)
        time.sleep(0.1)
        with pytest.raises(exception.TransferRefused):
            sender.send(disk, target)
    finally:
        short.stop()


@pytest.mark.parametrize("field, value", [("migration_uuid", "migration-2"), ("disk", "disk.eph0")])
def test_a_token_is_scoped_to_its_migration_and_disk(disk, receiver, sender, server, field,
                                                      value):
    target = receiver.expect("migration-1", server)
    with pytest.raises(exception.TransferRefused):
        sender.send(disk, {**target, field: value})


def test_grants_expire_and_can_be_revoked():
    now = [100.0]
    book = GrantBook(ttl=30, clock=lambda: now[0])
    late = book.issue("m1", "server-a", "disk")
    revoked = book.issue("m2", "server-b", "disk")
    good = book.issue("m3", "server-c", "disk")
    book.revoke("server-b")
    now[0] += 29
    with pytest.raises(exception.TransferRefused):
        book.redeem(revoked, "m2", "disk")
    assert book.redeem(good, "m3", "disk").instance_uuid == "server-c"
    now[0] += 1
    with pytest.raises(exception.TransferRefused):
        book.redeem(late, "m1", "disk")


@pytest.mark.parametrize("instance, disk_name", [
    ("../../etc", "disk"), ("..", "disk"), ("server/..", "disk"), (".hidden", "disk"),
    ("server", "../disk"), ("server", "/etc/passwd"), ("", "disk")])
def test_a_disk_outside_the_instances_directory_is_never_expected(receiver, instance,
                                                                  disk_name):
    with pytest.raises(exception.TransferRefused):
        receiver.expect("migration-1", instance, disk_name)


def test_a_symlink_out_of_the_instances_directory_is_refused_on_connection(
        tmp_path, disk, receiver, sender, server):
    target = receiver.expect("migration-1", server)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.makedirs(receiver.instances_dir, exist_ok=True)
    os.symlink(elsewhere, os.path.join(receiver.instances_dir, server))
    with pytest.raises(exception.TransferRefused):
        sender.send(disk, target)
    assert os.listdir(elsewhere) == []


def test_garbage_on_the_port_does_not_stop_the_receiver(disk, receiver, sender, server):
    for junk in (b"\xff" * 64, b"\x01\x00\x00\x00\x05\x00\x00\x00\x00{oops",
                 b"\x01\xff\xff\xff\xff\x00\x00\x00\x00"):
        with socket.create_connection(receiver.address) as sock:
            try:
                sock.sendall(junk)
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(5)
                while sock.recv(4096):   # until the receiver hangs up
                    pass
            except (ConnectionResetError, BrokenPipeError):
                pass  # it did, with our junk still unread
            except OSError as error:  # or before our shutdown: already not connected
                if error.errno != errno.ENOTCONN:
                    raise
    sender.send(disk, receiver.expect("migration-1", server))
    assert sparse.digest(arrived(receiver, server)) == sparse.digest(disk)


def _block_device() -> str | None:
    for name in sorted(os.listdir("/dev")):
        path = os.path.join("/dev", name)
        try:
            if stat.S_ISBLK(os.lstat(path).st_mode) and os.access(path, os.R_OK):
                return path
        except OSError:
            pass
    return None


def _special_file(tmp_path, kind: str) -> str:
    path = str(tmp_path / kind.replace(" ", "-"))
    if kind == "character device":
        return "/dev/null"
    if kind == "block device":
        found = _block_device()
        if found is None:
            pytest.skip("no readable block device here")
        return found
    if kind == "FIFO":
        os.mkfifo(path)
    elif kind == "directory":
        os.mkdir(path)
    elif kind == "socket":
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.close()
    elif kind == "symbolic link":
        target = make_sparse(tmp_path / "linked", MIB, [(0, 4096)])
        os.symlink(target, path)
    return path


@pytest.mark.parametrize("kind", ["character device", "block device", "FIFO", "directory",
                                  "socket", "symbolic link"])
def test_only_regular_files_are_sent(tmp_path, disk, receiver, sender, server, kind):
    path = _special_file(tmp_path, kind)
    target = receiver.expect("migration-1", server)
    with pytest.raises(exception.TransferFailed,
                       match=f"{re.escape(path)} is a {kind}; herder transfers regular files "
                             "only"):
        sender.send(path, target)
    assert receiver.last_transfer is None   # refused before connecting: the grant is unspent
    sender.send(disk, target)
    assert sparse.digest(arrived(receiver, server)) == sparse.digest(disk)


class _StatVFS:
    def __init__(self, free: int):
        self.f_bavail, self.f_frsize = free // 4096, 4096


def test_a_destination_without_room_for_the_data_refuses_it_saying_how_much(
        tmp_path, disk, sender, server):
    full = TransferReceiver("compute2", DEST_IP, 0, str(tmp_path / "c2"), token_ttl=60,
                            reserved_disk_mb=1 << 40)   # more than any disk has free
    full.start()
    try:
        with pytest.raises(exception.TransferFailed,
                           match=r"host compute2 has 0 MiB free on its instances disk, the "
                                 r"disk needs 2 MiB \(besides 1099511627776 MiB kept in "
                                 r"reserve"):
            sender.send(disk, full.expect("migration-1", server))
        assert not os.path.exists(os.path.join(full.instances_dir, server))
        # a disk without data takes no room
        empty = make_sparse(tmp_path / "empty", 256 * MIB, [])
        assert sender.send(empty, full.expect("migration-1", server)).bytes_sent == 0
    finally:
        full.stop()


def test_the_room_running_transfers_will_take_is_not_given_twice(tmp_path, disk, receiver,
                                                                 sender, server, monkeypatch):
    monkeypatch.setattr(os, "statvfs", lambda path: _StatVFS(64 * MIB + 3 * MIB // 2))
    hold = receiver.fault_points.hold("receive_chunk")
    first = receiver.expect("migration-1", server, "disk")
    thread, outcome = _send_in_background(DiskSender(SOURCE_IP, chunk_size=CHUNK), disk, first)
    hold.wait_reached()
    try:
        with pytest.raises(exception.TransferRefused,
                           match=r"has 0 MiB free .* the disk needs 2 MiB .* and 2 MiB for "
                                 r"other transfers under way"):
            sender.send(disk, receiver.expect("migration-1", server, "disk.eph0"))
    finally:
        hold.release()
        thread.join(10)
    assert "result" in outcome
    sender.send(disk, receiver.expect("migration-1", server, "disk.eph0"))   # room again


def test_a_source_of_the_previous_protocol_version_is_refused_with_a_reason(receiver, server):
    target = receiver.expect("migration-1", server)
    with socket.create_connection(receiver.address) as sock:
        protocol.send(sock, Kind.HELLO, {"token": target["token"], "migration": "migration-1",
                                         "disk": "disk", "size": GIB})
        with pytest.raises(exception.TransferRefused, match="version 1, this host speaks 3"):
            protocol.receive(sock, Kind.READY)


# -- retries -------------------------------------------------------------------------------------

def _interrupted(disk, receiver, sender, server, cut_after: int) -> None:
    proxy = Proxy(receiver.expect("migration-1", server), cut_after=cut_after)
    try:
        with pytest.raises(exception.TransferFailed):
            sender.send(disk, proxy.target)
    finally:
        proxy.close()


def _wait_idle(receiver: TransferReceiver) -> None:
    """Until the receiver has noticed the dropped connection and recorded its progress."""
    deadline = time.monotonic() + 5
    while receiver._sessions and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_retry_after_a_dropped_connection_sends_only_the_rest(disk, receiver, sender,
                                                                server):
    _interrupted(disk, receiver, sender, server, cut_after=600 * KIB)
    _wait_idle(receiver)
    partial = partial_disk.partial_path(arrived(receiver, server))
    assert os.path.exists(partial) and not os.path.exists(arrived(receiver, server))

    reports = []
    result = sender.send(disk, receiver.expect("migration-1", server),
                         lambda done, total: reports.append(done))
    assert 0 < result.resumed_from < GIB
    already_there = data_before(result.resumed_from)
    assert already_there >= 400 * KIB
    assert result.bytes_sent == ALLOCATED - already_there
    assert receiver.last_transfer.bytes_received == result.bytes_sent
    assert reports[0] > already_there and reports[-1] == ALLOCATED
    assert sparse.digest(arrived(receiver, server)) == sparse.digest(disk)
    assert not os.path.exists(partial)


def test_a_retry_with_another_chunk_size_still_resumes(disk, receiver, sender, server):
    _interrupted(disk, receiver, sender, server, cut_after=300 * KIB)
    _wait_idle(receiver)
    result = DiskSender(SOURCE_IP, chunk_size=48 * KIB).send(
        disk, receiver.expect("migration-1", server))
    assert result.resumed_from > 0
    assert result.bytes_sent == ALLOCATED - data_before(result.resumed_from)
    assert sparse.digest(arrived(receiver, server)) == sparse.digest(disk)


def test_a_partial_disk_of_another_migration_is_not_resumed(disk, receiver, sender, server):
    _interrupted(disk, receiver, sender, server, cut_after=600 * KIB)
    _wait_idle(receiver)
    result = sender.send(disk, receiver.expect("migration-2", server))
    assert (result.resumed_from, result.bytes_sent) == (0, ALLOCATED)
    assert sparse.digest(arrived(receiver, server)) == sparse.digest(disk)


def test_a_retry_after_a_lost_reply_finds_the_disk_complete(disk, receiver, sender, server):
    first_target = receiver.expect("migration-1", server)
    first = sender.send(disk, first_target)
    again = sender.send(disk, receiver.expect("migration-1", server))
    assert (again.resumed_from, again.bytes_sent) == (GIB, 0)
    assert again.digest == first.digest == \
        sparse.digest(arrived(receiver, server), key_of(first_target))


def test_a_partial_disk_damaged_at_rest_is_found_on_resuming_and_sent_again_in_full(
        disk, receiver, sender, server):
    _interrupted(disk, receiver, sender, server, cut_after=600 * KIB)
    _wait_idle(receiver)
    with open(partial_disk.partial_path(arrived(receiver, server)), "r+b") as f:
        f.seek(10)
        f.write(b"rot")   # verified once, changed since: reading it back to resume shows it

    result = sender.send(disk, receiver.expect("migration-1", server))
    assert (result.resumed_from, result.bytes_sent) == (0, ALLOCATED)
    assert sparse.digest(arrived(receiver, server)) == sparse.digest(disk)


def test_a_source_disk_that_changed_since_the_partial_copy_makes_the_next_try_start_over(
        disk, receiver, sender, server):
    _interrupted(disk, receiver, sender, server, cut_after=600 * KIB)
    _wait_idle(receiver)
    with open(disk, "r+b") as f:   # before the resume point: the destination has the old
        f.seek(100 * MIB + 17)
        f.write(b"new")
    with pytest.raises(exception.TransferFailed, match="partial copy differs from this disk"):
        sender.send(disk, receiver.expect("migration-1", server))
    assert not os.path.exists(arrived(receiver, server))

    result = sender.send(disk, receiver.expect("migration-1", server))
    assert (result.resumed_from, result.bytes_sent) == (0, ALLOCATED)
    assert sparse.digest(arrived(receiver, server)) == sparse.digest(disk)


def test_cancel_stops_a_running_transfer_and_refuses_its_grants(disk, receiver, server):
    hold = receiver.fault_points.hold("receive_chunk")
    target, spare = (receiver.expect("migration-1", server) for _ in range(2))
    failures, cancelled = cancel_while_a_chunk_is_held(
        hold, lambda: DiskSender(SOURCE_IP, chunk_size=CHUNK).send(disk, target),
        lambda: receiver.cancel(server))
    assert failures and cancelled
    assert not os.path.exists(arrived(receiver, server))
    with pytest.raises(exception.TransferRefused):
        DiskSender(SOURCE_IP).send(disk, spare)


# -- bandwidth -------------------------------------------------------------------------------------

def test_a_bandwidth_limit_slows_the_transfer_down(disk, tmp_path, receiver, server):
    limit_mbps = 16    # 2 MB/s: the disk's ~1.1 MiB of data takes more than half a second
    started = time.monotonic()
    DiskSender(SOURCE_IP, chunk_size=CHUNK, bandwidth_limit_mbps=limit_mbps).send(
        disk, receiver.expect("migration-1", server))
    elapsed = time.monotonic() - started
    assert elapsed >= ALLOCATED / (limit_mbps * 1_000_000 / 8) * 0.95


def test_throttle_sleeps_until_the_bytes_sent_are_due():
    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    throttle = Throttle(8, clock=lambda: now[0], sleep=sleep)   # 1 MB/s
    throttle.pace(500_000)
    now[0] += 0.1       # time spent sending the next chunk
    throttle.pace(500_000)
    assert slept == pytest.approx([0.5, 0.4])
    Throttle(0, clock=lambda: now[0], sleep=sleep).pace(10 ** 9)
    assert len(slept) == 2


# -- framing ---------------------------------------------------------------------------------------

def test_frames_round_trip_and_unexpected_kinds_end_the_transfer():
    left, right = socket.socketpair()
    with left, right:
        protocol.send(left, Kind.DATA, {"offset": 7, "hash": "h"}, b"bytes")
        frame = protocol.receive(right, Kind.DATA)
        assert (frame.kind, frame.header, frame.payload) == \
            (Kind.DATA, {"offset": 7, "hash": "h"}, b"bytes")
        protocol.send(left, Kind.REFUSED, {"reason": "no"})
        with pytest.raises(exception.TransferRefused, match="no"):
            protocol.receive(right, Kind.READY)
        protocol.send(left, Kind.ACK, {"offset": 0, "ok": True})
        with pytest.raises(exception.TransferFailed, match="expected DATA/DONE, got ACK"):
            protocol.receive(right, Kind.DATA, Kind.DONE)
        left.close()
        with pytest.raises(exception.TransferFailed, match="closed"):
            protocol.receive(right, Kind.DATA)


def test_a_chunk_check_covers_where_the_chunk_goes_and_what_its_block_holds_before_it():
    def check(size, pieces, offset):
        digest = sparse.ContentDigest(size)
        for at, data in pieces:
            digest.update(at, data)
        return digest.chunk_check(offset)

    assert check(GIB, [(0, b"data")], 0) != check(GIB, [(4096, b"data")], 4096)
    assert check(GIB, [(0, b"data")], 0) != check(GIB, [(MIB, b"data")], MIB)
    assert check(GIB, [(0, b"a"), (8, b"data")], 8) != check(GIB, [(0, b"b"), (8, b"data")], 8)
    assert check(GIB, [(0, bytes(8)), (8, b"data")], 8) == check(GIB, [(8, b"data")], 8)




# -- hostile peers (docs/security.md) ---------------------------------------------------------

def _hello_frame(header: bytes) -> bytes:
    return protocol._PREAMBLE.pack(Kind.HELLO, len(header), 0) + header


def _answer(sock: socket.socket) -> bytes:
    """What the receiver says before it hangs up."""
    sock.settimeout(10)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except ConnectionResetError:
        pass
    return received


@pytest.mark.parametrize("header", [
    b"[" * 30_000 + b"]" * 30_000,                       # nested deeper than JSON is parsed
    b'{"version": 3, "token": "\\ud800", "migration": "m", "disk": "disk", '
    b'"size": 1, "allocated": 1}',                       # a lone surrogate as the token
])
def test_a_malformed_hello_is_refused_without_a_traceback(receiver, disk, sender, server,
                                                          header, caplog):
    with socket.create_connection(receiver.address) as sock:
        sock.sendall(_hello_frame(header))
        _answer(sock)
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    sender.send(disk, receiver.expect("migration-1", server))   # and it still receives


def test_a_greeting_that_drips_in_is_cut_off_at_the_hello_deadline(tmp_path):
    agent = TransferReceiver("compute2", DEST_IP, 0, str(tmp_path / "c2"), token_ttl=60,
                             hello_timeout=0.5)
    agent.start()
    try:
        with socket.create_connection(agent.address) as sock:
            started = time.monotonic()
            for byte in _hello_frame(b'{"version": 2}')[:6]:   # a byte now and then
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break
                time.sleep(0.2)
            _answer(sock)
            assert time.monotonic() - started < 3
    finally:
        agent.stop()


def test_connections_beyond_the_limit_are_closed_and_the_agent_keeps_receiving(
        tmp_path, disk, sender, server):
    agent = TransferReceiver("compute2", DEST_IP, 0, str(tmp_path / "c2"), token_ttl=60,
                             max_connections=3)
    agent.start()
    try:
        idle = [socket.create_connection(agent.address) for _ in range(3)]
        with socket.create_connection(agent.address) as extra:
            assert _answer(extra) == b""                # closed at once, not served
        for sock in idle:
            sock.close()
        deadline = time.monotonic() + 5
        while True:   # the idle ones' slots come back once the agent sees them go
            try:
                sender.send(disk, agent.expect("migration-1", server))
                break
            except exception.TransferFailed:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert sparse.digest(os.path.join(agent.instances_dir, server, "disk")) == \
            sparse.digest(disk)
    finally:
        agent.stop()


def test_warnings_about_unwelcome_connections_are_rate_limited(caplog):
    now = [0.0]
    budget = WarningBudget(logging.getLogger("herder.test"), per_minute=3,
                           clock=lambda: now[0])
    with caplog.at_level("WARNING"):
        for i in range(10):
            budget.warn("junk %d", i)
        now[0] = 61.0
        budget.warn("junk after a minute")
    assert [r.getMessage() for r in caplog.records] == [
        "junk 0", "junk 1", "junk 2", "7 more such warnings were left out in the last minute",
        "junk after a minute"]


@pytest.mark.parametrize("size", [2 ** 40, 2 ** 63 - 1])
def test_a_grant_holder_cannot_declare_a_disk_larger_than_the_move_allows(receiver, server,
                                                                         size):
    """With a valid grant for a 1 GiB disk, a 1 TiB one used to be created (sparse), and
    2^63-1 failed with EFBIG and files left behind."""
    target = receiver.expect("migration-1", server, max_size=GIB)
    hello = json.dumps({"version": protocol.VERSION, "token": target["token"],
                        "migration": "migration-1", "disk": "disk", "size": size,
                        "allocated": 0}).encode()
    with socket.create_connection(receiver.address) as sock:
        sock.sendall(_hello_frame(hello))
        answer = _answer(sock)
    assert b"more than the 1073741824 this move allows" in answer
    assert not os.path.exists(os.path.join(receiver.instances_dir, server))


def test_the_bound_of_a_disk_follows_the_servers_flavor():
    flavor = {"root_gb": 1, "ephemeral_gb": 0, "swap": 0}
    assert disk_size_limit(flavor, image_limit_bytes=10 * GIB) == 12 * GIB
    assert disk_size_limit({**flavor, "ephemeral_gb": 2, "swap": 512}, 0) == 4 * GIB + 512 * MIB


# -- the digest is keyed with the grant's key (protocol 3) ---------------------------------------

def test_a_source_of_protocol_version_2_is_refused_with_a_reason(receiver, server):
    target = receiver.expect("migration-1", server)
    with socket.create_connection(receiver.address) as sock:
        protocol.send(sock, Kind.HELLO, {"version": 2, "token": target["token"],
                                         "migration": "migration-1", "disk": "disk",
                                         "size": GIB, "allocated": 0})
        with pytest.raises(exception.TransferRefused,
                           match="version 2, this host speaks 3: upgrade both hosts"):
            protocol.receive(sock, Kind.READY)
    assert not os.path.exists(os.path.join(receiver.instances_dir, server))


def test_send_returns_the_keyed_digest_the_destination_recorded(disk, receiver, sender, server):
    target = receiver.expect("migration-1", server)
    result = sender.send(disk, target)
    copy = arrived(receiver, server)
    assert partial_disk.completed_digest(copy) == result.digest
    assert partial_disk.completed_digest(copy, "migration-1") == result.digest
    assert partial_disk.completed_digest(copy, "migration-2") is None
    assert result.digest == sparse.digest(disk, key_of(target)) != sparse.digest(disk)
    partial_disk.remove_leftovers(copy)
    assert partial_disk.completed_digest(copy) is None   # the record kept it


def test_each_migration_gets_its_own_key_and_its_grants_share_it(receiver, server):
    first, second = (receiver.expect("migration-1", server) for _ in range(2))
    other = receiver.expect("migration-2", server)
    assert key_of(first) == key_of(second) != key_of(other)
    assert len(key_of(first)) == 32
    assert first["token"] != second["token"]


def test_the_key_never_crosses_the_transfer_connection(disk, receiver, sender, server):
    target = receiver.expect("migration-1", server)
    proxy = RecordingProxy(target)
    try:
        sender.send(disk, proxy.target)
    finally:
        proxy.close()
    key = key_of(target)
    assert target["token"].encode() in proxy.stream   # the token does, in HELLO
    assert key not in proxy.stream and key.hex().encode() not in proxy.stream


class RecordingProxy(Proxy):
    """A Proxy that keeps everything that crosses it, both ways."""

    def __init__(self, target: dict):
        self.stream = bytearray()
        super().__init__(target)

    def _pump(self, source, sink, outbound):
        proxy = self

        class Tap:
            def recv(self, size):
                data = source.recv(size)
                proxy.stream += data
                return data

            def shutdown(self, how):
                source.shutdown(how)
        super()._pump(Tap(), sink, outbound)


def test_chunks_checked_with_another_key_are_refused(disk, receiver, sender, server):
    target = receiver.expect("migration-1", server)
    forged = {**target, keys.TARGET_FIELD: keys.new_key()}   # same grant, someone else's key
    with pytest.raises(exception.TransferFailed, match="arrived damaged 4 times"):
        sender.send(disk, forged)
    assert receiver.last_transfer.chunks_rejected == 4
    assert receiver.last_transfer.bytes_received == 0
    assert not os.path.exists(arrived(receiver, server))


def _send_by_hand(receiver, target: dict, data: bytes, check_key: bytes,
                  digest_key: bytes) -> dict:
    """A source that sends `data` as the first bytes of a 4 MiB disk, one chunk, its check
    keyed with `check_key` and its final digest with `digest_key`; the destination's RESULT
    (or ACK, if it refused the chunk)."""
    size = 4 * MIB
    with socket.create_connection(receiver.address) as sock:
        protocol.send(sock, Kind.HELLO, {"version": protocol.VERSION, "token": target["token"],
                                         "migration": "migration-1", "disk": "disk",
                                         "size": size, "allocated": len(data)})
        assert protocol.receive(sock, Kind.READY).header["resume_from"] == 0
        checked = sparse.ContentDigest(size, check_key)
        checked.update(0, data)
        protocol.send(sock, Kind.DATA, {"seq": 0, "offset": 0,
                                        "check": checked.chunk_check(0)}, data)
        ack = protocol.receive(sock, Kind.ACK).header
        if not ack["ok"]:
            return ack
        digest = sparse.ContentDigest(size, digest_key)
        digest.update(0, data)
        protocol.send(sock, Kind.DONE, {"digest": digest.hexdigest()})
        return protocol.receive(sock, Kind.RESULT).header


def test_a_final_digest_made_with_another_key_is_refused(receiver, server):
    data = os.urandom(64 * KIB)
    target = receiver.expect("migration-1", server)
    answer = _send_by_hand(receiver, target, data, key_of(target),
                           bytes.fromhex(keys.new_key()))
    assert answer["ok"] is False and "differs" in answer["reason"]
    assert not os.path.exists(arrived(receiver, server))

    target = receiver.expect("migration-1", server)   # the same bytes, the grant's key
    answer = _send_by_hand(receiver, target, data, key_of(target), key_of(target))
    assert answer["ok"] is True
    assert answer["digest"] == partial_disk.completed_digest(arrived(receiver, server))


def test_a_chunk_checked_with_another_key_is_refused_by_hand(receiver, server):
    target = receiver.expect("migration-1", server)
    answer = _send_by_hand(receiver, target, os.urandom(64 * KIB),
                           bytes.fromhex(keys.new_key()), key_of(target))
    assert answer == {"seq": 0, "ok": False}
    assert receiver.last_transfer.chunks_rejected == 1


def test_the_recorded_digest_is_the_same_with_holes_or_stored_zeros(
        tmp_path, receiver, sender, server, monkeypatch):
    disk = make_sparse(tmp_path / "small-disk", 32 * MIB, SMALL_EXTENTS)
    target = receiver.expect("migration-1", server)
    holes = sender.send(disk, target)
    with_holes = partial_disk.completed_digest(arrived(receiver, server))
    copy_with_holes = str(tmp_path / "copy-with-holes")
    os.rename(arrived(receiver, server), copy_with_holes)   # its record keeps the key

    # the same disk again, to a destination whose filesystem stores zeros for holes
    _keep_no_holes(monkeypatch)
    again = receiver.expect("migration-1", server)
    assert key_of(again) == key_of(target)
    stored = sender.send(disk, again)
    assert stored.resumed_from == 0
    copy_stored = arrived(receiver, server)
    assert os.stat(copy_stored).st_blocks > 4 * os.stat(copy_with_holes).st_blocks
    assert holes.digest == stored.digest == with_holes == \
        partial_disk.completed_digest(copy_stored) == sparse.digest(copy_stored, key_of(target))


def test_a_write_that_fails_on_the_destination_ends_the_transfer_and_a_retry_resumes(
        disk, receiver, sender, server, monkeypatch):
    """A failed write ends the transfer, and what was written before it still counts."""
    write_at, writes = sparse.write_at, []

    def full_after_four_chunks(fd, data, offset):
        if len(writes) >= 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        writes.append(offset)
        write_at(fd, data, offset)

    monkeypatch.setattr(sparse, "write_at", full_after_four_chunks)
    with pytest.raises(exception.TransferFailed):
        sender.send(disk, receiver.expect("migration-1", server))
    _wait_idle(receiver)
    assert not os.path.exists(arrived(receiver, server))

    monkeypatch.setattr(sparse, "write_at", write_at)
    result = sender.send(disk, receiver.expect("migration-1", server))
    assert result.resumed_from == 100 * MIB + 3 * CHUNK   # chunks 0 to 3 were written
    assert sparse.digest(arrived(receiver, server)) == sparse.digest(disk)


def test_a_target_without_a_digest_key_is_refused_before_connecting(disk, receiver, sender,
                                                                   server):
    target = receiver.expect("migration-1", server)
    older = {name: value for name, value in target.items() if name != keys.TARGET_FIELD}
    with pytest.raises(exception.TransferFailed,
                       match="carries no digest key: the destination runs an older herder"):
        sender.send(disk, older)
    assert receiver.last_transfer is None   # it never connected


def test_a_destination_of_protocol_version_2_is_detected_by_its_ready(disk, sender):
    listener = socket.create_server((DEST_IP, 0))

    def older_destination():
        conn, _ = listener.accept()
        with conn:
            protocol.receive(conn, Kind.HELLO)
            protocol.send(conn, Kind.READY, {"version": 2, "resume_from": 0, "state": None})
            conn.recv(1)

    thread = threading.Thread(target=older_destination, daemon=True)
    thread.start()
    target = {"host": DEST_IP, "port": listener.getsockname()[1], "token": "t",
              "migration_uuid": "migration-1", "disk": "disk", "tls": False,
              keys.TARGET_FIELD: keys.new_key()}
    try:
        with pytest.raises(exception.TransferFailed,
                           match="the destination speaks disk transfer protocol version 2, "
                                 "this host speaks 3"):
            sender.send(disk, target)
    finally:
        listener.close()
        thread.join(5)
