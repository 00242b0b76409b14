"""The destination half of the transfer agent: a threaded TCP server on the host's own address.

The compute host tells it which disks to expect (`expect`, from prep_resize) and hands the grant
(its single-use token, and the digest key the transfer's checks and digest are keyed with:
keys.py) to the source through the conductor. The destination alone decides where a disk goes: the
instances directory, the migration's server, the grant's disk name; the source only sends
bytes. A connection without a valid grant, or one that would write outside the instances
directory, is refused before anything is written; so is a disk the instances directory has
no room for (less `reserved_disk_mb`, less what running transfers will still write). With TLS
configured (herder/transfer/tls.py), connections are TLS only.

Anyone on the network can connect, so a connection must earn its thread: at most
`max_connections` are served at once, the greeting (TLS handshake and HELLO) must be complete
within `hello_timeout` seconds, and the warnings about refused connections are rate-limited so
that junk cannot flood the log. Nothing a peer sends stops the accepting loop.

A server's disk may be several files (`disk`, `disk.eph0`, `disk.swap`, `disk.info`, ...): each
has its own grant and transfer, and `cancel` stops and cleans up all of a server's transfers.
"""
import logging
import math
import os
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from herder import exception
from herder.transfer import keys, partial_disk, protocol, tokens
from herder.transfer.partial_disk import PartialDisk
from herder.transfer.protocol import Kind
from herder.transfer.tls import TLSConfig
from herder.fault_injection import FaultInjector
from herder.log_budget import WarningBudget

LOG = logging.getLogger(__name__)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")   # one path component, not hidden
STOP_WAIT = 10.0     # seconds stopping a session waits for a running session to stop writing
MIB = 1024 * 1024
ACK_EVERY = 8        # verified chunks one acknowledgement may cover, while more are arriving


@dataclass
class TransferRecord:
    """What the receiver sees of a transfer (the latest one is `last_transfer`)."""
    migration_uuid: str
    instance_uuid: str
    disk: str
    peer: tuple[str, int]
    local: tuple[str, int]
    resumed_from: int = 0
    bytes_received: int = 0
    chunks_rejected: int = 0
    completed: bool = False


