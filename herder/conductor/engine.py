"""A small workflow engine: run steps in order, journal each one, compensate on failure.

A workflow is a readable list of `Step`s. The engine writes a journal row before a step runs and
updates it after, so a restarted conductor can tell what was done. When a step fails, the
compensations of that step and of every step already done run in reverse order, then the
workflow's `rolled_back` hook puts the server in its final, usable state. Compensations must be
idempotent: they may find their step's work done fully, partly or not at all.

After a crash, `recover` picks a journaled workflow up where it stood. A crash can stop a step
anywhere: before its first write, between two of them, or after its last one and before the
journal recorded it done. A step that can tell from the records that all its work is in (its
`done_if`) then counts as done, so a workflow whose last write went in completes instead of
being undone. Once a step marked `commits` has begun (the point after which going back would
lose more than going on), the remaining steps run again from the first one not done; before
that, everything begun is compensated and the workflow rolled back, and each compensation
copes with a step that ran fully, partly or not at all.

A step marked `waits` may find that the workflow must wait for something outside it (a move
waits for free move slots on its hosts): it raises `Parked`, and the workflow is journaled
`parked`, with no conductor and no thread, until a conductor takes it up with `resume`, which
runs the waiting step again. A crash while a workflow waits loses nothing: recovery runs the
waiting step again too, instead of rolling the workflow back.
"""
import contextlib
import logging
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Callable, Protocol

from herder.db import journal
from herder.db.session import Database
from herder.fault_injection import FaultInjector

LOG = logging.getLogger(__name__)


@dataclass
class Step:
    name: str
    service: str                        # who does the work: conductor, scheduler, source, destination
    run: Callable[[], None]
    compensate: Callable[[], None] | None = None
    critical: bool = True               # a non-critical step's failure is journaled, not rolled back
    commits: bool = False               # once begun, recovery goes forward, never back
    # after a crash inside the step: whether the records show all its work done (its last
    # write committed), so that recovery counts it done instead of redoing or undoing it
    done_if: Callable[[], bool] | None = None
    # the step may park the workflow (raise Parked); it must be safe to run again
    waits: bool = False


class Workflow(Protocol):
    kind: str
    instance_uuid: str
    migration_uuid: str | None
    log_prefix: str

    def steps(self) -> list[Step]: ...

    def snapshot(self) -> dict: ...

    def stop_requested(self) -> BaseException | None:
        """Asked before each step: an error to roll the workflow back with instead of
        running the step (someone asked to abort it), or None to go on."""
        ...

    def rolled_back(self, error: BaseException, complete: bool) -> None: ...


@dataclass
class Outcome:
    completed: bool
    error: BaseException | None = None
    compensation_errors: list[BaseException] = field(default_factory=list)
    parked: bool = False   # neither completed nor rolled back: it waits (see Parked)


class Interrupted(Exception):
    """The service running a workflow stopped in the middle of it."""


class Parked(Exception):
    """Raised by a step marked `waits`: the workflow cannot go on yet, and waits parked."""


