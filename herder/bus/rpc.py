"""RPC over kombu: `call` (request/reply with correlation id and timeout), `cast`, `fanout`.

Topics are Nova's: `conductor`, `scheduler` (plus a fanout exchange for host updates),
`compute.<host>`. The same code runs on `memory://` (all services in one process) and on
`amqp://` (RabbitMQ). kombu connections are not thread-safe, so every thread that publishes
gets its own connection, and every consumer runs on its own thread with its own connection.
"""
import logging
import queue
import socket
import threading
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from dataclasses import dataclass, field
from typing import Any, Callable

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.exceptions import OperationalError

from herder import exception
from herder.bus import memory, versions
from herder.bus.codec import decode_failure, encode_failure
from herder.bus.replies import ReplyLog
from herder.context import RequestContext
from herder.fault_injection import FaultInjector
from herder.log_budget import FailureStreak

LOG = logging.getLogger(__name__)

EXCHANGE = Exchange("herder", type="direct", durable=False)
KeepWaiting = Callable[[], float | None]   # see Bus.call
LineOf = Callable[[dict], str | None]      # see RpcServer
# A broker that is down gets a few seconds of retries, then the publisher sees the error.
PUBLISH_RETRY = {"max_retries": 5, "interval_start": 0.1, "interval_step": 0.5,
                 "interval_max": 2.0}
# A process's reply queue outlives a dropped broker connection (an auto-delete queue would go
# with it, and every reply sent before the consumer is back would be dropped unseen, leaving
# its caller to wait out the whole timeout); the broker removes it once it has had no consumer
# for this long (the process is gone).
REPLY_QUEUE_EXPIRES = 600.0


def _fanout_exchange(topic: str) -> Exchange:
    return Exchange(f"herder_fanout_{topic}", type="fanout", durable=False)


def topic_queue(topic: str) -> Queue:
    return Queue(topic, EXCHANGE, routing_key=topic, durable=False)


