"""A task repeated on a daemon thread: heartbeats and other housekeeping of a service."""
import logging
import threading
from typing import Callable

from herder.log_budget import FailureStreak

LOG = logging.getLogger(__name__)


class Periodic:
    """Runs `task` every `interval` seconds until stopped; a failed run is logged and the next
    one tries again (a database or broker that is briefly away must not end the service)."""

    def __init__(self, name: str, interval: float, task: Callable[[], None]):
        self.name = name
        self.interval = interval
        self.task = task
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._failures = FailureStreak(LOG, f"periodic task {name}")

    def start(self) -> "Periodic":
        self._thread.start()
        return self

    def stop(self, wait: float = 0) -> None:
        """No run after this; with `wait`, also wait up to that many seconds for a run under
        way to end (for an owner that closes what the task uses)."""
        self._stop.set()
        if wait and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(wait)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.task()
            except Exception as error:
                self._failures.failed(error)
            else:
                self._failures.succeeded()
