"""The source half of a disk transfer: stream a disk's allocated extents to a receiver.

The source opens the disk (a regular file; anything else is refused before connecting),
connects from its own address to the destination's transfer agent (over TLS if configured),
presents the grant the destination issued with the disk's size and data, and learns where to
resume. It then walks the disk's data extents in order: everything is fed to the content digest
(`sparse.ContentDigest`, keyed with the grant's digest key, which the target carries and which
is never sent), and the chunks past the resume point go over the wire, each with its check, at
most `bandwidth_limit_mbps`. Up to `window_chunks` chunks travel before their
acknowledgements come back; these are read as they arrive. A chunk the destination finds
damaged is sent again, with every chunk sent after it (go-back-N, up to MAX_RESENDS times per
chunk), so the destination only ever verifies the disk in order. The transfer counts only when
the destination's digest of what it wrote equals ours.
"""
import errno
import logging
import os
import socket
import ssl
import stat
from collections import deque
from dataclasses import dataclass
from typing import Callable

from herder import exception
from herder.transfer import keys, protocol, sparse
from herder.transfer.bandwidth import Throttle
from herder.transfer.protocol import Kind
from herder.transfer.tls import TLSConfig

LOG = logging.getLogger(__name__)
MAX_RESENDS = 3
DEFAULT_WINDOW = 16

_FILE_TYPES = [(stat.S_ISDIR, "directory"), (stat.S_ISCHR, "character device"),
               (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "FIFO"),
               (stat.S_ISSOCK, "socket"), (stat.S_ISLNK, "symbolic link")]


@dataclass
class SendResult:
    size: int                 # apparent size of the disk
    allocated_bytes: int      # its data, what a transfer from zero sends
    digest: str               # content digest keyed with the grant's key (hex), the same as
                              # the destination's `partial_disk.completed_digest` of the disk
    bytes_sent: int           # data bytes that went over the wire this time, re-sends included
    resumed_from: int         # offset the destination already had verified
    chunks_resent: int        # chunks sent again: damaged ones and those sent after them
    local: tuple[str, int]    # the connection as this side saw it
    peer: tuple[str, int]
    chunks_damaged: int = 0   # chunks the destination found damaged


