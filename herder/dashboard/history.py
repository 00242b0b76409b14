"""A server's history for the dashboard: its instance actions, newest first, each with its
events (the seed's steps, on the hosts that ran them) and, for a move, its migration; a move
that failed or was aborted shows its fault and the steps its workflow rolled back. What a
caller sees of it follows the instance-actions rules, as GET /os-instance-actions/{id} at the
newest microversion: events for those who may list actions, their hosts and the journal's
errors for those the events rule allows, their details for the events:details rule."""
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from herder.dashboard.access import ACTIONS_LIST, ACTIONS_SHOW, EVENTS, Access
from herder.db import journal
from herder.db.models import (Instance, InstanceAction, InstanceActionEvent, InstanceFault,
                              Migration, Workflow, WorkflowStep)
from herder.db.session import Database

ACTION_ROWS = 50   # the newest actions shown; older ones stay in the API
MOVE_ACTIONS = ("migrate", "resize")


@dataclass
class EventRow:
    name: str
    host: str | None      # None: the caller may not see hosts
    started: datetime
    finished: datetime | None
    result: str | None
    details: str | None


@dataclass
class StepRow:
    """A step of a move's workflow that was rolled back, or the one that failed."""
    name: str
    service: str
    state: str
    error: str | None


@dataclass
class ActionRow:
    action: str
    request_id: str
    user_id: str | None
    started: datetime
    finished: datetime | None
    message: str | None   # "Error" when an event failed
    events: list[EventRow] = field(default_factory=list)
    migration_id: int | None = None
    migration_status: str | None = None
    fault: str | None = None
    rolled_back: list[StepRow] = field(default_factory=list)


def server_history(db: Database, access: Access, server: Instance) -> list[ActionRow] | None:
    """The server's newest actions; None if the caller may not list them."""
    if not access.on_server(ACTIONS_LIST, server) or not access.on_server(ACTIONS_SHOW, server):
        return None
    everything = access.on_server(EVENTS, server)
    details = access.on_server(f"{EVENTS}:details", server)
    with db.transaction() as session:
        actions = list(session.scalars(
            select(InstanceAction).where(InstanceAction.instance_uuid == server.uuid)
            .order_by(InstanceAction.start_time.desc(), InstanceAction.id.desc())
            .limit(ACTION_ROWS)))
        events = {}
        for event in session.scalars(
                select(InstanceActionEvent)
                .where(InstanceActionEvent.action_id.in_([a.id for a in actions]))
                .order_by(InstanceActionEvent.start_time, InstanceActionEvent.id)):
            events.setdefault(event.action_id, []).append(event)
        moves = list(session.scalars(select(Migration).where(
            Migration.instance_uuid == server.uuid).order_by(Migration.id)))
        faults = list(session.scalars(select(InstanceFault).where(
            InstanceFault.instance_uuid == server.uuid).order_by(InstanceFault.id)))
        workflows = {w.migration_uuid: w.uuid for w in session.scalars(
            select(Workflow).where(Workflow.instance_uuid == server.uuid,
                                   Workflow.migration_uuid.in_([m.uuid for m in moves])))}
        steps = {}
        for step in session.scalars(select(WorkflowStep).where(
                WorkflowStep.workflow_uuid.in_(list(workflows.values())))
                .order_by(WorkflowStep.id)):
            steps.setdefault(step.workflow_uuid, []).append(step)
    rows = []
    later_start = None   # the start of the next newer action: what happened before it is ours
    for action in actions:
        row = ActionRow(action.action, action.request_id, action.user_id, action.start_time,
                        action.finish_time, action.message,
                        [EventRow(e.event, e.host if everything else None, e.start_time,
                                  e.finish_time, e.result, e.details if details else None)
                         for e in events.get(action.id, [])])
        in_window = _within(action.start_time, later_start)
        fault = next((f for f in reversed(faults) if in_window(f.created_at)), None)
        row.fault = fault.message if fault is not None else None
        if action.action in MOVE_ACTIONS:
            move = next((m for m in moves if in_window(m.created_at)), None)
            if move is not None:
                row.migration_id, row.migration_status = move.id, move.status
                if everything:
                    row.rolled_back = _rolled_back(steps.get(workflows.get(move.uuid), []))
        rows.append(row)
        later_start = action.start_time
    return rows


def _within(start: datetime, end: datetime | None):
    return lambda moment: moment >= start and (end is None or moment < end)


def _rolled_back(steps: list[WorkflowStep]) -> list[StepRow]:
    """The step that failed and those compensated after it, in the order they ran."""
    return [StepRow(s.name, s.service, s.state, s.error) for s in steps
            if s.state in (journal.STEP_FAILED, journal.STEP_COMPENSATING,
                           journal.STEP_COMPENSATED)]
