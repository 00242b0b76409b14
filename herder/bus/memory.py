"""kombu's in-process `memory://` transport, with consumers woken by publishers.

kombu's own memory transport polls its queues every `polling_interval`: at 1 ms that costs an
idle embedded cloud a sixth of a core, and at 10 ms it adds ~10 ms to every RPC hop. Here every
put bumps a process-wide generation counter under a condition variable, and an idle consumer
sleeps until the counter moves, so delivery is immediate and idling is free.

`interrupt()` ends every wait in progress (a socket.timeout, as if its timeout ran out): a
consumer that is being stopped looks at its stop flag at once instead of after its drain
timeout (an embedded cloud has seven consumers, stopped one after another).
"""
import socket
import threading
from queue import Empty
from time import monotonic

from kombu.transport import memory

_changed = threading.Condition()
_generation = 0
_interrupts = 0


def _signal() -> None:
    global _generation
    with _changed:
        _generation += 1
        _changed.notify_all()


def interrupt() -> None:
    """Wake every consumer waiting in drain_events, with a socket.timeout."""
    global _generation, _interrupts
    with _changed:
        _generation += 1
        _interrupts += 1
        _changed.notify_all()


class Channel(memory.Channel):
    def _put(self, queue, message, **kwargs):
        super()._put(queue, message, **kwargs)
        _signal()

    def _put_fanout(self, exchange, message, routing_key=None, **kwargs):
        super()._put_fanout(exchange, message, routing_key, **kwargs)
        _signal()


class Transport(memory.Transport):
    Channel = Channel

    def drain_events(self, connection, timeout=None):
        started = monotonic()
        with _changed:
            interrupts = _interrupts
        while True:
            with _changed:
                seen = _generation
                if _interrupts != interrupts:
                    raise socket.timeout()
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                remaining = None if timeout is None else timeout - (monotonic() - started)
                if remaining is not None and remaining <= 0:
                    raise socket.timeout() from None
                with _changed:
                    if _generation == seen:  # nothing was put since we looked: sleep
                        _changed.wait(remaining)