class TransferReceiver:
    def __init__(self, host: str, listen_ip: str, port: int, instances_dir: str,
                 token_ttl: float, io_timeout: float = 60.0,
                 fault_points: FaultInjector | None = None, reserved_disk_mb: int = 64,
                 tls: TLSConfig | None = None, hello_timeout: float = 10.0,
                 max_connections: int = 64):
        self.host = host
        self.listen_ip = listen_ip
        self.port = port
        self.instances_dir = instances_dir
        self.io_timeout = io_timeout
        self.hello_timeout = hello_timeout
        self._connection_slots = threading.BoundedSemaphore(max_connections)
        self._warnings = WarningBudget(LOG)
        self.fault_points = fault_points or FaultInjector(host)
        self.reserved_bytes = reserved_disk_mb * MIB
        self.tls = tls or TLSConfig()
        self._tls_context = self.tls.server_context() if self.tls.enabled else None
        self.grants = tokens.GrantBook(token_ttl)
        self.last_transfer: TransferRecord | None = None
        self._listener: socket.socket | None = None
        self._sessions: dict[str, "_Session"] = {}     # disk path -> the session writing it
        self._cancels = 0                        # how many cancels there have been
        self._cancelled_at: dict[str, int] = {}   # instance -> the count at its latest cancel
        self._lock = threading.Lock()

    # -- service life -----------------------------------------------------------------------
    def start(self) -> None:
        self._listener = socket.create_server((self.listen_ip, self.port), backlog=64)
        threading.Thread(target=self._accept, args=(self._listener,),
                         name=f"transfer-{self.host}", daemon=True).start()
        LOG.info("transfer agent of %s listening on %s:%d%s", self.host, *self.address,
                 " (TLS only)" if self._tls_context is not None else "")

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                sock, peer = listener.accept()
            except OSError as error:
                if self._listener is not listener:
                    return      # `stop` shut the listener down
                self._warnings.warn("transfer agent of %s could not accept: %s", self.host,
                                    error)
                time.sleep(0.1)     # out of file descriptors, say: they come back
                continue
            if not self._connection_slots.acquire(blocking=False):
                self._warnings.warn("transfer agent of %s refused %s:%d: %s", self.host,
                                    *peer[:2], "too many connections at once")
                sock.close()
                continue
            try:
                threading.Thread(target=self._serve, args=(sock, peer), daemon=True,
                                 name=f"transfer-{self.host}-{peer[0]}:{peer[1]}").start()
            except Exception as error:   # no thread to be had: this one goes, the loop stays
                self._connection_slots.release()
                sock.close()
                self._warnings.warn("transfer agent of %s dropped %s:%d: %s", self.host,
                                    *peer[:2], error)

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        try:
            listener.shutdown(socket.SHUT_RDWR)   # wakes the accepting thread at once
        except OSError:
            pass
        listener.close()
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.stop(discard=False)

    @property
    def address(self) -> tuple[str, int]:
        """Where sources connect: the bound address, so port 0 means the port we got."""
        if self._listener is None:
            raise exception.TransferFailed(reason=f"the transfer agent of {self.host} is "
                                                  "not running")
        return self._listener.getsockname()[:2]

    # -- what the compute host asks -------------------------------------------------------------
    def expect(self, migration_uuid: str, instance_uuid: str, disk: str = "disk",
               max_size: int | None = None) -> dict:
        """Agree to receive `disk` of the migration's server, of at most `max_size` bytes:
        the target the source needs, with the grant's token and digest key (keys.py). Every
        grant for the same migration's disk gets the same key (an outstanding grant's, else
        the one its resume record keeps, else a new one), so that a retry resumes."""
        path = self.disk_path(instance_uuid, disk)  # refuse now what would be refused later
        host, port = self.address
        digest_key = self.grants.outstanding_key(migration_uuid, instance_uuid, disk) or \
            partial_disk.recorded_key(path, migration_uuid) or keys.new_key()
        token = self.grants.issue(migration_uuid, instance_uuid, disk, max_size=max_size,
                                  digest_key=digest_key)
        return {"host": host, "port": port, "token": token, "migration_uuid": migration_uuid,
                "disk": disk, "tls": self.tls.enabled, keys.TARGET_FIELD: digest_key}

    def cancel(self, instance_uuid: str) -> None:
        """Nothing more arrives for this server: its grants go, its running transfers (of all
        its disk files) stop, and their partial files and resume records are removed. Disks
        that arrived complete stay: the caller decides about those."""
        self.grants.revoke(instance_uuid)
        with self._lock:
            self._cancels += 1
            self._cancelled_at[instance_uuid] = self._cancels
            sessions = [s for s in self._sessions.values() if s.instance_uuid == instance_uuid]
        for session in sessions:
            session.stop(discard=True)
        with self._lock:
            self._remove_leftovers(instance_uuid)

    def _remove_leftovers(self, instance_uuid: str) -> None:
        """The partial files and resume records in the server's directory, except those of a
        transfer that started since the cancel (a new grant)."""
        try:
            directory = os.path.dirname(self.disk_path(instance_uuid, "disk"))
            names = os.listdir(directory)
        except (exception.TransferRefused, FileNotFoundError, NotADirectoryError):
            return
        for name in names:
            path = os.path.join(directory, name)
            suffix = next((s for s in partial_disk.SUFFIXES if name.endswith(s)), None)
            if suffix is None or path[:-len(suffix)] in self._sessions:
                continue
            try:
                os.remove(path)
            except (FileNotFoundError, IsADirectoryError):
                pass

    def disk_path(self, instance_uuid: str, disk: str) -> str:
        """`<instances_dir>/<instance>/<disk>`, or TransferRefused if that is not plainly inside
        the instances directory (odd names, symlinks out)."""
        if not (_NAME.match(instance_uuid) and _NAME.match(disk)) or \
                disk.endswith(partial_disk.SUFFIXES):   # a transfer's own files are not disks
            raise exception.TransferRefused(reason="no such disk here")
        root = os.path.realpath(self.instances_dir)
        directory = os.path.realpath(os.path.join(root, instance_uuid))
        if os.path.dirname(directory) != root:
            raise exception.TransferRefused(reason="no such disk here")
        return os.path.join(directory, disk)

    # -- one connection -------------------------------------------------------------------------
    def _serve(self, raw: socket.socket, peer: tuple) -> None:
        raw.settimeout(self.io_timeout)
        sock: socket.socket | None = raw
        session = None
        # a greeting not complete in time: the socket is shut, which ends the waiting read
        hang_up = threading.Timer(self.hello_timeout, _shut, (raw,))
        hang_up.start()
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls_context is not None:
                sock = self._wrap(raw, peer)   # the TLS socket takes over the connection
                if sock is None:
                    return
            hello = protocol.receive(sock, Kind.HELLO).header
            hang_up.cancel()
            try:
                session = self._open(hello, sock, peer)
            except (exception.TransferRefused, exception.TransferFailed) as refusal:
                self._warnings.warn("transfer agent of %s refused %s:%d: %s", self.host,
                                    *peer[:2], refusal)
                protocol.send(sock, Kind.REFUSED, {"reason": str(refusal.kwargs.get(
                    "reason", refusal))})
                return
            session.run()
        except (exception.TransferFailed, exception.DriverError) as error:
            if session is None:     # never got past its greeting: junk, or too slow
                self._warnings.warn("transfer agent of %s dropped %s:%d: %s", self.host,
                                    *peer[:2], error)
            else:
                LOG.warning("transfer from %s:%d to %s ended: %s", *peer[:2], self.host,
                            error)
        except Exception:  # a broken session must not take the server with it
            LOG.exception("transfer from %s:%d to %s failed", *peer[:2], self.host)
        finally:
            hang_up.cancel()
            if session is not None:
                session.close()
                with self._lock:
                    if self._sessions.get(session.disk.path) is session:
                        del self._sessions[session.disk.path]
            if sock is not None:
                sock.close()
            raw.close()
            self._connection_slots.release()

    def _wrap(self, sock: socket.socket, peer: tuple) -> ssl.SSLSocket | None:
        """The TLS side of an accepted connection, or None (after telling a plain source why)
        if it does not start a TLS handshake."""
        first = sock.recv(1, socket.MSG_PEEK)
        if not first:
            return None
        if first[0] != protocol.TLS_HANDSHAKE:
            reason = (f"the transfer agent of {self.host} takes TLS connections only; the "
                      "source has no [transfer] tls_cert_file and tls_key_file")
            self._warnings.warn("transfer agent of %s refused %s:%d: %s", self.host,
                                *peer[:2], reason)
            try:
                protocol.receive(sock, Kind.HELLO)   # read it all, so our answer is not reset
            except exception.TransferFailed:
                return None
            protocol.send(sock, Kind.REFUSED, {"reason": reason})
            return None
        try:
            return self._tls_context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError) as error:
            self._warnings.warn("TLS handshake of %s:%d with the transfer agent of %s "
                                "failed: %s", *peer[:2], self.host, error)
            _linger(sock)   # so that the source gets our alert, not a reset
            return None

    def _open(self, hello: dict, sock: socket.socket, peer: tuple) -> "_Session":
        protocol.check_version(hello, "source")
        size = protocol.field_int(hello, "size")
        allocated = protocol.field_int(hello, "allocated")
        with self._lock:
            cancels_before = self._cancels
        grant = self.grants.redeem(hello.get("token"), hello.get("migration"), hello.get("disk"))
        if allocated > size:
            raise exception.TransferRefused(reason="the disk's declared sizes do not add up")
        if grant.max_size is not None and size > grant.max_size:
            raise exception.TransferRefused(
                reason=f"the disk declares {size} bytes, more than the {grant.max_size} this "
                       "move allows")
        path = self.disk_path(grant.instance_uuid, grant.disk)
        with self._lock:
            previous = self._sessions.get(path)
        if previous is not None:  # a retry overtaking its own stalled attempt: that one stops
            previous.stop(discard=False)
        with self._lock:
            if self._cancelled_at.get(grant.instance_uuid, 0) > cancels_before:
                # cancelled between redeeming and here: its files are being removed
                raise exception.TransferRefused(reason="the transfer was cancelled")
            needed = partial_disk.bytes_to_come(path, grant.migration_uuid, size, allocated,
                                                grant.digest_key)
            self._check_space(path, needed)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            session = _Session(self, sock, grant,
                               PartialDisk(path, grant.migration_uuid, size, grant.digest_key),
                               TransferRecord(grant.migration_uuid, grant.instance_uuid,
                                              grant.disk, tuple(peer[:2]),
                                              tuple(sock.getsockname()[:2])), needed)
            self._sessions[path] = session
            self.last_transfer = session.record   # kept up to date as the transfer runs
        return session

    def _check_space(self, path: str, needed: int) -> None:
        """TransferRefused unless the instances directory's filesystem has room for `needed`
        more bytes, after the reserve and what running transfers will still write."""
        if not needed:
            return
        stats = os.statvfs(_existing_ancestor(os.path.dirname(path)))
        promised = sum(session.still_to_write() for session in self._sessions.values())
        free = stats.f_bavail * stats.f_frsize - self.reserved_bytes - promised
        if needed > free:
            raise exception.TransferRefused(
                reason=f"host {self.host} has {max(free, 0) // MIB} MiB free on its instances "
                       f"disk, the disk needs {math.ceil(needed / MIB)} MiB (besides "
                       f"{self.reserved_bytes // MIB} MiB kept in reserve ([transfer] "
                       f"reserved_disk_mb) and {math.ceil(promised / MIB)} MiB for other "
                       f"transfers under way)")


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _linger(sock: socket.socket, seconds: float = 1.0) -> None:
    """Half-close and read what the peer still sends (for a while): closing a socket with
    unread data resets the connection, and the peer may lose what we sent last."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(seconds)
        for _ in range(64):
            if not sock.recv(65536):
                break
    except OSError:
        pass


def _existing_ancestor(path: str) -> str:
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


class _Session:
    """One transfer on one connection: verify each chunk in sequence, write it, answer."""

    def __init__(self, receiver: TransferReceiver, sock: socket.socket, grant: tokens.Grant,
                 disk: PartialDisk, record: TransferRecord, needed: int = 0):
        self.receiver = receiver
        self.sock = sock
        self.instance_uuid = grant.instance_uuid
        self.disk = disk
        self.record = record
        self.needed = needed                # the disk space this transfer was admitted with
        self._stopped = threading.Event()
        self._discard = False
        self._finished = threading.Event()
        self._writing = threading.Lock()    # held while the files are touched
        self._payload = bytearray(protocol.MAX_PAYLOAD)   # every chunk is received into this

    def still_to_write(self) -> int:
        return max(0, self.needed - self.record.bytes_received)

    def run(self) -> None:
        with self._writing:
            self._still_wanted()
            try:
                resume_from = self.disk.prepare(self._stopped.is_set)
            except InterruptedError:
                raise exception.TransferFailed(reason="the destination stopped the transfer") \
                    from None
        self.record.resumed_from = resume_from
        protocol.send(self.sock, Kind.READY, {"version": protocol.VERSION,
                                              "resume_from": resume_from,
                                              "state": self.disk.fingerprint})
        expected, refused = 0, False    # the next seq, and whether we said no to it already
        unacknowledged = 0              # verified chunks not acknowledged yet
        while True:
            frame = protocol.receive(self.sock, Kind.DATA, Kind.DONE, into=self._payload)
            if frame.kind == Kind.DONE:
                self._finish(frame.header.get("digest"))
                return
            seq = protocol.field_int(frame.header, "seq")
            if seq != expected:   # in flight after one we refused: dropped, it comes again
                if not refused:
                    self._acknowledge(expected, False)
                    refused = True
                continue
            if self._chunk(frame):
                expected, refused, unacknowledged = expected + 1, False, unacknowledged + 1
                # one acknowledgement for several chunks while more are already arriving
                if unacknowledged >= ACK_EVERY or not protocol.readable(self.sock):
                    self._acknowledge(seq, True)
                    unacknowledged = 0
            else:
                self._acknowledge(seq, False)    # (it says the ones before are good too)
                refused, unacknowledged = True, 0

    def _acknowledge(self, seq: int, ok: bool) -> None:
        protocol.send(self.sock, Kind.ACK, {"seq": seq, "ok": ok})

    def _chunk(self, frame: protocol.Frame) -> bool:
        """Verify and write one chunk; whether it verified."""
        offset = protocol.field_int(frame.header, "offset")
        state = self.disk.verify(offset, frame.payload, frame.header.get("check"))
        if state is None:
            self.record.chunks_rejected += 1
            LOG.warning("chunk at %d for %s arrived damaged; asking for it again", offset,
                        self.disk.path)
            return False
        self.receiver.fault_points.check("receive_chunk")
        with self._writing:
            self._still_wanted()
            try:
                self.disk.write(offset, frame.payload, state)
            except ValueError as error:
                raise exception.TransferFailed(reason=str(error)) from error
            except OSError as error:
                raise exception.TransferFailed(
                    reason=f"writing the disk on {self.receiver.host} failed: "
                           f"{error}") from error
        self.record.bytes_received += len(frame.payload)
        return True

    def _finish(self, digest: object) -> None:
        with self._writing:
            self._still_wanted()
            # not a digest: the source found our partial copy is not its disk; drop it
            ok = self.disk.finish(digest if isinstance(digest, str) else None)
        self.record.completed = ok
        protocol.send(self.sock, Kind.RESULT, {
            "ok": ok, "digest": self.disk.digest,
            "reason": None if ok else "the disk's digest differs from the source's; "
                                      "it will be sent again from the start"})

    def _still_wanted(self) -> None:
        if self._stopped.is_set():
            raise exception.TransferFailed(reason="the destination stopped the transfer")

    def stop(self, discard: bool) -> None:
        """End this session and wait until it no longer touches its files. What it verified
        stays resumable unless `discard` (its files are about to be removed)."""
        self._discard = self._discard or discard
        self._stopped.set()
        try:   # the TCP connection under any TLS: wakes the session's blocked read
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except OSError:
            pass
        self._finished.wait(STOP_WAIT)

    def close(self) -> None:
        try:
            with self._writing:
                if self._discard:   # the files are about to be removed: only let go of them
                    self.disk.abandon()
                else:
                    self.disk.close()
        finally:
            self._finished.set()
