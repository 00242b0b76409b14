"""RPC over kombu: `call` (request/reply with correlation id and timeout), `cast`, `fanout`.

Topics follow the seed: `conductor`, `scheduler` (plus a fanout exchange for host updates),
`compute.<host>`. The same code runs on `memory://` (all services in one process) and on
`amqp://` (RabbitMQ). kombu connections are not thread-safe, so every thread that publishes
gets its own connection, and every consumer runs on its own thread with its own connection.
"""
import logging
import socket
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from kombu import Connection, Consumer, Exchange, Producer, Queue

from herder import exception
from herder.bus import memory
from herder.bus.codec import decode_failure, encode_failure
from herder.context import RequestContext

LOG = logging.getLogger(__name__)

EXCHANGE = Exchange("herder", type="direct", durable=False)
# A broker that is down gets a few seconds of retries, then the publisher sees the error.
PUBLISH_RETRY = {"max_retries": 5, "interval_start": 0.1, "interval_step": 0.5,
                 "interval_max": 2.0}


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
            conn = self.connection()
            producer = Producer(conn.channel(), exchange=EXCHANGE, serializer="json")
            self._local.producer = producer
        return producer

    def publish(self, body: dict, routing_key: str, exchange: Exchange = EXCHANGE,
                declare: list[Queue] | None = None, **properties) -> None:
        producer = self._producer()
        producer.publish(body, exchange=exchange, routing_key=routing_key, declare=declare or [],
                         retry=True, retry_policy=PUBLISH_RETRY, **properties)

    # -- client side ------------------------------------------------------------------------
    def cast(self, topic: str, method: str, context: RequestContext, **kwargs) -> None:
        name = self.qualified(topic)
        self.publish(_message(method, context, kwargs), routing_key=name,
                     declare=[topic_queue(name)])

    def call(self, topic: str, method: str, context: RequestContext,
             timeout: float | None = None, **kwargs) -> Any:
        self._ensure_reply_consumer()
        correlation_id = uuid.uuid4().hex
        future: Future = Future()
        with self._pending_lock:
            self._pending[correlation_id] = future
        name = self.qualified(topic)
        try:
            self.publish(_message(method, context, kwargs), routing_key=name,
                         declare=[topic_queue(name)], reply_to=self._reply_queue_name,
                         correlation_id=correlation_id)
            try:
                reply = future.result(timeout or self.rpc_timeout)
            except TimeoutError:
                raise exception.MessagingTimeout(method=method, topic=topic) from None
        finally:
            with self._pending_lock:
                self._pending.pop(correlation_id, None)
        if "failure" in reply:
            raise decode_failure(reply["failure"])
        return reply.get("result")

    def fanout(self, topic: str, method: str, context: RequestContext, **kwargs) -> None:
        exchange = _fanout_exchange(self.qualified(topic))
        self.publish(_message(method, context, kwargs), routing_key="", exchange=exchange,
                     declare=[exchange])

    def _ensure_reply_consumer(self) -> None:
        if self._reply_consumer is not None:
            return
        with self._pending_lock:
            if self._reply_consumer is None:
                queue = Queue(self._reply_queue_name, EXCHANGE, routing_key=self._reply_queue_name,
                              durable=False, auto_delete=True)
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
    def serve(self, topic: str, endpoint: object, workers: int = 16,
              fanout: bool = False) -> "RpcServer":
        server = RpcServer(self, topic, endpoint, workers, fanout)
        server.start()
        self._servers.append(server)
        return server

    def close(self) -> None:
        self._closed.set()
        for server in self._servers:
            server.stop()
        if self._reply_consumer is not None:
            self._reply_consumer.stop()


def _message(method: str, context: RequestContext, kwargs: dict) -> dict:
    return {"method": method, "context": context.to_dict(), "args": kwargs}


class _ConsumerThread(threading.Thread):
    """Drains one set of queues on a connection of its own until stopped."""

    def __init__(self, bus: Bus, queues: list[Queue], callback: Callable, name: str):
        super().__init__(name=f"bus-{name}", daemon=True)
        self.bus = bus
        self.queues = queues
        self.callback = callback
        self._stop_event = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                with self.bus.connection() as conn:
                    with Consumer(conn, self.queues, callbacks=[self.callback], accept=["json"],
                                  prefetch_count=0):
                        self.ready.set()
                        while not self._stop_event.is_set():
                            try:
                                conn.drain_events(timeout=0.5)
                            except socket.timeout:
                                continue
            except Exception:  # a lost broker connection: reconnect after a pause
                if self._stop_event.is_set():
                    return
                LOG.exception("bus consumer %s lost its connection; reconnecting", self.name)
                self._stop_event.wait(1.0)

    def stop(self) -> None:
        self._stop_event.set()


class RpcServer:
    """Dispatches messages on a topic to the public methods of an endpoint object.

    Each request runs on a worker thread, so a long step (a disk copy) does not stop the server
    from taking the next message. Handlers take `(context, **args)`.
    """

    def __init__(self, bus: Bus, topic: str, endpoint: object, workers: int, fanout: bool):
        self.bus = bus
        self.topic = topic
        self.endpoint = endpoint
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"rpc-{topic}")
        name = bus.qualified(topic)
        queues = [topic_queue(name)]
        if fanout:
            queues.append(Queue(f"{name}_fanout_{uuid.uuid4().hex[:8]}", _fanout_exchange(name),
                                durable=False, auto_delete=True))
        self._consumer = _ConsumerThread(bus, queues, self._on_message, topic)

    def start(self) -> None:
        self._consumer.start()
        self._consumer.ready.wait(5)

    def stop(self) -> None:
        self._consumer.stop()
        self.pool.shutdown(wait=True, cancel_futures=False)

    def _on_message(self, body: dict, message) -> None:
        message.ack()
        self.pool.submit(self._dispatch, body, message.properties.get("reply_to"),
                         message.properties.get("correlation_id"))

    def _dispatch(self, body: dict, reply_to: str | None, correlation_id: str | None) -> None:
        method = body.get("method", "")
        context = RequestContext.from_dict(body.get("context"))
        handler = getattr(self.endpoint, method, None)
        try:
            if method.startswith("_") or handler is None:
                raise exception.RemoteError(exc_type="NoSuchMethod", value=method)
            reply = {"result": handler(context, **body.get("args", {}))}
        except Exception as exc:  # crosses the bus to the caller, or is logged for a cast
            if reply_to is None:
                LOG.exception("%s cast %s.%s failed", context.log_prefix(), self.topic, method)
            reply = {"failure": encode_failure(exc)}
        if reply_to is not None:
            self.bus.publish(reply, routing_key=reply_to, correlation_id=correlation_id)
