"""The conductor's durable journal: workflows and one row per step.

A workflow belongs to the conductor that runs it (`owner`) while that conductor renews its lease.
Every step start checks the ownership, so a conductor that lost a workflow to another (say, it
was cut off from the database for longer than the lease) stops instead of running it twice.
"""
from datetime import datetime, timedelta

from sqlalchemy import Select, func, insert, select, update

from herder.db import accepted_requests
from herder.db.models import Workflow, WorkflowStep
from herder.db.session import Database

RUNNING = "running"
COMPLETED = "completed"
ROLLING_BACK = "rolling_back"
ROLLED_BACK = "rolled_back"
FAILED = "failed"  # rolled back as far as possible, something still needs a human
# waiting, with no conductor and no thread, for what one of its steps waits for (a move's
# slots on its hosts): any conductor takes it up again when that comes (unpark)
PARKED = "parked"

STEP_STARTED = "started"
STEP_DONE = "done"
STEP_FAILED = "failed"
STEP_COMPENSATING = "compensating"
STEP_COMPENSATED = "compensated"


def _now() -> datetime:
    return datetime.utcnow()


class LostOwnership(Exception):
    """Another conductor adopted this workflow: this one must not run another step of it."""


class RequestTaken(Exception):
    """The accepted request a workflow was to run was taken by another conductor already."""


def open_workflow(db: Database, uuid: str, kind: str, instance_uuid: str,
                  migration_uuid: str | None, context: dict, owner: str | None = None,
                  lease_seconds: float = 0, request_uuid: str | None = None) -> Workflow:
    """Journal a new workflow; with `request_uuid`, take that accepted request in the same
    transaction (RequestTaken, and nothing written, if another conductor has it)."""
    with db.transaction() as session:
        if request_uuid is not None and not accepted_requests.take(session, request_uuid):
            raise RequestTaken(request_uuid)
        row = Workflow(uuid=uuid, kind=kind, instance_uuid=instance_uuid,
                       migration_uuid=migration_uuid, status=RUNNING, context=context,
                       owner=owner, lease_until=_lease_end(lease_seconds) if owner else None)
        session.add(row)
    return row


def _lease_end(seconds: float) -> datetime:
    return datetime.utcnow() + timedelta(seconds=seconds)


def renew_leases(db: Database, owner: str, lease_seconds: float) -> int:
    """Extend the leases of every unfinished workflow `owner` runs; how many it holds."""
    with db.transaction() as session:
        return session.execute(update(Workflow).where(
            Workflow.owner == owner, Workflow.status.in_((RUNNING, ROLLING_BACK))).values(
            lease_until=_lease_end(lease_seconds))).rowcount


def adopt(db: Database, workflow: Workflow, owner: str, lease_seconds: float,
          force: bool = False) -> bool:
    """Take over an unfinished workflow whose owner's lease ran out (or any, with `force`:
    for a conductor that knows it is the only one). Compare-and-swap on the previous owner and
    lease, so of several conductors trying at once exactly one wins."""
    now = datetime.utcnow()
    condition = [Workflow.uuid == workflow.uuid, Workflow.status.in_((RUNNING, ROLLING_BACK))]
    condition.append(Workflow.owner.is_(None) if workflow.owner is None
                     else Workflow.owner == workflow.owner)
    if not force and workflow.owner is not None:
        condition.append(Workflow.lease_until < now)
    with db.transaction() as session:
        return session.execute(update(Workflow).where(*condition).values(
            owner=owner, lease_until=_lease_end(lease_seconds))).rowcount == 1


def set_status(db: Database, uuid: str, status: str, error: str | None = None,
               migration_uuid: str | None = None) -> None:
    with db.transaction() as session:
        _set_status(session, uuid, status, error, migration_uuid)


# The writes below run between every two steps of every workflow: plain UPDATE and INSERT
# statements, without loading the rows into the ORM first, and on the tables rather than the
# mapped classes. A statement on a mapped class goes through the ORM's statement processing,
# which on SQLite cost 0.3 ms of CPU per statement against 0.1 ms on the table (measured in one
# transaction of five UPDATEs); nothing here needs what that processing gives.
_workflows = Workflow.__table__
_steps = WorkflowStep.__table__

def _set_status(session, uuid: str, status: str, error: str | None = None,
                migration_uuid: str | None = None) -> None:
    values: dict = {"status": status, "updated_at": _now()}
    if error is not None:
        values["error"] = error
    if migration_uuid is not None:
        values["migration_uuid"] = migration_uuid
    _write(session, uuid, values)


def _write(session, workflow_uuid: str, values: dict) -> None:
    session.execute(update(_workflows).where(_workflows.c.uuid == workflow_uuid)
                    .values(**values))


def advance(db: Database, workflow_uuid: str, done: tuple[int, dict | None] | None,
            next_step: tuple[int, str, str] | None, owner: str | None = None,
            migration_uuid: str | None = None) -> int | None:
    """Between two steps, in one transaction: the step that just ran is done (`done`: its id
    and the workflow's context if the step changed it, which is what a restarted conductor
    picks the workflow up from) and the next one starts (`next_step`:
    position, name, service), whose id is returned; after the last step (`next_step` None)
    the workflow is completed instead. LostOwnership, and nothing written, if another
    conductor adopted the workflow: its new owner finds the step begun, as after a crash."""
    values: dict = {"updated_at": _now()}
    if done is not None and done[1] is not None:
        values["context"] = done[1]
    if next_step is None:
        values["status"] = COMPLETED
        if migration_uuid is not None:
            values["migration_uuid"] = migration_uuid
    with db.transaction() as session:
        _update_as_owner(session, workflow_uuid, owner, values)
        if done is not None:
            _set_step_state(session, done[0], STEP_DONE)
        if next_step is None:
            return None
        return _start_step(session, workflow_uuid, *next_step)


