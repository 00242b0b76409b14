"""The api's own HTTP server (`herder serve`, `herder api`): cheroot, with a gate in front of its
worker threads so that no client can hold one without sending a whole request (docs/security.md).

cheroot hands a connection to a worker thread as soon as it is accepted (or, kept alive, as
soon as a byte arrives), and the worker then waits for the request's head: sixteen clients that
send their headers slowly would hold all sixteen workers. Here a connection goes to a worker
only once its whole head is in the socket's receive queue (looked at with MSG_PEEK, so cheroot
still reads everything itself), and the head passed `request_head.check`. Meanwhile it costs a
socket and nothing else. The gate also:

- closes a connection whose head has not arrived within `[api] client_timeout` seconds;
- refuses heads over `max_request_header_size` bytes (431) and what request_head refuses (a
  header line over `max_header_line`, Transfer-Encoding beside Content-Length, a body declared
  larger than `max_request_body_size`, ...), in the Compute API's error format, and closes
  (an image's data is bounded by its handler instead, which streams it);
- keeps at most `max_connections_per_client` connections of one address, and
  `max_connections` in all, waiting for their head.
"""
import logging
import os
import re
import select
import socket
import threading
import time
from dataclasses import dataclass

from cheroot import server as cheroot_server
from cheroot import wsgi

from herder.api import errors, request_head
from herder.log_budget import WarningBudget

LOG = logging.getLogger(__name__)

HEAD_END = b"\r\n\r\n"
LINGER_SECONDS = 2.0   # a refused client's body is read and dropped this long, so that the
                       # refusal reaches it instead of a reset
# PUT of an image's data, the one request whose body may be large (Image API v2)
_IMAGE_DATA = re.compile(r"^(/image)?/v2/images/[^/]+/file$")
_REASONS = {400: "Bad Request", 413: "Content Too Large", 431: "Request Header Fields Too Large",
            501: "Not Implemented"}


def streams_body(method: str, path: str) -> bool:
    """Whether the request's handler streams its body (an image's data, which may be large)."""
    return method == "PUT" and _IMAGE_DATA.match(path) is not None


def body_limit(conf, method: str, path: str) -> int | None:
    """The most bytes the body of a request to `path` may hold (None: its handler, which
    streams it, knows and answers in its own API's format)."""
    return None if streams_body(method, path) else conf.api.max_request_body_size


