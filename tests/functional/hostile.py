"""Clients that misbehave on purpose, over raw sockets: what docs/security.md tries."""
import socket
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

import requests

ATTACKER = "127.0.0.2"     # another client address on loopback than the well-behaved one


def _address(endpoint: str) -> tuple[str, int]:
    parts = urlsplit(endpoint)
    return parts.hostname, parts.port


def exchange(endpoint: str, data: bytes, source: str = "127.0.0.1",
             timeout: float = 10.0) -> bytes:
    """Send `data` as it is, then read until the server closes the connection (or
    `timeout`, which leaves b'<still open>' at the end)."""
    with socket.create_connection(_address(endpoint), timeout=timeout,
                                  source_address=(source, 0)) as sock:
        sock.sendall(data)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                return received
            received += chunk
        return received + b"<still open>"


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


@contextmanager
def slow_clients(endpoint: str, count: int, source: str = ATTACKER):
    """`count` connections that each sent a request line and one header, and then nothing."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.create_connection(_address(endpoint), timeout=5,
                                            source_address=(source, 0))
            sock.sendall(b"GET /v2.1 HTTP/1.1\r\nHost: herder\r\n")
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def answered_within(endpoint: str, seconds: float, requests_count: int = 10) -> list[float]:
    """How long each of a few `GET /v2.1` took, on fresh connections; a request that gets no
    answer within `seconds` fails the caller's test with requests' Timeout."""
    took = []
    for _ in range(requests_count):
        started = time.monotonic()
        reply = requests.get(f"{endpoint}/v2.1", timeout=seconds,
                             headers={"Connection": "close"})
        assert reply.status_code == 200
        took.append(time.monotonic() - started)
    return took
