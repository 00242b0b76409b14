"""The source half of a disk transfer: stream a disk's allocated extents to a receiver.

The source connects from its own address to the destination's transfer agent, presents the
grant the destination issued, and learns where to resume. It then walks the disk's data extents
in order: every chunk is hashed into the whole-disk digest, and those past the resume point go
over the wire, each with its own hash, at most `bandwidth_limit_mbps`. A chunk the destination
finds damaged is sent again (up to MAX_RESENDS times). The transfer counts only when the
destination's digest of what it wrote equals ours.
"""
import logging
import os
import socket
from dataclasses import dataclass
from typing import Callable

from herder import exception
from herder.transfer import protocol, sparse
from herder.transfer.bandwidth import Throttle
from herder.transfer.protocol import Kind

LOG = logging.getLogger(__name__)
MAX_RESENDS = 3


@dataclass
class SendResult:
    size: int                 # apparent size of the disk
    allocated_bytes: int      # its data, what a transfer from zero sends
    digest: str
    bytes_sent: int           # data bytes that went over the wire this time, re-sends included
    resumed_from: int         # offset the destination already had verified
    chunks_resent: int
    local: tuple[str, int]    # the connection as this side saw it
    peer: tuple[str, int]


class DiskSender:
    def __init__(self, source_ip: str | None, chunk_size: int = 1024 * 1024,
                 bandwidth_limit_mbps: float = 0.0, io_timeout: float = 60.0):
        if not 0 < chunk_size <= protocol.MAX_PAYLOAD:
            raise ValueError(f"chunk size must be 1..{protocol.MAX_PAYLOAD} bytes")
        self.source_ip = source_ip
        self.chunk_size = chunk_size
        self.bandwidth_limit_mbps = bandwidth_limit_mbps
        self.io_timeout = io_timeout

    def send(self, path: str, target: dict,
             progress: Callable[[int, int], None] | None = None) -> SendResult:
        """Send the disk at `path` to `target` (what the destination's `expect` returned)."""
        fd = os.open(path, os.O_RDONLY)
        try:
            with self._connect(target) as sock:
                return self._send(fd, sock, target, progress)
        finally:
            os.close(fd)

    def _connect(self, target: dict) -> socket.socket:
        address = (target["host"], target["port"])
        try:
            return socket.create_connection(
                address, timeout=self.io_timeout,
                source_address=(self.source_ip, 0) if self.source_ip else None)
        except OSError as error:
            raise exception.TransferFailed(
                reason=f"cannot reach the transfer agent at {address[0]}:{address[1]}: "
                       f"{error}") from error

    def _send(self, fd: int, sock: socket.socket, target: dict,
              progress: Callable[[int, int], None] | None) -> SendResult:
        size = os.fstat(fd).st_size
        spans = list(sparse.extents(fd, size))
        total = sum(length for _, length in spans)
        protocol.send(sock, Kind.HELLO, {"token": target["token"],
                                         "migration": target["migration_uuid"],
                                         "disk": target["disk"], "size": size})
        ready = protocol.receive(sock, Kind.READY)
        resume_from = protocol.field_int(ready.header, "resume_from")
        throttle = Throttle(self.bandwidth_limit_mbps)
        digest = sparse.new_digest(size)
        done = sent = resent = 0
        for piece, piece_length in sparse.pieces(spans):
            digest.update(sparse.position_bytes(piece))
            for offset, length in sparse.pieces([(piece, piece_length)], self.chunk_size):
                data = os.pread(fd, length, offset)
                digest.update(data)
                done += length
                if offset + length <= resume_from:
                    continue     # the destination has it, verified
                if offset < resume_from:  # a chunk size change since: send only the rest
                    data, offset = data[resume_from - offset:], resume_from
                resends = self._send_chunk(sock, offset, data)
                resent += resends
                sent += len(data) * (1 + resends)
                throttle.pace(len(data) * (1 + resends))
                if progress is not None:
                    progress(done, total)
        protocol.send(sock, Kind.DONE, {"digest": digest.hexdigest()})
        result = protocol.receive(sock, Kind.RESULT).header
        if not result.get("ok"):
            raise exception.TransferFailed(reason=str(result.get("reason")))
        if progress is not None and done and not sent:
            progress(done, total)   # nothing left to send: say it is all there
        return SendResult(size=size, allocated_bytes=total, digest=digest.hexdigest(),
                          bytes_sent=sent, resumed_from=resume_from, chunks_resent=resent,
                          local=sock.getsockname()[:2], peer=sock.getpeername()[:2])

    def _send_chunk(self, sock: socket.socket, offset: int, data: bytes) -> int:
        """Send one chunk until the destination verifies it; returns how many re-sends it took."""
        header = {"offset": offset, "hash": protocol.chunk_hash(offset, data)}
        for attempt in range(MAX_RESENDS + 1):
            protocol.send(sock, Kind.DATA, header, data)
            ack = protocol.receive(sock, Kind.ACK).header
            if ack.get("offset") != offset:
                raise exception.TransferFailed(reason=f"acknowledgement for the wrong chunk "
                                                      f"({ack.get('offset')}, not {offset})")
            if ack.get("ok"):
                return attempt
            LOG.warning("chunk at %d arrived damaged at %s; sending it again", offset,
                        sock.getpeername()[0])
        raise exception.TransferFailed(
            reason=f"the chunk at offset {offset} arrived damaged {MAX_RESENDS + 1} times")