def _update_as_owner(session, workflow_uuid: str, owner: str | None, values: dict) -> None:
    """Write `values` on the workflow if `owner` still holds it (any owner for None), else
    LostOwnership and nothing written. The check and the write are one statement, which
    locks the row: an adopt waits for the transaction, and cannot slip in between."""
    query = update(_workflows).where(_workflows.c.uuid == workflow_uuid)
    if owner is not None:
        query = query.where(_workflows.c.owner == owner)
    if session.execute(query.values(**values)).rowcount == 1 or owner is None:
        return
    current = session.scalar(select(Workflow.owner).where(Workflow.uuid == workflow_uuid))
    raise LostOwnership(f"workflow {workflow_uuid} now belongs to {current}")


def _start_step(session, workflow_uuid: str, position: int, name: str, service: str) -> int:
    return session.execute(insert(_steps).values(
        workflow_uuid=workflow_uuid, position=position, name=name, service=service,
        state=STEP_STARTED, started_at=_now())).inserted_primary_key[0]


def step_done(db: Database, workflow_uuid: str, done: tuple[int, dict | None]) -> None:
    """Record a step done (`done` as for `advance`) without starting another: the workflow
    stops there, to be rolled back."""
    with db.transaction() as session:
        if done[1] is not None:
            _write(session, workflow_uuid, {"context": done[1], "updated_at": _now()})
        _set_step_state(session, done[0], STEP_DONE)


def step_state(db: Database, step_id: int, state: str, error: str | None = None) -> None:
    """Record a step's failure or compensation (a step that is done is recorded by `advance`,
    with the workflow's state after it)."""
    with db.transaction() as session:
        _set_step_state(session, step_id, state, error)


def _set_step_state(session, step_id: int, state: str, error: str | None = None) -> None:
    values: dict = {"state": state, "finished_at": _now()}
    if error is not None:
        values["error"] = error
    session.execute(update(_steps).where(_steps.c.id == step_id).values(**values))


def steps(db: Database, workflow_uuid: str) -> list[WorkflowStep]:
    with db.transaction() as session:
        return list(session.scalars(select(WorkflowStep).where(
            WorkflowStep.workflow_uuid == workflow_uuid).order_by(WorkflowStep.id)))


def park(db: Database, uuid: str, owner: str | None) -> None:
    """The workflow waits: it leaves its conductor (and the lease) until `unpark`."""
    with db.transaction() as session:
        _update_as_owner(session, uuid, owner, {"status": PARKED, "owner": None,
                                                "lease_until": None, "updated_at": _now()})


def unpark(db: Database, uuid: str, owner: str | None, lease_seconds: float) -> bool:
    """Take a parked workflow up again; of several conductors trying, exactly one wins."""
    with db.transaction() as session:
        return session.execute(update(Workflow).where(
            Workflow.uuid == uuid, Workflow.status == PARKED).values(
            status=RUNNING, owner=owner, updated_at=_now(),
            lease_until=_lease_end(lease_seconds) if owner else None)).rowcount == 1


def any_parked(db: Database) -> bool:
    """Whether any workflow is parked (one indexed look, taking no lock)."""
    with db.one_transaction(read_only=True), db.transaction() as session:
        return session.scalar(select(Workflow.id).where(Workflow.status == PARKED).limit(1)) \
            is not None


def parked(db: Database, unless_waiting_for: Select) -> list[Workflow]:
    """Parked workflows, oldest first, of the moves `unless_waiting_for` (a query of migration
    uuids: the moves that still have to wait) does not list."""
    query = select(Workflow).where(Workflow.status == PARKED,
                                   Workflow.migration_uuid.not_in(unless_waiting_for))
    with db.transaction() as session:
        return list(session.scalars(query.order_by(Workflow.id)))


def active_for(db: Database, instance_uuid: str) -> Workflow | None:
    """The server's workflow under way (running, rolling back, or parked), if any."""
    with db.transaction() as session:
        return session.scalars(select(Workflow).where(
            Workflow.instance_uuid == instance_uuid,
            Workflow.status.in_((RUNNING, ROLLING_BACK, PARKED)))).first()


def unfinished(db: Database) -> list[Workflow]:
    """Workflows a stopped conductor left running or rolling back, oldest first."""
    with db.transaction() as session:
        return list(session.scalars(select(Workflow).where(
            Workflow.status.in_((RUNNING, ROLLING_BACK))).order_by(Workflow.id)))


def count_of_kind(db: Database, instance_uuid: str, kind: str) -> int:
    """How many workflows of `kind` the server has had, whatever became of them."""
    with db.transaction() as session:
        return session.scalar(select(func.count(Workflow.id)).where(
            Workflow.instance_uuid == instance_uuid, Workflow.kind == kind))
