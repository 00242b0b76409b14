"""Periodic tasks (herder/periodic.py): a stop that waits for the run under way."""
import threading
import time

from herder.periodic import Periodic


def test_a_stop_that_waits_returns_only_after_the_run_under_way_ended():
    started, ended, runs = threading.Event(), threading.Event(), []

    def task():
        runs.append(1)
        started.set()
        time.sleep(0.3)
        ended.set()
    periodic = Periodic("test-periodic", 0.01, task).start()
    assert started.wait(5)
    periodic.stop(wait=5)
    assert ended.is_set()
    count = len(runs)
    time.sleep(0.1)
    assert len(runs) == count   # and no run after the stop


def test_a_stop_without_wait_returns_at_once():
    started, release = threading.Event(), threading.Event()

    def task():
        started.set()
        release.wait(5)
    periodic = Periodic("test-periodic", 0.01, task).start()
    assert started.wait(5)
    began = time.monotonic()
    periodic.stop()
    assert time.monotonic() - began < 1
    release.set()
