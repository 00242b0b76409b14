"""Fault points for tests: arm a driver step to fail its next N calls.

Armed from configuration (`[fault_injection] inject = compute1:power_off`) or, in-process,
by calling `arm`. Production configurations leave it empty, and then `check` is a dict lookup.
"""
import threading

from herder import exception


class FaultInjector:
    def __init__(self, host: str, specs: list[str] | None = None):
        self.host = host
        self._armed: dict[str, int] = {}
        self._lock = threading.Lock()
        for spec in specs or []:
            host_part, _, step = spec.partition(":")
            if host_part in (host, "*") and step:
                self.arm(step)

    def arm(self, step: str, times: int = 1) -> None:
        with self._lock:
            self._armed[step] = self._armed.get(step, 0) + times

    def disarm(self, step: str | None = None) -> None:
        with self._lock:
            if step is None:
                self._armed.clear()
            else:
                self._armed.pop(step, None)

    def check(self, step: str) -> None:
        """Raise the injected DriverError if `step` is armed."""
        if not self._armed:
            return
        with self._lock:
            remaining = self._armed.get(step, 0)
            if remaining <= 0:
                return
            self._armed[step] = remaining - 1
        raise exception.DriverError(step=step, host=self.host, reason="injected fault")