class Engine:
    def __init__(self, db: Database, fault_points: FaultInjector | None = None,
                 owner: str | None = None, lease_seconds: float = 30.0):
        self.db = db
        # the conductor that runs the workflows (None: ownership is not tracked, as in unit
        # tests); it must renew its leases within lease_seconds (journal.renew_leases)
        self.owner = owner
        self.lease_seconds = lease_seconds
        # fault points (tests only): `<kind>.<step>` before a step runs, and, when the
        # injector holds across processes, `<kind>.<step>.first_write` after the step's
        # first committed write and `<kind>.<step>.last_write` once it returned, before the
        # journal records it done: the places a crash inside a step can leave it
        self.fault_points = fault_points or FaultInjector("conductor")
        self._running = threading.local()   # the first-write fault point of this thread's step
        # the workflows a thread of this process is running or recovering right now: one that
        # is owned here but not among them was left by a run that stopped on an error
        self._in_flight: set[str] = set()
        self._in_flight_lock = threading.Lock()
        if self.fault_points.hold_dir:
            db.after_writes(self._after_write)
        # called after a workflow parked, so that whoever takes parked workflows up looks
        # again: what it waits for may have come while it was parking
        self.when_parked: Callable[[], None] | None = None

    def runs(self, workflow_uuid: str) -> bool:
        """A thread of this process is running or recovering the workflow."""
        with self._in_flight_lock:
            return workflow_uuid in self._in_flight

    def run(self, flow: Workflow, request_uuid: str | None = None) -> Outcome:
        """Run `flow` from its first step. With `request_uuid` (the api's accepted request it
        carries out), only if this conductor is the one that takes the request: a request
        sent again after its first cast seemed lost may arrive twice."""
        workflow_uuid = str(uuid.uuid4())
        if request_uuid is not None:
            # tests: a conductor killed here took the cast off the queue and journaled nothing
            self.fault_points.check(f"{flow.kind}.take_request")
        with self._flying(workflow_uuid):
            try:
                journal.open_workflow(self.db, workflow_uuid, flow.kind, flow.instance_uuid,
                                      flow.migration_uuid, flow.snapshot(), self.owner,
                                      self.lease_seconds, request_uuid)
            except journal.RequestTaken as taken:
                LOG.info("%s %s: request %s was taken by another conductor already",
                         flow.log_prefix, flow.kind, taken)
                return Outcome(completed=False, error=taken)
            return self._run_from(workflow_uuid, flow, 0, [])

    @contextlib.contextmanager
    def _flying(self, workflow_uuid: str):
        with self._in_flight_lock:
            self._in_flight.add(workflow_uuid)
        try:
            yield
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(workflow_uuid)

    def recover(self, workflow_uuid: str, flow: Workflow) -> Outcome:
        """Finish or undo a workflow a previous run of the service left unfinished."""
        with self._flying(workflow_uuid):
            return self._recover(workflow_uuid, flow)

    def resume(self, workflow_uuid: str, flow: Workflow) -> Outcome:
        """Go on with a workflow this conductor unparked: from its waiting step, run again."""
        with self._flying(workflow_uuid):
            latest, done = self._journaled(workflow_uuid, flow, flow.steps())
            return self._run_from(workflow_uuid, flow, _first_not_done(latest), done)

    def _journaled(self, workflow_uuid: str, flow: Workflow,
                   steps: list[Step]) -> tuple[dict, list]:
        """The latest journal row of each of `steps` begun (the flow's), by position, and the
        steps done."""
        # by name, not by the position the row was written with: a herder with a step more
        # or less (an upgrade in the middle of a workflow) reads an older journal right
        position_of = {step.name: position for position, step in enumerate(steps)}
        latest = {}
        for row in journal.steps(self.db, workflow_uuid):
            if row.name in position_of:
                latest[position_of[row.name]] = row
            else:
                LOG.warning("%s %s: the journal names a step %s this herder does not have",
                            flow.log_prefix, flow.kind, row.name)
        self._count_finished_steps_done(flow, steps, latest)
        return latest, [(latest[p].id, steps[p]) for p in sorted(latest)
                        if latest[p].state == journal.STEP_DONE]

    def _recover(self, workflow_uuid: str, flow: Workflow) -> Outcome:
        steps = flow.steps()
        latest, done = self._journaled(workflow_uuid, flow, steps)
        waiting = _first_not_done(latest)
        if latest and waiting == max(latest) and steps[waiting].waits and \
                len(done) == waiting and latest[waiting].state == journal.STEP_STARTED:
            # interrupted in its waiting step, or unparked and not yet going: it waits again
            # (or, if it was being rolled back, its stop is found again before the step)
            LOG.warning("%s %s interrupted while waiting in step %s: waiting again",
                        flow.log_prefix, flow.kind, steps[waiting].name)
            return self._run_from(workflow_uuid, flow, waiting, done)
        if len(done) == len(steps):
            LOG.warning("%s %s interrupted after its last step's work: completing it",
                        flow.log_prefix, flow.kind)
            return self._run_from(workflow_uuid, flow, len(steps), done)
        if any(steps[p].commits for p in latest):
            # a committing step was begun: re-run from the first step not done (steps are
            # idempotent), never undo
            resume_at = _first_not_done(latest)
            LOG.warning("%s %s interrupted after its point of no return: resuming at step %d",
                        flow.log_prefix, flow.kind, resume_at)
            return self._run_from(workflow_uuid, flow, resume_at, done)
        begun = [(latest[p].id, steps[p]) for p in sorted(latest)
                 if latest[p].state != journal.STEP_COMPENSATED]
        LOG.warning("%s %s interrupted: rolling back %s", flow.log_prefix, flow.kind,
                    [step.name for _, step in begun])
        # its conductor died, or lost the database between two steps (so could not record
        # how the step ended), or lost it to another conductor: this one takes it up again
        error = Interrupted(f"{flow.kind} was interrupted (its conductor restarted or lost "
                            "the database) and rolled back")
        return self._roll_back(workflow_uuid, flow, begun, error)

    def _count_finished_steps_done(self, flow: Workflow, steps: list[Step],
                                   latest: dict) -> None:
        """Record done the interrupted steps whose work the records show finished."""
        for position, row in latest.items():
            step = steps[position]
            if row.state != journal.STEP_STARTED or step.done_if is None:
                continue
            try:
                finished = step.done_if()
            except Exception:  # the records cannot tell: treat the step as interrupted
                LOG.exception("%s could not tell whether %s finished", flow.log_prefix,
                              step.name)
                finished = False
            if finished:
                LOG.warning("%s %s step %s had finished its work before the interruption",
                            flow.log_prefix, flow.kind, step.name)
                journal.step_state(self.db, row.id, journal.STEP_DONE)
                row.state = journal.STEP_DONE

    def _after_write(self) -> None:
        point = getattr(self._running, "first_write_point", None)
        if point is not None:
            self._running.first_write_point = None
            self.fault_points.check(point)

    def _run_step(self, flow: Workflow, step: Step) -> None:
        point = f"{flow.kind}.{step.name}"
        self.fault_points.check(point)
        self._running.first_write_point = f"{point}.first_write"
        try:
            step.run()
        finally:
            self._running.first_write_point = None
        self.fault_points.check(f"{point}.last_write")

    def _run_from(self, workflow_uuid: str, flow: Workflow, start: int,
                  done: list[tuple[int, Step]]) -> Outcome:
        saved = flow.snapshot()
        # the step that just ran: (its journal id, the context if it changed), recorded done in
        # the transaction that starts the next step (or completes the workflow)
        finished: tuple[int, dict | None] | None = None
        for position, step in list(enumerate(flow.steps()))[start:]:
            try:
                stop, step_id = self._stop_or_start(workflow_uuid, flow, finished,
                                                    (position, step.name, step.service))
            except journal.LostOwnership as lost:
                return self._lost(flow, step.name, lost)
            if stop is not None:
                LOG.warning("%s %s stopped before step %s: %s", flow.log_prefix, flow.kind,
                            step.name, stop)
                return self._roll_back(workflow_uuid, flow, done, stop)
            finished = None
            LOG.info("%s %s step %s (%s) started", flow.log_prefix, flow.kind, step.name,
                     step.service)
            try:
                self._run_step(flow, step)
            except Parked as waiting:
                return self._park(workflow_uuid, flow, step, waiting)
            except Exception as error:  # any failure of a step leads to compensation
                LOG.warning("%s %s step %s failed: %s", flow.log_prefix, flow.kind, step.name,
                            error)
                journal.step_state(self.db, step_id, journal.STEP_FAILED, _describe(error))
                if not step.critical:
                    continue
                return self._roll_back(workflow_uuid, flow, [*done, (step_id, step)], error)
            snapshot = flow.snapshot()  # rewritten only when the step learnt something
            finished = (step_id, snapshot if snapshot != saved else None)
            saved = snapshot
            LOG.info("%s %s step %s done", flow.log_prefix, flow.kind, step.name)
            done.append((step_id, step))
        try:
            journal.advance(self.db, workflow_uuid, finished, None, self.owner,
                            migration_uuid=flow.migration_uuid)
        except journal.LostOwnership as lost:
            return self._lost(flow, "the end", lost)
        return Outcome(completed=True)

    def _stop_or_start(self, workflow_uuid: str, flow: Workflow,
                       finished: tuple[int, dict | None] | None,
                       next_step: tuple[int, str, str]) -> tuple[BaseException | None, int | None]:
        """Between two steps, in one transaction: the step that ran (`finished`, as for
        journal.advance) is recorded done, and either the workflow must stop (the error to roll
        it back with, and no step started) or the next step starts (its journal id). One
        transaction, not two, because it runs between every two steps of every workflow."""
        with self.db.one_transaction():
            stop = flow.stop_requested()
            if stop is None:
                return None, journal.advance(self.db, workflow_uuid, finished, next_step,
                                             self.owner)
            if finished is not None:
                journal.step_done(self.db, workflow_uuid, finished)
            return stop, None

    def _park(self, workflow_uuid: str, flow: Workflow, step: Step, waiting: Parked) -> Outcome:
        if not step.waits:
            raise TypeError(f"step {step.name} parked its workflow but is not marked `waits`")
        try:
            journal.park(self.db, workflow_uuid, self.owner)
        except journal.LostOwnership as lost:
            return self._lost(flow, step.name, lost)
        LOG.info("%s %s parked in step %s: %s", flow.log_prefix, flow.kind, step.name, waiting)
        if self.when_parked is not None:
            self.when_parked()
        return Outcome(completed=False, error=waiting, parked=True)

    @staticmethod
    def _lost(flow: Workflow, before: str, lost: journal.LostOwnership) -> Outcome:
        # another conductor adopted the workflow (our lease ran out): it is theirs to finish
        LOG.warning("%s %s: stopping before %s: %s", flow.log_prefix, flow.kind, before, lost)
        return Outcome(completed=False, error=lost)

    def _roll_back(self, workflow_uuid: str, flow: Workflow, to_undo: list[tuple[int, Step]],
                   error: BaseException) -> Outcome:
        journal.set_status(self.db, workflow_uuid, journal.ROLLING_BACK, _describe(error),
                           migration_uuid=flow.migration_uuid)
        failures: list[BaseException] = []
        for step_id, step in reversed(to_undo):
            if step.compensate is None:
                continue
            LOG.info("%s %s compensating %s", flow.log_prefix, flow.kind, step.name)
            journal.step_state(self.db, step_id, journal.STEP_COMPENSATING)
            try:
                step.compensate()
            except Exception as comp_error:  # keep undoing the rest; report at the end
                LOG.exception("%s compensation of %s failed", flow.log_prefix, step.name)
                journal.step_state(self.db, step_id, journal.STEP_FAILED, _describe(comp_error))
                failures.append(comp_error)
                continue
            journal.step_state(self.db, step_id, journal.STEP_COMPENSATED)
        complete = not failures
        status = journal.FAILED  # unless the hook that restores the server succeeds
        try:
            flow.rolled_back(error, complete)
            status = journal.ROLLED_BACK if complete else journal.FAILED
        finally:
            journal.set_status(self.db, workflow_uuid, status)
        return Outcome(completed=False, error=error, compensation_errors=failures)


def _first_not_done(latest: dict) -> int:
    """The position of the first step whose latest journal row is not done."""
    return next((p for p in sorted(latest) if latest[p].state != journal.STEP_DONE),
                max(latest, default=-1) + 1)


def _describe(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(error)).strip()
