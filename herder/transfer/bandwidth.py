"""Pacing a transfer to a bandwidth limit."""
import time
from typing import Callable


class Throttle:
    """Keeps a stream at or under `limit_mbps` megabits per second (0: no limit) by sleeping
    after each chunk until the bytes sent so far are due."""

    def __init__(self, limit_mbps: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.bytes_per_second = limit_mbps * 1_000_000 / 8
        self._clock = clock
        self._sleep = sleep
        self._start = clock()
        self._sent = 0

    def pace(self, sent: int) -> None:
        if not self.bytes_per_second:
            return
        self._sent += sent
        delay = self._start + self._sent / self.bytes_per_second - self._clock()
        if delay > 0:
            self._sleep(delay)
