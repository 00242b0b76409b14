"""Fault points for tests: make a driver step fail its next N calls, or hold it until released.

Armed from configuration (`[fault_injection] inject = compute1:power_off`) or, in-process,
by calling `arm` / `hold`. Production configurations leave it empty, and then `check` is a
dict lookup.
"""
import threading

from herder import exception


class FaultInjector:
    def __init__(self, host: str, specs: list[str] | None = None):
        self.host = host
        self._armed: dict[str, int] = {}
        self._held: dict[str, tuple[threading.Event, threading.Event]] = {}
        self._lock = threading.Lock()
        for spec in specs or []:
            host_part, _, step = spec.partition(":")
            if host_part in (host, "*") and step:
                self.arm(step)

    def arm(self, step: str, times: int = 1) -> None:
        with self._lock:
            self._armed[step] = self._armed.get(step, 0) + times

    def hold(self, step: str) -> "Hold":
        """The next call of `step` waits until the returned Hold is released."""
        reached, release = threading.Event(), threading.Event()
        with self._lock:
            self._held[step] = (reached, release)
        return Hold(reached, release)

    def disarm(self, step: str | None = None) -> None:
        with self._lock:
            if step is None:
                self._armed.clear()
            else:
                self._armed.pop(step, None)

    def check(self, step: str) -> None:
        """Wait if `step` is held; raise the injected DriverError if it is armed."""
        if not self._armed and not self._held:
            return
        with self._lock:
            held = self._held.pop(step, None)
        if held is not None:
            reached, release = held
            reached.set()
            release.wait(60)
        with self._lock:
            remaining = self._armed.get(step, 0)
            if remaining <= 0:
                return
            self._armed[step] = remaining - 1
        raise exception.DriverError(step=step, host=self.host, reason="injected fault")


class Hold:
    """A step stopped in its tracks: wait until it is reached, look around, release it."""

    def __init__(self, reached: threading.Event, release: threading.Event):
        self._reached = reached
        self._release = release

    def wait_reached(self, timeout: float = 10.0) -> None:
        if not self._reached.wait(timeout):
            raise TimeoutError("the held step was never reached")

    def release(self) -> None:
        self._release.set()
