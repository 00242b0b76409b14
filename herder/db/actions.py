"""Instance actions and their events: what `server event list` shows."""
from datetime import datetime

from sqlalchemy import insert, select, update

from herder.db.models import InstanceAction, InstanceActionEvent
from herder.db.session import Database


def _now() -> datetime:
    # microseconds kept: actions and faults of one second must still be ordered
    return datetime.utcnow()


def start(db: Database, context, instance_uuid: str, action: str,
          finished: bool = False) -> InstanceAction:
    """Record the request's `action`; `finished` for one the api completes on the spot (lock)."""
    now = _now()
    with db.transaction() as session:
        row = InstanceAction(action=action, instance_uuid=instance_uuid,
                             request_id=context.request_id, user_id=context.user_id,
                             project_id=context.project_id, start_time=now, updated_at=now,
                             finish_time=now if finished else None)
        session.add(row)
    return row


def _action(session, instance_uuid: str, request_id: str,
            action: str | None = None) -> InstanceAction | None:
    """The newest action of the request; `action` picks one when a request recorded two
    (deleting a server in VERIFY_RESIZE records confirmResize and delete)."""
    query = select(InstanceAction).where(InstanceAction.instance_uuid == instance_uuid,
                                         InstanceAction.request_id == request_id)
    if action is not None:
        query = query.where(InstanceAction.action == action)
    return session.scalars(query.order_by(InstanceAction.id.desc())).first()


def find(db: Database, context, instance_uuid: str, action: str | None = None) -> int | None:
    """The id of the request's newest action (`action` as in `_action`), None if it has none.
    A workflow looks it up once and records its events by id from then on."""
    with db.transaction() as session:
        row = _action(session, instance_uuid, context.request_id, action)
        return row.id if row is not None else None


# Events are written with plain INSERT and UPDATE statements by id: a move records a dozen of
# them, and loading the action and event rows into the ORM first cost more than the writes.
# The statements name the tables, not the mapped classes, for the reason journal.py gives.
_actions = InstanceAction.__table__
_events = InstanceActionEvent.__table__


def event_start(db: Database, action_id: int, event: str, host: str | None) -> int:
    """Open `event` under the action; its id, for `event_finish`."""
    now = _now()
    with db.transaction() as session:
        event_id = session.execute(insert(_events).values(
            action_id=action_id, event=event, start_time=now, host=host)).inserted_primary_key[0]
        session.execute(update(_actions).where(_actions.c.id == action_id)
                        .values(updated_at=now))
    return event_id


def event_finish(db: Database, action_id: int, event_id: int,
                 error: BaseException | None = None, traceback: str | None = None) -> None:
    """Close the event; an error also marks the whole action as `Error`."""
    now = _now()
    event_values: dict = {"finish_time": now, "result": "Error" if error else "Success"}
    action_values: dict = {"updated_at": now}
    if error is not None:
        event_values.update(traceback=traceback or repr(error), details=str(error))
        action_values["message"] = "Error"
    with db.transaction() as session:
        session.execute(update(_events).where(_events.c.id == event_id)
                        .values(**event_values))
        session.execute(update(_actions).where(_actions.c.id == action_id)
                        .values(**action_values))


def finish(db: Database, action_id: int) -> None:
    now = _now()
    with db.transaction() as session:
        session.execute(update(_actions).where(_actions.c.id == action_id,
                                               _actions.c.finish_time.is_(None))
                        .values(finish_time=now, updated_at=now))


def unfinished_events(db: Database, action_id: int) -> list[tuple[int, str]]:
    """(id, name) of the action's events that started and never finished, newest first."""
    with db.transaction() as session:
        return [(row.id, row.event) for row in session.execute(
            select(_events.c.id, _events.c.event).where(
                _events.c.action_id == action_id, _events.c.finish_time.is_(None))
            .order_by(_events.c.id.desc()))]


def list_for(db: Database, instance_uuid: str) -> list[InstanceAction]:
    with db.transaction() as session:
        return list(session.scalars(select(InstanceAction).where(
            InstanceAction.instance_uuid == instance_uuid)
            .order_by(InstanceAction.start_time.desc(), InstanceAction.id.desc())))


def get(db: Database, instance_uuid: str, request_id: str) -> InstanceAction | None:
    with db.transaction() as session:
        return _action(session, instance_uuid, request_id)


def events_of(db: Database, action_id: int) -> list[InstanceActionEvent]:
    with db.transaction() as session:
        return list(session.scalars(select(InstanceActionEvent).where(
            InstanceActionEvent.action_id == action_id).order_by(InstanceActionEvent.id)))
