"""A small workflow engine: run steps in order, journal each one, compensate on failure.

A workflow is a readable list of `Step`s. The engine writes a journal row before a step runs and
updates it after, so a restarted conductor can tell what was done. When a step fails, the
compensations of that step and of every step already done run in reverse order, then the
workflow's `rolled_back` hook puts the server in its final, usable state. Compensations must be
idempotent: they may find their step's work done fully, partly or not at all.

After a crash, `recover` picks a journaled workflow up where it stood: once a step marked
`commits` has begun (the point after which going back would lose more than going on), the
remaining steps run again from the first one not done; before that, everything begun is
compensated and the workflow rolled back.
"""
import logging
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Callable, Protocol

from herder.db import journal
from herder.db.session import Database
from herder.faults import FaultInjector

LOG = logging.getLogger(__name__)


@dataclass
class Step:
    name: str
    service: str                        # who does the work: conductor, scheduler, source, destination
    run: Callable[[], None]
    compensate: Callable[[], None] | None = None
    critical: bool = True               # a non-critical step's failure is journaled, not rolled back
    commits: bool = False               # once begun, recovery goes forward, never back


class Workflow(Protocol):
    kind: str
    instance_uuid: str
    migration_uuid: str | None
    log_prefix: str

    def steps(self) -> list[Step]: ...

    def snapshot(self) -> dict: ...

    def rolled_back(self, error: BaseException, complete: bool) -> None: ...


@dataclass
class Outcome:
    completed: bool
    error: BaseException | None = None
    compensation_errors: list[BaseException] = field(default_factory=list)


class Interrupted(Exception):
    """The service running a workflow stopped in the middle of it."""


class Engine:
    def __init__(self, db: Database, faults: FaultInjector | None = None,
                 owner: str | None = None, lease_seconds: float = 30.0):
        self.db = db
        # the conductor that runs the workflows (None: ownership is not tracked, as in unit
        # tests); it must renew its leases within lease_seconds (journal.renew_leases)
        self.owner = owner
        self.lease_seconds = lease_seconds
        # a fault point at the start of every step, `<kind>.<step>` (tests only)
        self.faults = faults or FaultInjector("conductor")

    def run(self, flow: Workflow) -> Outcome:
        workflow_uuid = str(uuid.uuid4())
        journal.open_workflow(self.db, workflow_uuid, flow.kind, flow.instance_uuid,
                              flow.migration_uuid, flow.snapshot(), self.owner,
                              self.lease_seconds)
        return self._run_from(workflow_uuid, flow, 0, [])

    def recover(self, workflow_uuid: str, flow: Workflow) -> Outcome:
        """Finish or undo a workflow a previous run of the service left unfinished."""
        steps = flow.steps()
        latest = {row.position: row for row in journal.steps(self.db, workflow_uuid)}
        done = [(latest[p].id, steps[p]) for p in sorted(latest)
                if latest[p].state == journal.STEP_DONE]
        if any(steps[p].commits for p in latest):
            # a committing step was begun: re-run from the first step not done (steps are
            # idempotent), never undo
            resume_at = next((p for p in sorted(latest)
                              if latest[p].state != journal.STEP_DONE), max(latest) + 1)
            LOG.warning("%s %s interrupted after its point of no return: resuming at step %d",
                        flow.log_prefix, flow.kind, resume_at)
            return self._run_from(workflow_uuid, flow, resume_at, done)
        begun = [(latest[p].id, steps[p]) for p in sorted(latest)
                 if latest[p].state != journal.STEP_COMPENSATED]
        LOG.warning("%s %s interrupted: rolling back %s", flow.log_prefix, flow.kind,
                    [step.name for _, step in begun])
        error = Interrupted(f"{flow.kind} was interrupted by a restart of the conductor "
                            "and rolled back")
        return self._roll_back(workflow_uuid, flow, begun, error)

    def _run_from(self, workflow_uuid: str, flow: Workflow, start: int,
                  done: list[tuple[int, Step]]) -> Outcome:
        saved = flow.snapshot()
        # the step that just ran: (its journal id, the context if it changed), recorded done in
        # the transaction that starts the next step (or completes the workflow)
        finished: tuple[int, dict | None] | None = None
        for position, step in list(enumerate(flow.steps()))[start:]:
            try:
                step_id = journal.advance(self.db, workflow_uuid, finished,
                                          (position, step.name, step.service), self.owner)
            except journal.LostOwnership as lost:
                return self._lost(flow, step.name, lost)
            finished = None
            LOG.info("%s %s step %s (%s) started", flow.log_prefix, flow.kind, step.name,
                     step.service)
            try:
                self.faults.check(f"{flow.kind}.{step.name}")
                step.run()
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


def _describe(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(error)).strip()
