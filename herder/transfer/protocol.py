"""The disk transfer wire format: typed frames over one TCP connection.

    frame   = kind (1 byte) | header length (4 bytes) | payload length (4 bytes) | header | payload
    header  = a JSON object; payload = raw disk bytes (DATA frames only)

One connection carries one transfer, in lock step:

    source  HELLO   {token, migration, disk, size}
    dest    READY   {resume_from}              or REFUSED {reason}, and hangs up
    source  DATA    {offset, hash} + bytes     offsets increase, none before resume_from
    dest    ACK     {offset, ok}               ok false: it arrived damaged, the source re-sends
    ...     (DATA and ACK for every chunk left)
    source  DONE    {digest}                   `sparse.digest` of the whole disk
    dest    RESULT  {ok, digest, reason}

Every chunk waits for its ACK: a damaged chunk is re-sent before the next one goes, so what the
destination has verified is always a prefix of the disk, and a retry resumes after it.
"""
import enum
import hashlib
import json
import socket
import struct
from dataclasses import dataclass, field

from herder import exception
from herder.transfer import sparse

_PREAMBLE = struct.Struct("!BII")
MAX_HEADER = 64 * 1024
MAX_PAYLOAD = sparse.CHUNK


class Kind(enum.IntEnum):
    HELLO = 1
    READY = 2
    REFUSED = 3
    DATA = 4
    ACK = 5
    DONE = 6
    RESULT = 7


@dataclass
class Frame:
    kind: Kind
    header: dict
    payload: bytes = field(default=b"", repr=False)


def chunk_hash(offset: int, data: bytes) -> str:
    """What a DATA frame's `hash` says: BLAKE2b of the offset and the bytes, so a chunk that
    lands at the wrong place fails as surely as one whose bytes changed."""
    result = hashlib.blake2b(digest_size=32)
    result.update(sparse.position_bytes(offset))
    result.update(data)
    return result.hexdigest()


def send(sock: socket.socket, kind: Kind, header: dict, payload: bytes = b"") -> None:
    encoded = json.dumps(header).encode()
    try:
        sock.sendall(_PREAMBLE.pack(kind, len(encoded), len(payload)) + encoded)
        if payload:
            sock.sendall(payload)
    except OSError as error:
        raise exception.TransferFailed(reason=f"connection lost while sending: {error}") \
            from error


def receive(sock: socket.socket, *expected: Kind) -> Frame:
    """The next frame, which must be one of `expected`; anything else ends the transfer."""
    kind, header_length, payload_length = _PREAMBLE.unpack(_read(sock, _PREAMBLE.size))
    if header_length > MAX_HEADER or payload_length > MAX_PAYLOAD:
        raise exception.TransferFailed(reason="oversized frame")
    try:
        kind = Kind(kind)
        header = json.loads(_read(sock, header_length))
    except ValueError as error:
        raise exception.TransferFailed(reason=f"malformed frame: {error}") from error
    if not isinstance(header, dict):
        raise exception.TransferFailed(reason="malformed frame: header is not an object")
    payload = _read(sock, payload_length) if payload_length else b""
    if kind not in expected:
        if kind == Kind.REFUSED:
            raise exception.TransferRefused(reason=str(header.get("reason")))
        raise exception.TransferFailed(
            reason=f"expected {'/'.join(k.name for k in expected)}, got {kind.name}")
    return Frame(kind, header, payload)


def _read(sock: socket.socket, length: int) -> bytes:
    buffer = bytearray(length)
    view = memoryview(buffer)
    received = 0
    try:
        while received < length:
            count = sock.recv_into(view[received:])
            if count == 0:
                raise exception.TransferFailed(reason="the peer closed the connection")
            received += count
    except OSError as error:
        raise exception.TransferFailed(reason=f"connection lost while receiving: {error}") \
            from error
    return bytes(buffer)


def field_int(header: dict, name: str) -> int:
    """A non-negative integer header field, or the transfer ends."""
    value = header.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise exception.TransferFailed(reason=f"malformed frame: bad {name}")
    return value
