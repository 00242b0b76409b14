"""Disk transfer between two hosts on their own loopback addresses: what arrives, what is
refused, what a retry resends, how fast it may go."""
import errno
import os
import socket
import threading
import time
import uuid

import pytest

from herder import exception
from herder.transfer import incoming, protocol, sparse
from herder.transfer.bandwidth import Throttle
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


def data_before(offset: int) -> int:
    """Bytes of the test disk's data that lie before `offset`."""
    return sum(max(0, min(start + length, offset) - start) for start, length in EXTENTS)


class Proxy:
    """A man in the middle on 127.0.0.1 that can flip one byte of what the source sends, or
    cut the connection after some bytes of it."""

    def __init__(self, target: dict, corrupt_at: int | None = None,
                 cut_after: int | None = None):
        self.upstream = (target["host"], target["port"])
        self.target = {**target, "host": "127.0.0.1"}
        self.corrupt_at, self.cut_after = corrupt_at, cut_after
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.target["port"] = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        upstream = socket.create_connection(self.upstream)
        threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, outbound: bool) -> None:
        forwarded = 0
        try:
            while data := source.recv(65536):
                if outbound and self.cut_after is not None and \
                        forwarded + len(data) >= self.cut_after:
                    sink.sendall(data[:self.cut_after - forwarded])
                    for end in (source, sink):
                        end.shutdown(socket.SHUT_RDWR)
                    return
                if outbound and self.corrupt_at is not None and \
                        forwarded <= self.corrupt_at < forwarded + len(data):
                    flipped = bytearray(data)
                    flipped[self.corrupt_at - forwarded] ^= 0xFF
                    data, self.corrupt_at = bytes(flipped), None   # once
                sink.sendall(data)
                forwarded += len(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self._listener.close()


# -- what arrives ------------------------------------------------------------------------------

def test_sparse_disk_arrives_identical_by_digest_and_stays_sparse(disk, receiver, sender,
                                                                  server):
    reports = []
    target = receiver.expect("migration-1", server)
    result = sender.send(disk, target, lambda done, total: reports.append((done, total)))

    copy = arrived(receiver, server)
    assert sparse.digest(copy) == sparse.digest(disk) == result.digest
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
    result = sender.send(empty, receiver.expect("migration-1", server))
    copy = arrived(receiver, server)
    assert os.path.getsize(copy) == 256 * MIB and os.stat(copy).st_blocks == 0
    assert result.digest == sparse.digest(copy) == sparse.digest(empty)
    assert result.bytes_sent == 0


def test_only_the_disk_and_its_record_are_left_beside_each_other(disk, receiver, sender,
                                                                 server):
    sender.send(disk, receiver.expect("migration-1", server))
    assert sorted(os.listdir(os.path.dirname(arrived(receiver, server)))) == \
        ["disk", "disk.transfer"]
    incoming.remove_leftovers(arrived(receiver, server))
    assert os.listdir(os.path.dirname(arrived(receiver, server))) == ["disk"]


def test_a_corrupted_chunk_is_detected_and_sent_again(disk, receiver, sender, server):
    # 2000 bytes into the stream is inside the first chunk's payload
    proxy = Proxy(receiver.expect("migration-1", server), corrupt_at=2000)
    try:
        result = sender.send(disk, proxy.target)
    finally:
        proxy.close()
    assert result.chunks_resent == 1
    assert result.bytes_sent == ALLOCATED + CHUNK
    assert receiver.last_transfer.chunks_rejected == 1
    assert sparse.digest(arrived(receiver, server)) == sparse.digest(disk)


def test_a_chunk_damaged_every_time_fails_the_transfer(disk, receiver, sender, server,
                                                      monkeypatch):
    honest, source_thread = protocol.chunk_hash, threading.current_thread()

    def hash_on_the_source_side(offset: int, data: bytes) -> str:
        # the source vouches for bytes other than those it sends at offset 0, every time
        if threading.current_thread() is source_thread and offset == 0:
            return honest(offset, data + b"!")
        return honest(offset, data)

    monkeypatch.setattr(protocol, "chunk_hash", hash_on_the_source_side)
    with pytest.raises(exception.TransferFailed, match="arrived damaged 4 times"):
        sender.send(disk, receiver.expect("migration-1", server))
    assert not os.path.exists(arrived(receiver, server))


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
    partial = incoming.partial_path(arrived(receiver, server))
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
    first = sender.send(disk, receiver.expect("migration-1", server))
    again = sender.send(disk, receiver.expect("migration-1", server))
    assert (again.resumed_from, again.bytes_sent) == (GIB, 0)
    assert again.digest == first.digest == sparse.digest(arrived(receiver, server))


def test_a_partial_disk_damaged_at_rest_fails_the_digest_and_the_next_try_starts_over(
        disk, receiver, sender, server):
    _interrupted(disk, receiver, sender, server, cut_after=600 * KIB)
    _wait_idle(receiver)
    with open(incoming.partial_path(arrived(receiver, server)), "r+b") as f:
        f.seek(10)
        f.write(b"rot")   # verified once, changed since: only the whole-disk digest sees it
    with pytest.raises(exception.TransferFailed, match="digest differs"):
        sender.send(disk, receiver.expect("migration-1", server))
    assert not os.path.exists(arrived(receiver, server))

    result = sender.send(disk, receiver.expect("migration-1", server))
    assert (result.resumed_from, result.bytes_sent) == (0, ALLOCATED)
    assert sparse.digest(arrived(receiver, server)) == sparse.digest(disk)


def test_cancel_stops_a_running_transfer_and_refuses_its_grants(disk, receiver, server):
    hold = receiver.faults.hold("receive_chunk")
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


def test_a_chunk_hash_covers_where_the_chunk_goes():
    assert protocol.chunk_hash(0, b"data") != protocol.chunk_hash(4096, b"data")
