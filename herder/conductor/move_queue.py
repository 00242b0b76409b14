"""The moves waiting for move slots (db/move_slots.py): each conductor takes them up again.

A move whose hosts are at their limit parks its workflow (engine.Parked) with its place in the
queue. Every conductor then looks at the queue when a move of its own gives its slots back or
parks, when an abort is asked for, and every PASS_INTERVAL seconds besides (the moves of other
conductors end too): it gives the free slots to the waiting moves, first come first served,
and takes up the parked workflows that have their slots now, or whose abort was asked for (to
roll them back). Which conductor parked a move does not matter: any one takes it up, exactly
one wins (journal.unpark), and runs it on a thread of this pool. A conductor killed after it
unparked a move leaves it `running` with a lease that runs out: recovery then finds it in its
waiting step, and runs that again (Engine.recover).
"""
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from herder.conductor.base import ConductorServices
from herder.conductor.engine import Engine
from herder.conductor.workflows.migrate import MigrateWorkflow
from herder.db import journal, move_slots
from herder.log_budget import FailureStreak

LOG = logging.getLogger(__name__)

PASS_INTERVAL = 1.0   # seconds between two looks at the queue when nothing wakes it
# seconds between two sweeps for the slots of moves that are over, but whose release was lost
# (by the clock: a busy queue is woken many times a second)
SWEEP_INTERVAL = 30.0


class MoveQueue:
    def __init__(self, svc: ConductorServices, engine: Engine, workers: int):
        self.svc = svc
        self.engine = engine
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="move-queue")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="move-queue", daemon=True)
        self._failures = FailureStreak(LOG, "the move queue")

    def start(self) -> None:
        try:
            move_slots.ensure_lock_row(self.svc.db)
        except Exception as error:   # the database is away: a move's first look adds it
            self._failures.failed(error)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        """Look at the queue now (slots were given back, a move parked or is being aborted)."""
        self._wake.set()

    def _loop(self) -> None:
        next_sweep = time.monotonic() + SWEEP_INTERVAL
        while not self._stop.is_set():
            self._wake.wait(PASS_INTERVAL)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + SWEEP_INTERVAL
                    if move_slots.release_stale(self.svc.db):
                        LOG.warning("gave back the move slots of moves that were over")
                self.take_up_waiting_moves()
            except Exception as error:   # the database is away: the next pass tries again
                self._failures.failed(error)
            else:
                self._failures.succeeded()

    def take_up_waiting_moves(self) -> int:
        """Give free slots to the queue, and go on with the parked moves that can; how many."""
        db, conf = self.svc.db, self.svc.conf
        if not journal.any_parked(db):
            # nothing to take up, so nothing to admit yet: a move that asked for slots and
            # must wait parks, and its parking wakes this queue (the look that is the cost
            # of a busy cloud without a queue is one indexed read, not the queue's lock)
            return 0
        move_slots.admit_waiting(db, conf.compute.max_concurrent_migrations)
        taken = 0
        for row in journal.parked(db, unless_waiting_for=move_slots.still_waiting()):
            if row.kind != MigrateWorkflow.kind or not journal.unpark(
                    db, row.uuid, self.engine.owner, conf.workflow.lease_seconds):
                continue   # another conductor took it up first
            taken += 1
            self._pool.submit(self._go_on, row)
        return taken

    def _go_on(self, row) -> None:
        try:
            flow = MigrateWorkflow.restore(self.svc, row)
            outcome = self.engine.resume(row.uuid, flow)
            LOG.info("%s left the move queue: %s", flow.log_prefix,
                     "waits again" if outcome.parked else
                     "completed" if outcome.completed else "rolled back")
        except Exception:   # its lease runs out, and recovery takes it over
            LOG.exception("could not go on with the parked move %s", row.uuid)