def refusal_response(refusal: request_head.Refusal) -> bytes:
    body = errors.body(refusal.status, refusal.message).encode()
    return (f"HTTP/1.1 {refusal.status} {_REASONS.get(refusal.status, 'Error')}\r\n"
            f"Content-Type: {errors.CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


@dataclass
class _Waiting:
    conn: object        # cheroot.server.HTTPConnection
    client: str
    deadline: float
    refused: bool = False   # answered already: only read and dropped until it closes


class HeadGate:
    """Holds connections until their request head is whole (see the module's docstring)."""

    def __init__(self, conf, hand_over):
        self.conf = conf
        self._hand_over = hand_over      # gives a connection to cheroot's workers
        self._limits = request_head.Limits(
            conf.api.max_header_line, lambda method, path: body_limit(conf, method, path))
        self._epoll = select.epoll()
        self._waiting: dict[int, _Waiting] = {}
        self._lock = threading.Lock()
        self._warnings = WarningBudget(LOG)
        self._stopped = threading.Event()
        # written by `stop` to end the gate's poll at once rather than after its 0.5 s timeout
        # (a stopping api, as every test's cloud does, would otherwise wait that out); its
        # events are no connection's, so `_examine` passes them by
        self._wakeup = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._epoll.register(self._wakeup, select.EPOLLIN)
        self._thread = threading.Thread(target=self._run, daemon=True, name="api-head-gate")
        self._thread.start()

    def admit(self, conn) -> None:
        client = conn.remote_addr or "?"
        api = self.conf.api
        with self._lock:
            held = sum(1 for waiting in self._waiting.values() if waiting.client == client)
            if len(self._waiting) >= api.max_connections or \
                    held >= api.max_connections_per_client:
                self._warnings.warn("refusing a connection from %s: %d connections wait "
                                    "for their request, %d of them its own", client,
                                    len(self._waiting), held)
                conn.close()
                return
            fd = conn.socket.fileno()
            self._waiting[fd] = _Waiting(conn, client, time.monotonic() + api.client_timeout)
            # edge-triggered: one event each time more bytes arrive (and one now if some have)
            self._epoll.register(fd, select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET)

    def stop(self) -> None:
        self._stopped.set()
        os.eventfd_write(self._wakeup, 1)
        self._thread.join(2)
        with self._lock:
            for fd in list(self._waiting):
                self._release(fd).conn.close()
        self._epoll.close()
        os.close(self._wakeup)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                events = self._epoll.poll(0.5)
            except OSError:
                continue
            for fd, _ in events:
                try:
                    self._examine(fd)
                except Exception:   # one odd connection must not stop the gate
                    LOG.exception("request gate: dropping a connection")
                    with self._lock:
                        waiting = self._release(fd)
                    if waiting is not None:
                        waiting.conn.close()
            self._expire()

    def _examine(self, fd: int) -> None:
        with self._lock:
            waiting = self._waiting.get(fd)
        if waiting is None:
            return
        sock = waiting.conn.socket
        if waiting.refused:
            self._drain(fd, waiting)
            return
        limit = self.conf.api.max_request_header_size
        try:
            seen = sock.recv(limit + len(HEAD_END), socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            seen = b""
        end = seen.find(HEAD_END)
        if not seen:
            self._close(fd)     # the client left
        elif end < 0:
            if len(seen) >= limit:
                self._refuse(fd, waiting, request_head.Refusal(
                    431, f"The request head is longer than {limit} bytes"))
        else:
            refusal = request_head.check(seen[:end].lstrip(b"\r\n"), self._limits)
            if refusal is not None:
                self._refuse(fd, waiting, refusal)
            else:
                with self._lock:
                    self._release(fd)
                self._hand_over(waiting.conn)

    def _refuse(self, fd: int, waiting: _Waiting, refusal: request_head.Refusal) -> None:
        LOG.info("refusing a request from %s: %s %s", waiting.client, refusal.status,
                 refusal.message)
        try:
            waiting.conn.socket.send(refusal_response(refusal), socket.MSG_DONTWAIT)
            waiting.conn.socket.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(fd)
            return
        waiting.refused = True
        waiting.deadline = time.monotonic() + LINGER_SECONDS
        self._drain(fd, waiting)

    def _drain(self, fd: int, waiting: _Waiting) -> None:
        try:
            while waiting.conn.socket.recv(65536, socket.MSG_DONTWAIT):
                pass
        except BlockingIOError:
            return
        except OSError:
            pass
        self._close(fd)         # read to its end: the client closed

    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            late = [fd for fd, waiting in self._waiting.items() if waiting.deadline < now]
        for fd in late:
            self._close(fd)

    def _close(self, fd: int) -> None:
        with self._lock:
            waiting = self._release(fd)
        if waiting is not None:
            waiting.conn.close()

    def _release(self, fd: int) -> _Waiting | None:
        """Stop watching `fd` (the lock held)."""
        waiting = self._waiting.pop(fd, None)
        if waiting is not None:
            try:
                self._epoll.unregister(fd)
            except (OSError, ValueError):
                pass
        return waiting


class _FirstValueWins(dict):
    """Headers as cheroot collects them, except that of a repeated microversion header the
    first one counts, as in Nova (cheroot keeps the last)."""
    FIRST_WINS = {b"Openstack-Api-Version", b"X-Openstack-Nova-Api-Version"}

    def __setitem__(self, name: bytes, value: bytes) -> None:
        if name in self.FIRST_WINS and name in self:
            return
        super().__setitem__(name, value)


class _HeaderReader(cheroot_server.HeaderReader):
    def __call__(self, rfile, hdict=None):
        read = super().__call__(rfile, _FirstValueWins())
        if hdict is None:
            return dict(read)
        hdict.update(read)
        return hdict


class _Request(cheroot_server.HTTPRequest):
    header_reader = _HeaderReader()


class _Connection(cheroot_server.HTTPConnection):
    RequestHandlerClass = _Request


class GatedServer(wsgi.Server):
    """cheroot's WSGI server, its connections passing the HeadGate on their way to a worker."""

    ConnectionClass = _Connection

    def __init__(self, conf, bind_addr, app):
        super().__init__(bind_addr, app, numthreads=conf.api.workers, request_queue_size=256)
        # bodies are bounded per route (body_limit): a declared length by the gate, a chunked
        # body by the api's middleware, an image's data by its handler
        self.max_request_header_size = conf.api.max_request_header_size
        self._gate = HeadGate(conf, super().process_conn)

    def process_conn(self, conn) -> None:
        if conn.rfile.has_data():   # a pipelined request already read from the socket
            super().process_conn(conn)
        else:
            self._gate.admit(conn)

    def stop(self) -> None:
        self._end_select_now()
        super().stop()
        self._gate.stop()

    def _end_select_now(self) -> None:
        """cheroot's stop waits for its selector loop to notice, which it does only when its
        select returns: up to `expiration_interval` (0.5 s) for an idle server. Asked to stop
        first, the loop is woken at once by a connection of our own (the one cheroot's stop
        makes for its accept comes only after that wait). A connection it accepts meanwhile
        goes to the gate, which closes it as it stops."""
        connections = getattr(self, "_connections", None)
        if connections is None or not self.ready or not hasattr(connections, "_stop_requested"):
            return
        connections._stop_requested = True
        try:
            socket.create_connection(self.bind_addr[:2], timeout=1.0).close()
        except OSError:
            pass    # cheroot's own wait still ends the loop, later
