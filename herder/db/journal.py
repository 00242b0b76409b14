"""The conductor's durable journal: workflows and one row per step."""
from datetime import datetime

from sqlalchemy import select

from herder.db.models import Workflow, WorkflowStep
from herder.db.session import Database

RUNNING = "running"
COMPLETED = "completed"
ROLLING_BACK = "rolling_back"
ROLLED_BACK = "rolled_back"
FAILED = "failed"  # rolled back as far as possible, something still needs a human

STEP_STARTED = "started"
STEP_DONE = "done"
STEP_FAILED = "failed"
STEP_COMPENSATING = "compensating"
STEP_COMPENSATED = "compensated"


def _now() -> datetime:
    return datetime.utcnow().replace(microsecond=0)


def open_workflow(db: Database, uuid: str, kind: str, instance_uuid: str,
                  migration_uuid: str | None, context: dict) -> Workflow:
    with db.transaction() as session:
        row = Workflow(uuid=uuid, kind=kind, instance_uuid=instance_uuid,
                       migration_uuid=migration_uuid, status=RUNNING, context=context)
        session.add(row)
    return row


def set_status(db: Database, uuid: str, status: str, error: str | None = None,
               migration_uuid: str | None = None) -> None:
    with db.transaction() as session:
        row = session.scalars(select(Workflow).where(Workflow.uuid == uuid)).one()
        row.status = status
        row.updated_at = _now()
        if error is not None:
            row.error = error
        if migration_uuid is not None:
            row.migration_uuid = migration_uuid


def step_started(db: Database, workflow_uuid: str, position: int, name: str, service: str) -> int:
    with db.transaction() as session:
        row = WorkflowStep(workflow_uuid=workflow_uuid, position=position, name=name,
                           service=service, state=STEP_STARTED, started_at=_now())
        session.add(row)
        session.flush()
        return row.id


def step_state(db: Database, step_id: int, state: str, error: str | None = None,
               context: dict | None = None) -> None:
    """Record a step's outcome and, with it, the workflow's state after the step (so that a
    restarted conductor can pick the workflow up where it stood)."""
    with db.transaction() as session:
        row = session.get(WorkflowStep, step_id)
        row.state = state
        row.finished_at = _now()
        if error is not None:
            row.error = error
        if context is not None:
            workflow = session.scalars(select(Workflow).where(
                Workflow.uuid == row.workflow_uuid)).one()
            workflow.context = context
            workflow.updated_at = _now()


def steps(db: Database, workflow_uuid: str) -> list[WorkflowStep]:
    with db.transaction() as session:
        return list(session.scalars(select(WorkflowStep).where(
            WorkflowStep.workflow_uuid == workflow_uuid).order_by(WorkflowStep.id)))


def active_for(db: Database, instance_uuid: str) -> Workflow | None:
    with db.transaction() as session:
        return session.scalars(select(Workflow).where(
            Workflow.instance_uuid == instance_uuid,
            Workflow.status.in_((RUNNING, ROLLING_BACK)))).first()


def unfinished(db: Database) -> list[Workflow]:
    """Workflows a stopped conductor left running or rolling back, oldest first."""
    with db.transaction() as session:
        return list(session.scalars(select(Workflow).where(
            Workflow.status.in_((RUNNING, ROLLING_BACK))).order_by(Workflow.id)))
