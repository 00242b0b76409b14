"""The checks a request's head (request line and header fields) passes before any worker reads
it: sizes, and the framing rules of RFC 9112 whose laxity lets one request hide another.

A head that fails one is answered (see http_server.py) and its connection closed, since what
follows it on the connection cannot be trusted to start a request.
"""
import re
from dataclasses import dataclass
from typing import Callable

# RFC 9110 §5.6.2: a field name is a token
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_DIGITS = re.compile(rb"^[0-9]{1,18}$")   # more digits than any real body needs


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str


@dataclass(frozen=True)
class Limits:
    max_header_line: int
    # (method, path) -> bytes a body may hold (None: the handler bounds it)
    body_limit: Callable[[str, str], int | None]


def check(head: bytes, limits: Limits) -> Refusal | None:
    """Why the head (without its final empty line) is refused, or None."""
    request_line, *field_lines = head.split(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        return Refusal(400, "Malformed request line")
    lengths: list[bytes] = []
    encodings: list[bytes] = []
    for line in (request_line, *field_lines):
        if len(line) > limits.max_header_line:
            return Refusal(431, f"A request header line is longer than "
                                f"{limits.max_header_line} bytes")
    for line in field_lines:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.match(name):
            # also a name followed by white space, and an obsolete folded line (RFC 9112 §5.1)
            return Refusal(400, "Malformed header field: "
                                f"{line[:80].decode('latin-1')!r}")
        name = name.lower()
        if name == b"content-length":
            lengths.extend(v.strip() for v in value.split(b","))
        elif name == b"transfer-encoding":
            encodings.extend(v.strip().lower() for v in value.split(b",") if v.strip())
    if encodings and lengths:
        return Refusal(400, "Transfer-Encoding and Content-Length given together")
    if encodings and encodings != [b"chunked"]:
        return Refusal(501, "Transfer-Encoding other than chunked is not implemented")
    if lengths:
        if not all(_DIGITS.match(v) for v in lengths):
            return Refusal(400, "Invalid Content-Length")
        if len(set(int(v) for v in lengths)) > 1:
            return Refusal(400, "Conflicting Content-Length values")
        method, path = parts[0].decode("latin-1"), parts[1].decode("latin-1").split("?")[0]
        limit = limits.body_limit(method, path)
        if limit is not None and int(lengths[0]) > limit:
            return Refusal(413, f"Request is too large: the body may hold {limit} bytes.")
    return None
