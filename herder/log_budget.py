"""Warnings a stranger can cause (a refused connection, junk on a port) are rate-limited, so
that a flood of them cannot flood the log; a failure that repeats through an outage is told
once in full, then a line at a time (FailureStreak)."""
import logging
import threading
import time


class WarningBudget:
    """At most `per_minute` warnings a minute to `log`, then one line saying how many were
    left out."""

    def __init__(self, log: logging.Logger, per_minute: int = 10, clock=time.monotonic):
        self.log = log
        self.per_minute = per_minute
        self._clock = clock
        self._window_start = clock()
        self._spent = self._left_out = 0
        self._lock = threading.Lock()

    def warn(self, message: str, *args) -> None:
        with self._lock:
            now = self._clock()
            if now - self._window_start >= 60:
                if self._left_out:
                    self.log.warning("%d more such warnings were left out in the last minute",
                                     self._left_out)
                self._window_start, self._spent, self._left_out = now, 0, 0
            if self._spent >= self.per_minute:
                self._left_out += 1
                return
            self._spent += 1
        self.log.warning(message, *args)


class FailureStreak:
    """A task that fails again and again while something it needs is away (the broker, the
    database): its traceback is logged the first time, then one line per failure, then one
    line when it works again, instead of a traceback a second for as long as the outage lasts.
    `failed` is called from the `except` block that caught the error."""

    def __init__(self, log: logging.Logger, what: str):
        self.log = log
        self.what = what
        self.failures = 0

    def failed(self, error: BaseException) -> None:
        if self.failures == 0:
            self.log.exception("%s failed", self.what)
        else:
            self.log.warning("%s failed again (%d in a row): %s", self.what,
                             self.failures + 1, error)
        self.failures += 1

    def succeeded(self) -> None:
        if self.failures:
            self.log.warning("%s works again after %d failure(s)", self.what, self.failures)
            self.failures = 0