def open_regular(path: str) -> int:
    """A read-only descriptor of the regular file at `path`. A symbolic link, a device, a FIFO,
    a socket or a directory is refused (TransferFailed) rather than sent as whatever reading
    it gives: a link is not followed, so what is sent is the file the driver named."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.ENODEV):
            _refuse_kind(path, os.lstat(path).st_mode)
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            _refuse_kind(path, mode)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuse_kind(path: str, mode: int) -> None:
    kind = next((name for test, name in _FILE_TYPES if test(mode)), "special file")
    if stat.S_ISREG(mode):
        return
    raise exception.TransferFailed(
        reason=f"{path} is a {kind}; herder transfers regular files only")


class DiskSender:
    def __init__(self, source_ip: str | None, chunk_size: int = 1024 * 1024,
                 bandwidth_limit_mbps: float = 0.0, io_timeout: float = 60.0,
                 window_chunks: int = DEFAULT_WINDOW, tls: TLSConfig | None = None):
        if chunk_size <= 0:
            raise ValueError("the chunk size must be positive")
        if window_chunks < 1:
            raise ValueError("the window must hold at least one chunk")
        self.source_ip = source_ip
        # a chunk never crosses a digest block: larger sizes are worth no more than one block
        self.chunk_size = min(chunk_size, protocol.MAX_PAYLOAD)
        self.bandwidth_limit_mbps = bandwidth_limit_mbps
        self.io_timeout = io_timeout
        self.window_chunks = window_chunks
        self.tls = tls or TLSConfig()
        self._tls_context = self.tls.client_context() if self.tls.enabled else None

    def send(self, path: str, target: dict,
             progress: Callable[[int, int], None] | None = None) -> SendResult:
        """Send the disk at `path` to `target` (what the destination's `expect` returned)."""
        keys.from_target(target)   # a target without a digest key: say so before connecting
        fd = open_regular(path)
        try:
            with self._connect(target) as sock:
                return _Transfer(self, fd, sock, target, progress).run()
        finally:
            os.close(fd)

    def _connect(self, target: dict) -> socket.socket:
        address = (target["host"], target["port"])
        where = f"the transfer agent at {address[0]}:{address[1]}"
        if target.get("tls") and self._tls_context is None:
            raise exception.TransferFailed(
                reason=f"{where} takes TLS connections only, and this host has no [transfer] "
                       "tls_cert_file and tls_key_file")
        if target.get("tls") is False and self._tls_context is not None:
            raise exception.TransferFailed(
                reason=f"{where} does not offer TLS, and this host sends over TLS only")
        try:
            sock = socket.create_connection(
                address, timeout=self.io_timeout,
                source_address=(self.source_ip, 0) if self.source_ip else None)
        except OSError as error:
            raise exception.TransferFailed(reason=f"cannot reach {where}: {error}") from error
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls_context is not None:
                sock = self._tls_context.wrap_socket(sock, server_hostname=address[0])
        except (ssl.SSLError, ssl.CertificateError, OSError) as error:
            sock.close()
            raise exception.TransferFailed(
                reason=f"TLS handshake with {where} failed: {error}") from error
        return sock


def _clip(spans: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of the extents between `start` and `end`."""
    clipped = []
    for offset, length in spans:
        low, high = max(offset, start), min(offset + length, end)
        if low < high:
            clipped.append((low, high - low))
    return clipped


class _Chunk:
    __slots__ = ("seq", "offset", "data", "buffer", "check", "done", "damaged")

    def __init__(self, seq, offset, data, buffer, check, done):
        self.seq, self.offset, self.data, self.buffer = seq, offset, data, buffer
        self.check, self.done, self.damaged = check, done, 0


class _Transfer:
    """One send of one disk on one connection."""

    def __init__(self, sender: DiskSender, fd: int, sock: socket.socket, target: dict,
                 progress: Callable[[int, int], None] | None):
        self.sender, self.fd, self.sock, self.target = sender, fd, sock, target
        self.key = keys.from_target(target)
        self.progress = progress
        self.throttle = Throttle(sender.bandwidth_limit_mbps)
        self.in_flight: deque[_Chunk] = deque()
        self.free: list[bytearray] = []
        self.sent = self.resent = self.damaged = 0
        self.total = 0

    def run(self) -> SendResult:
        fd, sock = self.fd, self.sock
        size = os.fstat(fd).st_size
        spans = list(sparse.extents(fd, size))
        self.total = total = sum(length for _, length in spans)
        self._send(Kind.HELLO, {"version": protocol.VERSION,
                                "token": self.target["token"],
                                "migration": self.target["migration_uuid"],
                                "disk": self.target["disk"], "size": size,
                                "allocated": total})
        ready = self._receive(Kind.READY).header
        protocol.check_version(ready, "destination")
        resume_from = protocol.field_int(ready, "resume_from")
        if resume_from > size:
            raise exception.TransferFailed(reason=f"the destination would resume at "
                                                  f"{resume_from}, past the disk's end")
        digest = sparse.ContentDigest(size, self.key)
        done = self._digest_prefix(digest, spans, resume_from)
        complete_there = resume_from == size and ready.get("state") is None
        if resume_from and not complete_there and ready.get("state") != digest.fingerprint():
            # what the destination verified is not this disk's content (changed at rest on
            # either side): it drops its copy on a digest that cannot match, and we start over
            self._send(Kind.DONE, {"digest": None})
            self._receive(Kind.RESULT)
            raise exception.TransferFailed(
                reason=f"the destination's partial copy differs from this disk before offset "
                       f"{resume_from}; the next attempt sends the disk from the start")
        window, chunk_size, seq = self.sender.window_chunks, self.sender.chunk_size, 0
        for offset, step in sparse.pieces(_clip(spans, resume_from, size), chunk_size):
            while len(self.in_flight) >= window:
                self._acknowledged()
            while self.in_flight and protocol.readable(sock):
                self._acknowledged()
            buffer = self.free.pop() if self.free else bytearray(chunk_size)
            data = sparse.read_into(fd, memoryview(buffer)[:step], offset)
            digest.update(offset, data)
            done += step
            chunk = _Chunk(seq, offset, data, buffer, digest.chunk_check(offset), done)
            seq += 1
            self.in_flight.append(chunk)
            self._transmit(chunk)
        while self.in_flight:
            self._acknowledged()
        digest.skip_to(size)
        self._send(Kind.DONE, {"digest": digest.hexdigest()})
        result = self._receive(Kind.RESULT).header
        if not result.get("ok"):
            raise exception.TransferFailed(reason=str(result.get("reason")))
        if self.progress is not None and done and not self.sent:
            self.progress(done, total)   # nothing left to send: say it is all there
        return SendResult(size=size, allocated_bytes=total, digest=digest.hexdigest(),
                          bytes_sent=self.sent, resumed_from=resume_from,
                          chunks_resent=self.resent, local=sock.getsockname()[:2],
                          peer=sock.getpeername()[:2], chunks_damaged=self.damaged)

    def _digest_prefix(self, digest: sparse.ContentDigest, spans: list[tuple[int, int]],
                       resume_from: int) -> int:
        """Feed the digest what the destination already has (it is not sent); returns how
        much data that is."""
        buffer = memoryview(bytearray(sparse.BLOCK))
        done = 0
        for offset, step in sparse.pieces(_clip(spans, 0, resume_from), sparse.BLOCK):
            digest.update(offset, sparse.read_into(self.fd, buffer[:step], offset))
            done += step
        digest.skip_to(resume_from)
        return done

    def _transmit(self, chunk: _Chunk) -> None:
        self._send(Kind.DATA, {"seq": chunk.seq, "offset": chunk.offset, "check": chunk.check},
                   chunk.data)
        self.sent += len(chunk.data)
        self.throttle.pace(len(chunk.data))

    def _acknowledged(self) -> None:
        """Wait for the next acknowledgement and act on it. `seq` ok: that chunk and those
        before it are verified. `seq` not ok: those before it are, it is not (damaged, or it
        was not the one expected): it and everything after it go again."""
        ack = self._receive(Kind.ACK).header
        seq = ack.get("seq")
        if not isinstance(seq, int) or not self.in_flight or \
                not self.in_flight[0].seq <= seq <= self.in_flight[-1].seq:
            raise exception.TransferFailed(reason=f"acknowledgement for a chunk not in "
                                                  f"flight ({seq})")
        ok = bool(ack.get("ok"))
        verified_through = seq if ok else seq - 1
        while self.in_flight and self.in_flight[0].seq <= verified_through:
            head = self.in_flight.popleft()
            self.free.append(head.buffer)
            if self.progress is not None:
                self.progress(head.done, self.total)
        if ok:
            return
        head = self.in_flight[0]   # seq: damaged, or not the one the destination expected
        head.damaged += 1
        self.damaged += 1
        if head.damaged > MAX_RESENDS:
            raise exception.TransferFailed(
                reason=f"the chunk at offset {head.offset} arrived damaged "
                       f"{MAX_RESENDS + 1} times")
        LOG.warning("chunk at %d arrived damaged at %s; sending it again with the %d after it",
                    head.offset, self.target["host"], len(self.in_flight) - 1)
        for chunk in list(self.in_flight):   # the destination dropped everything after it
            self._transmit(chunk)
            self.resent += 1

    def _receive(self, *kinds: Kind) -> protocol.Frame:
        try:
            return protocol.receive(self.sock, *kinds)
        except exception.TransferRefused:
            raise
        except exception.TransferFailed as error:
            explained = self._explained(error)
            if explained is error:
                raise
            raise explained from error

    def _send(self, kind: Kind, header: dict, payload=b"") -> None:
        try:
            protocol.send(self.sock, kind, header, payload)
        except exception.TransferFailed as error:
            explained = self._explained(error)
            if explained is error:
                raise
            raise explained from error

    def _explained(self, error: exception.TransferFailed) -> exception.TransferFailed:
        """Over TLS, a destination that does not accept our certificate says so in an alert
        that ends the connection, which a send or a receive may see as a bare EOF: read the
        alert, so that the error says what happened. Other errors are returned as they are."""
        if not isinstance(self.sock, ssl.SSLSocket):
            return error
        cause = error.__cause__
        if not isinstance(cause, ssl.SSLError) or isinstance(cause, ssl.SSLEOFError):
            try:
                self.sock.settimeout(1.0)
                self.sock.recv(1)
            except ssl.SSLError as alert:
                cause = alert
            except OSError:
                pass
        if not isinstance(cause, ssl.SSLError):
            return error
        return exception.TransferFailed(
            reason=f"the TLS connection to {self.target['host']} failed: {cause}")
