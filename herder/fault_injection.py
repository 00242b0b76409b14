"""Fault points for tests: make a step fail its next N calls, or hold it until released.

Every service has them: the compute hosts' driver steps (`power_off`, `copy_disk`, ...), the
conductor's workflow steps (`migrate.prep_resize`, `confirm.confirm_resize`, ...) and the
scheduler's `select_destinations`. A point is armed to fail from configuration
(`[fault_injection] inject = compute1:power_off`) or, in-process, with `arm` / `hold`.

Across processes, holds go through files in `[fault_injection] hold_dir`: a test creates
`<owner>.<point>.hold` (owner: a host name, `conductor`, `scheduler`, or `*` for whoever gets
there first); the process that reaches the point renames it to `<owner>.<point>.reached`
(atomically, so only one process takes a hold), writes its pid there, and waits until
`<owner>.<point>.release` exists. That is how the crash tests stop a service at an exact step
before they kill it.

Production configurations leave all of this empty, and then `check` is a dict lookup.
"""
import os
import threading
import time

from herder import exception


class FaultInjector:
    def __init__(self, host: str, specs: list[str] | None = None, hold_dir: str | None = None):
        self.host = host  # the owner of the fault points: a host name, conductor, scheduler
        self.hold_dir = hold_dir
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
        if self.hold_dir:
            self._hold_from_file(step)
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


    def _hold_from_file(self, step: str) -> None:
        reached = os.path.join(self.hold_dir, f"{self.host}.{step}.reached")
        for owner in (self.host, "*"):
            try:
                os.rename(os.path.join(self.hold_dir, f"{owner}.{step}.hold"), reached)
            except FileNotFoundError:
                continue
            with open(reached, "w") as f:
                f.write(str(os.getpid()))
            release = os.path.join(self.hold_dir, f"{self.host}.{step}.release")
            while not os.path.exists(release):
                time.sleep(0.02)
            return


def from_conf(conf, owner: str) -> FaultInjector:
    """The fault points of one service (`owner`: its host name, or conductor/scheduler)."""
    return FaultInjector(owner, conf.fault_injection.inject, conf.fault_injection.hold_dir)


class Hold:
    """A step stopped in its tracks: wait until it is reached, look around, release it."""

    def __init__(self, reached: threading.Event, release: threading.Event):
        self._reached = reached
        self._release = release

    def is_reached(self) -> bool:
        return self._reached.is_set()

    def wait_reached(self, timeout: float = 10.0) -> None:
        if not self._reached.wait(timeout):
            raise TimeoutError("the held step was never reached")

    def release(self) -> None:
        self._release.set()