class Bus:
    """A handle on the message bus for one process (or one embedded cloud)."""

    def __init__(self, url: str = "memory://", rpc_timeout: float = 60.0,
                 virtual_host_tag: str | None = None):
        self.url = url
        self.rpc_timeout = rpc_timeout
        # memory:// shares one broker per process; a tag keeps independent embedded clouds
        # (as tests start them) from reading each other's queues.
        self.tag = virtual_host_tag or ""
        self._local = threading.local()
        self._pending: dict[str, Future] = {}
        self._pending_lock = threading.Lock()
        self._reply_queue_name = self.qualified(f"reply_{uuid.uuid4().hex}")
        self._reply_consumer: _ConsumerThread | None = None
        self._servers: list[RpcServer] = []
        self._closed = threading.Event()
        # a fault point before every cast, `cast.<method>` (tests: the api dying between
        # accepting a request and handing it on); the process owning the bus may set its own
        self.fault_points = FaultInjector("bus")
        # what publishing raises when the broker cannot be reached (see _publish_patiently)
        self._broker_away = (OperationalError, *self.connection().connection_errors)

    # -- naming -------------------------------------------------------------------------
    def qualified(self, topic: str) -> str:
        return f"{self.tag}.{topic}" if self.tag else topic

    def connection(self) -> Connection:
        if self.url.startswith("memory://"):
            return Connection(self.url, transport=memory.Transport)
        return Connection(self.url)

    def _producer(self) -> Producer:
        producer = getattr(self._local, "producer", None)
        if producer is None:
            connection = self.connection()
            try:
                # a thread's first publish (or its first after a failed one) may come while
                # the broker is away: connecting gets the same retries as publishing
                connection.ensure_connection(**PUBLISH_RETRY)
                channel = connection.channel()
            except Exception:
                connection.release()
                raise
            self._local.connection = connection
            producer = Producer(channel, exchange=EXCHANGE, serializer="json")
            self._local.producer = producer
        return producer

    def publish(self, body: dict, routing_key: str, exchange: Exchange = EXCHANGE,
                declare: list[Queue] | None = None, **properties) -> None:
        producer = self._producer()
        try:
            producer.publish(body, exchange=exchange, routing_key=routing_key,
                             declare=declare or [], retry=True, retry_policy=PUBLISH_RETRY,
                             **properties)
        except Exception:
            # a broker away for longer than the retries leaves the producer without a
            # connection, and kombu never gives it one again: every later publish on this
            # thread (a compute's heartbeat) would fail for good. The next one starts afresh.
            self._forget_producer()
            raise

    def _forget_producer(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.producer = self._local.connection = None
        if connection is not None:
            try:
                connection.release()
            except Exception:   # already gone with the broker: nothing left to release
                LOG.debug("could not release a failed producer's connection", exc_info=True)

    def _publish_patiently(self, seconds: float, message: Callable[[], dict], routing_key: str,
                           **properties) -> None:
        """Publish `message()`, trying again for up to `seconds` while the broker cannot be
        reached (a restart takes longer than PUBLISH_RETRY's few seconds). The message is
        built afresh for each try: a call's deadline counts from the try that went out."""
        give_up = time.monotonic() + seconds
        while True:
            try:
                self.publish(message(), routing_key=routing_key, **properties)
                return
            except self._broker_away:
                if time.monotonic() >= give_up:
                    raise
                time.sleep(0.5)

    # -- client side ------------------------------------------------------------------------
    # A service is reached through its client (herder/<service>/rpcapi.py), which sends
    # `rpc_version`, the version of the service's RPC API the message needs (see versions.py).
    def cast(self, topic: str, method: str, context: RequestContext,
             rpc_version: str | None = None, patience: float | None = None,
             **kwargs) -> None:
        """Send, waiting for the broker for up to `patience` seconds (None: as long as a call
        waits for its reply, rpc_timeout): a cast that gave up after a few seconds of a
        broker restart would be lost. A sender whose message outlives the broker (the api's
        requests are recorded, and sent again by a conductor) asks for less."""
        self.fault_points.check(f"cast.{method}")
        name = self.qualified(topic)
        self._publish_patiently(self.rpc_timeout if patience is None else patience,
                                lambda: _message(method, context, kwargs, rpc_version),
                                routing_key=name, declare=[topic_queue(name)])

    def call(self, topic: str, method: str, context: RequestContext,
             timeout: float | None = None, keep_waiting: KeepWaiting | None = None,
             rpc_version: str | None = None, **kwargs) -> Any:
        """Send, and wait for the reply up to `timeout` seconds (default rpc_timeout). When
        that runs out, `keep_waiting` (if given) says for how many seconds more to wait, or
        0/None to give up; it is asked again each time: a long operation that reports its
        progress elsewhere is not cut off while it progresses. While the broker cannot be
        reached, sending is tried again for up to `timeout` seconds too (a workflow's step
        rides out a broker restart instead of failing, and its rollback failing as well)."""
        self._ensure_reply_consumer()
        correlation_id = uuid.uuid4().hex
        future: Future = Future()
        with self._pending_lock:
            self._pending[correlation_id] = future
        name = self.qualified(topic)
        wait = timeout or self.rpc_timeout
        try:
            # the deadline travels with the request: a server that gets it too late drops it
            self._publish_patiently(
                wait, lambda: {**_message(method, context, kwargs, rpc_version),
                               "deadline": time.time() + wait},
                routing_key=name, declare=[topic_queue(name)],
                reply_to=self._reply_queue_name, correlation_id=correlation_id)
            reply = self._wait_for_reply(future, wait, keep_waiting, method, topic)
        finally:
            with self._pending_lock:
                self._pending.pop(correlation_id, None)
        if "failure" in reply:
            raise decode_failure(reply["failure"])
        return reply.get("result")

    @staticmethod
    def _wait_for_reply(future: Future, wait: float, keep_waiting: KeepWaiting | None,
                        method: str, topic: str) -> dict:
        while True:
            try:
                return future.result(wait)
            except TimeoutError:
                more = keep_waiting() if keep_waiting is not None else None
                if not more:
                    raise exception.MessagingTimeout(method=method, topic=topic) from None
                wait = more

    def fanout(self, topic: str, method: str, context: RequestContext,
               rpc_version: str | None = None, **kwargs) -> None:
        exchange = _fanout_exchange(self.qualified(topic))
        self.publish(_message(method, context, kwargs, rpc_version), routing_key="",
                     exchange=exchange, declare=[exchange])

    def _ensure_reply_consumer(self) -> None:
        if self._reply_consumer is not None:
            return
        with self._pending_lock:
            if self._reply_consumer is None:
                queue = Queue(self._reply_queue_name, EXCHANGE, routing_key=self._reply_queue_name,
                              durable=False, auto_delete=False, expires=REPLY_QUEUE_EXPIRES)
                consumer = _ConsumerThread(self, [queue], self._on_reply, "rpc-replies")
                consumer.start()
                consumer.ready.wait(5)  # the reply queue must exist before anyone replies
                self._reply_consumer = consumer

    def _on_reply(self, body: dict, message) -> None:
        message.ack()
        with self._pending_lock:
            future = self._pending.get(message.properties.get("correlation_id"))
        if future is not None and not future.done():
            future.set_result(body)

    # -- server side ------------------------------------------------------------------------
    def serve(self, topic: str, endpoint: object, workers: int = 16, fanout: bool = False,
              acknowledge_when_done: bool = False, replies: ReplyLog | None = None,
              one_at_a_time: LineOf | None = None) -> "RpcServer":
        server = RpcServer(self, topic, endpoint, workers, fanout, acknowledge_when_done,
                           replies, one_at_a_time)
        server.start()
        self._servers.append(server)
        return server

    def close(self, timeout: float | None = None) -> None:
        """Stop every server of this bus (letting running handlers finish, up to `timeout`
        seconds each), then the reply consumer."""
        self._closed.set()
        for server in self._servers:
            server.stop(timeout)
        if self._reply_consumer is not None:
            self._reply_consumer.stop()
            self._delete_reply_queue()

    def _delete_reply_queue(self) -> None:
        try:
            with self.connection() as conn:
                conn.channel().queue_delete(self._reply_queue_name)
        except Exception:  # best effort: the broker expires it anyway
            LOG.debug("could not delete reply queue %s", self._reply_queue_name)


@dataclass
class _Request:
    """A request an RpcServer took, and the future its run sets when it ended."""
    body: dict
    reply_to: str | None
    correlation_id: str | None
    done: Future = field(default_factory=Future)


def bus_from_conf(conf, namespace: str | None = None) -> Bus:
    """The bus `[messaging]` describes; `namespace` overrides `[messaging] namespace`."""
    return Bus(conf.messaging.transport_url, conf.messaging.rpc_timeout,
               virtual_host_tag=conf.messaging.namespace if namespace is None else namespace)


def _message(method: str, context: RequestContext, kwargs: dict,
             rpc_version: str | None) -> dict:
    message = {"method": method, "context": context.to_dict(), "args": kwargs}
    if rpc_version is not None:
        message["version"] = rpc_version
    return message


# How long a consumer waits for a message before it looks whether it should stop: a stopping
# service waits this long per server, and an idle consumer wakes this often (a cheap poll).
_DRAIN_SECONDS = 0.1


class _ConsumerThread(threading.Thread):
    """Drains one set of queues on a connection of its own until stopped."""

    def __init__(self, bus: Bus, queues: list[Queue], callback: Callable, name: str):
        super().__init__(name=f"bus-{name}", daemon=True)
        self.bus = bus
        self.queues = queues
        self.callback = callback
        self._stop_event = threading.Event()
        self._cancel_event = threading.Event()
        self.cancelled = threading.Event()
        self.ready = threading.Event()
        # messages whose handlers finished, to acknowledge from this thread (a kombu channel
        # belongs to the thread that drains it)
        self.finished: queue.SimpleQueue = queue.SimpleQueue()

    def run(self) -> None:
        failures = FailureStreak(LOG, f"bus consumer {self.name}'s connection")
        while not self._stop_event.is_set():
            try:
                with self.bus.connection() as conn:
                    # a broker that is away is tried every second or so (kombu's own retries
                    # back off to 30 s, which would keep the service deaf long after it is back)
                    conn.ensure_connection(max_retries=3, interval_start=0.5, interval_step=0.5,
                                           interval_max=1.0)
                    failures.succeeded()
                    with Consumer(conn, self.queues, callbacks=[self.callback], accept=["json"],
                                  prefetch_count=0) as consumer:
                        self.ready.set()
                        while not self._stop_event.is_set():
                            if self._cancel_event.is_set() and not self.cancelled.is_set():
                                consumer.cancel()  # no more deliveries; acks still go out
                                self.cancelled.set()
                            try:
                                conn.drain_events(timeout=_DRAIN_SECONDS)
                            except socket.timeout:
                                pass
                            self._acknowledge_finished()
                        self._acknowledge_finished()
            except Exception as error:  # a lost broker connection: reconnect after a pause
                if self._stop_event.is_set():
                    return
                failures.failed(error)
                self._stop_event.wait(1.0)

    def _acknowledge_finished(self) -> None:
        while True:
            try:
                message = self.finished.get_nowait()
            except queue.Empty:
                return
            try:
                message.ack()
            except Exception:  # taken on a connection since lost: the broker redelivers it
                LOG.warning("%s: could not acknowledge a finished message", self.name)

    def _wake(self) -> None:
        """On memory://, end the drain this thread waits in, so that it sees its events now
        rather than up to _DRAIN_SECONDS later (a broker's socket wait cannot be cut short)."""
        if self.bus.url.startswith("memory://"):
            memory.interrupt()

    def stop_taking(self) -> None:
        """Stop deliveries but keep the connection, to acknowledge what is still running."""
        self._cancel_event.set()
        self._wake()
        if self.is_alive() and self is not threading.current_thread():
            self.cancelled.wait(5)

    def stop(self) -> None:
        self._stop_event.set()
        self._wake()
        if self is not threading.current_thread():
            self.join(5)  # its last drain ends within _DRAIN_SECONDS


class RpcServer:
    """Dispatches messages on a topic to the public methods of an endpoint object.

    Each request runs on a worker thread, so a long step (a disk copy) does not stop the server
    from taking the next message. Handlers take `(context, **args)`. The endpoint declares the
    version of its RPC API it serves (`RPC_API_VERSION`); a message that needs another is
    refused (versions.py).

    A message is acknowledged when it is taken, unless `acknowledge_when_done`: then only once
    its handler finished, so that if the process dies in the middle the broker hands the
    request to the service's next start, which runs it again. Only for endpoints whose every
    method is idempotent (the compute agent's): the conductor's requests start workflows, which
    its journal recovers instead. Such a server answers a call handed to it again with the
    reply it sent (herder/bus/replies.py: `replies`, in memory unless a log on disk is given).

    `one_at_a_time`, if given, names the line a request waits in (a key, or None for none):
    the requests of one line run one after the other, in the order they came, so that a late
    step and the request that undoes it never run side by side. A request waiting its turn
    holds no worker thread.
    """

    def __init__(self, bus: Bus, topic: str, endpoint: object, workers: int, fanout: bool,
                 acknowledge_when_done: bool = False, replies: ReplyLog | None = None,
                 one_at_a_time: LineOf | None = None):
        self.bus = bus
        self.topic = topic
        self.endpoint = endpoint
        self.version = versions.served_version(endpoint)
        self.methods = versions.served_methods(endpoint)
        self.acknowledge_when_done = acknowledge_when_done
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"rpc-{topic}")
        # the requests taken and not finished (at work, or waiting for a worker or their
        # line), with their bodies
        self._running: dict[Future, dict] = {}
        self._running_calls: dict[str, Future] = {}   # by correlation id
        # the replies of the latest finished calls, by correlation id, for the broker's
        # redeliveries (acknowledge_when_done servers only)
        self._replies = replies or ReplyLog()
        self._running_lock = threading.Lock()
        self._line_of = one_at_a_time
        # per line with a request at work: the requests waiting behind it, in order
        self._lines: dict[str, deque[_Request]] = {}
        name = bus.qualified(topic)
        queues = [topic_queue(name)]
        if fanout:
            queues.append(Queue(f"{name}_fanout_{uuid.uuid4().hex[:8]}", _fanout_exchange(name),
                                durable=False, auto_delete=True))
        self._consumer = _ConsumerThread(bus, queues, self._on_message, topic)

    def start(self) -> None:
        self._consumer.start()
        self._consumer.ready.wait(5)

    def stop(self, timeout: float | None = None) -> bool:
        """Graceful: take no new messages, let the handlers already running (and the messages
        already taken) finish, for at most `timeout` seconds (None: as long as they take).
        True if everything finished."""
        self._consumer.stop_taking()  # nothing is submitted after this
        with self._running_lock:
            running = set(self._running)
        self.pool.shutdown(wait=False, cancel_futures=False)
        _, unfinished = wait_for_futures(running, timeout)
        if unfinished:
            LOG.warning("%s: %d request(s) still running after %s s of shutdown", self.topic,
                        len(unfinished), timeout)
        self._consumer.stop()  # after the last acknowledgements went out
        return not unfinished

    def taken(self) -> list[dict]:
        """The arguments of the requests this server has taken and not finished: at work, or
        waiting for a worker or for the requests before them in their line."""
        with self._running_lock:
            return [body.get("args") or {} for body in self._running.values()]

    def _on_message(self, body: dict, message) -> None:
        if not self.acknowledge_when_done:
            message.ack()
        correlation_id = message.properties.get("correlation_id")
        with self._running_lock:
            replied = self._replies.get(correlation_id) if correlation_id else None
            running = self._running_calls.get(correlation_id) if correlation_id else None
            if replied is None and running is None:
                # taken under the lock, so that it cannot finish before it is recorded
                request = _Request(body, message.properties.get("reply_to"), correlation_id)
                future = request.done
                self._take(request)
                self._running[future] = body
                if correlation_id:
                    self._running_calls[correlation_id] = future
        # A call handed back by the broker (only acknowledge_when_done servers see that): the
        # connection it came on dropped before its acknowledgement went out.
        if replied is not None:
            # Its step is done. Running it again now, after the caller moved on, could undo
            # or redo what came since; the caller gets the same reply again instead (and
            # ignores it if it has it already).
            LOG.warning("%s: %s was already done; replying again", self.topic,
                        body.get("method"))
            self.bus.publish(replied[1], routing_key=replied[0], correlation_id=correlation_id)
            message.ack()
        elif running is not None:
            # Still running: a second run side by side would race the first. The first one
            # replies, and both deliveries are acknowledged when it ends.
            LOG.warning("%s: %s is already running; not starting it twice", self.topic,
                        body.get("method"))
            running.add_done_callback(lambda done: self._finished(done, message, None))
        else:
            future.add_done_callback(lambda done: self._finished(done, message, correlation_id))

    def _take(self, request: "_Request") -> None:
        """Run the request now, or after the requests of its line taken before it (called with
        the running lock held)."""
        line = self._line_of(request.body) if self._line_of is not None else None
        if line is None:
            self.pool.submit(self._run, request, None)
        elif line in self._lines:
            self._lines[line].append(request)
        else:
            self._lines[line] = deque()
            self.pool.submit(self._run, request, line)

    def _run(self, request: "_Request", line: str | None) -> None:
        """A worker runs its request, then each request that waits in the same line."""
        while request is not None:
            try:
                self._dispatch(request.body, request.reply_to, request.correlation_id)
            except BaseException as error:   # _dispatch answers failures itself; not this
                request.done.set_exception(error)
            else:
                request.done.set_result(None)
            if line is None:
                return
            with self._running_lock:
                waiting = self._lines[line]
                request = waiting.popleft() if waiting else None
                if request is None:
                    del self._lines[line]

    def _finished(self, future: Future, message, correlation_id: str | None) -> None:
        with self._running_lock:
            self._running.pop(future, None)
            if correlation_id:
                self._running_calls.pop(correlation_id, None)
        if self.acknowledge_when_done:
            self._consumer.finished.put(message)

    def _dispatch(self, body: dict, reply_to: str | None, correlation_id: str | None) -> None:
        method = body.get("method", "")
        context = RequestContext.from_dict(body.get("context"))
        deadline = body.get("deadline")
        if deadline is not None and time.time() > deadline:
            # the caller gave up (and may have undone the step's work since): running it now,
            # say after a restart brought it back from the queue, would do harm
            LOG.warning("%s dropping %s.%s: its caller stopped waiting %.1f s ago",
                        context.log_prefix(), self.topic, method, time.time() - deadline)
            return
        handler = getattr(self.endpoint, method, None)
        try:
            versions.check(self.topic, self.version, body.get("version"), method)
            if method.startswith("_") or handler is None or \
                    (self.methods is not None and method not in self.methods):
                raise exception.RemoteError(exc_type="NoSuchMethod", value=method)
            reply = {"result": handler(context, **body.get("args", {}))}
        except exception.IncompatibleRPCVersion as refused:
            # nothing failed here, so no traceback: the log says which service to upgrade
            # (for a cast, the only place that says it), and a call's caller gets the error
            LOG.error("%s %s", context.log_prefix(), refused)
            reply = {"failure": encode_failure(refused)}
        except Exception as exc:  # crosses the bus to the caller, or is logged for a cast
            if reply_to is None:
                LOG.exception("%s cast %s.%s failed", context.log_prefix(), self.topic, method)
            reply = {"failure": encode_failure(exc)}
        if reply_to is not None:
            if self.acknowledge_when_done and correlation_id:
                with self._running_lock:
                    self._replies.put(correlation_id, reply_to, reply)
            self.bus.publish(reply, routing_key=reply_to, correlation_id=correlation_id)
            # tests: a process killed here has replied but not acknowledged the call
            self.bus.fault_points.check(f"replied.{method}")
