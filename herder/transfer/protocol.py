"""The disk transfer wire format: typed frames over one TCP (or TLS) connection.

    frame   = kind (1 byte) | header length (4 bytes) | payload length (4 bytes) | header | payload
    header  = a JSON object; payload = raw disk bytes (DATA frames only)

One connection carries one transfer (protocol version 3):

    source  HELLO   {version, token, migration, disk, size, allocated}
    dest    READY   {version, resume_from, state}   or REFUSED {reason}, and hangs up
    source  DATA    {seq, offset, check} + bytes    seq 0, 1, 2, ...; offsets increase
    dest    ACK     {seq, ok}                  ok: every chunk up to seq is verified and written
                                               not ok: those before seq are; seq is not
    ...     (up to `window` DATA frames travel before their ACKs come back)
    source  DONE    {digest}                   once every chunk is acknowledged
    dest    RESULT  {ok, digest, reason}

Every hash in it (`state`, `check`, `digest`) is BLAKE3 keyed with the grant's digest key
(keys.py), which the source got with the token in the target, through the conductor, and which
never crosses this connection: without it nobody on the path can make the check of a chunk
they changed, nor the digest of a disk they swapped. `digest` is `sparse.ContentDigest`'s, of the
disk's logical content: the same whatever either filesystem does with holes.

`allocated` is the data the source has (what a transfer from zero sends): the destination
refuses a disk it has no room for. `state` in READY is `ContentDigest.fingerprint` of what the
destination verified before `resume_from` (null when it has the disk complete): a source whose
own content there differs sends DONE {digest: null}, which makes the destination drop its copy,
and fails; the next attempt starts from zero. `check` is `sparse.ContentDigest.chunk_check`: it
covers the chunk's place and the content of its block up to the chunk's end, so a chunk
verifies only in its place, on top of what the destination already verified.

The destination takes chunks strictly in sequence. It verifies and writes the one it expects;
one ACK may cover several (it acknowledges at least every ACK_EVERY chunks, and whenever no
more data is waiting). For a damaged chunk, or one that is not the one it expects, it answers
not ok once and drops everything after it until that seq comes again (go-back-N). The source,
on not ok, sends again from that chunk (each chunk at most MAX_RESENDS times more). So what the
destination has verified is always a prefix of the disk, and a retry resumes after it.

Versions 1 (stop-and-wait, BLAKE2b over extent positions) and 2 (this exchange with unkeyed
SHA-256) are not understood: such a source is refused with a reason that names both versions,
and such a destination is detected by its READY (or refuses us the same way).
"""
import enum
import json
import select
import socket
import ssl
import struct
from dataclasses import dataclass, field

from herder import exception
from herder.transfer import sparse

VERSION = 3
_PREAMBLE = struct.Struct("!BII")
MAX_HEADER = 64 * 1024
MAX_PAYLOAD = sparse.BLOCK
TLS_HANDSHAKE = 0x16     # the first byte of a TLS handshake record (a ClientHello)
TLS_RECORDS = (0x15, TLS_HANDSHAKE)   # what a TLS peer sends first: an alert or a handshake


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
    payload: bytes | memoryview = field(default=b"", repr=False)


def send(sock: socket.socket, kind: Kind, header: dict, payload=b"") -> None:
    encoded = json.dumps(header, separators=(",", ":")).encode()
    head = _PREAMBLE.pack(kind, len(encoded), len(payload)) + encoded
    try:
        if not payload:
            sock.sendall(head)
        elif isinstance(sock, ssl.SSLSocket):   # no sendmsg over TLS
            sock.sendall(head)
            sock.sendall(payload)
        else:
            _sendmsg_all(sock, [memoryview(head), memoryview(payload).cast("B")])
    except OSError as error:
        raise exception.TransferFailed(reason=f"connection lost while sending: {error}") \
            from error


def _sendmsg_all(sock: socket.socket, parts: list[memoryview]) -> None:
    """Every byte of `parts`, in one system call when the socket takes them all."""
    while parts:
        sent = sock.sendmsg(parts)
        while parts and sent >= len(parts[0]):
            sent -= len(parts[0])
            parts.pop(0)
        if parts and sent:
            parts[0] = parts[0][sent:]


def receive(sock: socket.socket, *expected: Kind, into: bytearray | None = None) -> Frame:
    """The next frame, which must be one of `expected`; anything else ends the transfer. With
    `into`, a payload is read into that buffer and returned as a view of it (valid until the
    buffer is used again): no allocation per chunk."""
    kind, header_length, payload_length = _PREAMBLE.unpack(_read(sock, _PREAMBLE.size))
    if kind in TLS_RECORDS:
        raise exception.TransferFailed(reason="the peer speaks TLS and this side does not "
                                              "([transfer] tls_* options)")
    if header_length > MAX_HEADER or payload_length > MAX_PAYLOAD:
        raise exception.TransferFailed(reason="oversized frame")
    try:
        kind = Kind(kind)
        header = json.loads(_read(sock, header_length))
    except (ValueError, RecursionError) as error:   # not JSON, or nested deeper than we parse
        raise exception.TransferFailed(reason=f"malformed frame: {type(error).__name__}") \
            from error
    if not isinstance(header, dict):
        raise exception.TransferFailed(reason="malformed frame: header is not an object")
    payload = b""
    if payload_length:
        if into is not None and len(into) >= payload_length:
            payload = memoryview(into)[:payload_length]
            _read_into(sock, payload)
        else:
            payload = _read(sock, payload_length)
    if kind not in expected:
        if kind == Kind.REFUSED:
            raise exception.TransferRefused(reason=str(header.get("reason")))
        raise exception.TransferFailed(
            reason=f"expected {'/'.join(k.name for k in expected)}, got {kind.name}")
    return Frame(kind, header, payload)


def _read(sock: socket.socket, length: int) -> bytes:
    buffer = bytearray(length)
    _read_into(sock, memoryview(buffer))
    return bytes(buffer)


def _read_into(sock: socket.socket, view: memoryview) -> None:
    received, length = 0, len(view)
    try:
        while received < length:
            count = sock.recv_into(view[received:])
            if count == 0:
                raise exception.TransferFailed(reason="the peer closed the connection")
            received += count
    except OSError as error:
        raise exception.TransferFailed(reason=f"connection lost while receiving: {error}") \
            from error


def readable(sock: socket.socket, timeout: float = 0.0) -> bool:
    """Whether a frame (or the end of the connection) has started to arrive."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        return bool(select.select([sock], [], [], timeout)[0])
    except (OSError, ValueError):   # closed under us: reading will say so
        return True


def field_int(header: dict, name: str) -> int:
    """A non-negative integer header field, or the transfer ends."""
    value = header.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise exception.TransferFailed(reason=f"malformed frame: bad {name}")
    return value


def check_version(header: dict, peer: str) -> None:
    """The peer's HELLO or READY must speak this protocol version."""
    version = header.get("version", 1)
    if version != VERSION:
        raise exception.TransferFailed(
            reason=f"the {peer} speaks disk transfer protocol version {version}, this host "
                   f"speaks {VERSION}: upgrade both hosts to the same herder")
