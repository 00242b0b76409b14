"""Instance actions and their events: what `server event list` shows."""
from datetime import datetime

from sqlalchemy import select

from herder.db.models import InstanceAction, InstanceActionEvent
from herder.db.session import Database


def _now() -> datetime:
    # microseconds kept: actions and faults of one second must still be ordered
    return datetime.utcnow()


def start(db: Database, context, instance_uuid: str, action: str) -> InstanceAction:
    with db.transaction() as session:
        row = InstanceAction(action=action, instance_uuid=instance_uuid,
                             request_id=context.request_id, user_id=context.user_id,
                             project_id=context.project_id, start_time=_now(), updated_at=_now())
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


def event_start(db: Database, context, instance_uuid: str, event: str, host: str | None,
                action: str | None = None) -> None:
    with db.transaction() as session:
        action = _action(session, instance_uuid, context.request_id, action)
        if action is None:
            return
        action.updated_at = _now()
        session.add(InstanceActionEvent(action_id=action.id, event=event, start_time=_now(),
                                        host=host))


def event_finish(db: Database, context, instance_uuid: str, event: str,
                 error: BaseException | None = None, traceback: str | None = None,
                 action: str | None = None) -> None:
    """Close the newest open `event`; an error also marks the whole action as `Error`."""
    with db.transaction() as session:
        action = _action(session, instance_uuid, context.request_id, action)
        if action is None:
            return
        row = session.scalars(select(InstanceActionEvent).where(
            InstanceActionEvent.action_id == action.id, InstanceActionEvent.event == event)
            .order_by(InstanceActionEvent.id.desc())).first()
        if row is None:
            return
        row.finish_time = _now()
        row.result = "Error" if error else "Success"
        if error is not None:
            row.traceback = traceback or repr(error)
            row.details = str(error)
            action.message = "Error"
        action.updated_at = _now()


def finish(db: Database, context, instance_uuid: str, action: str | None = None) -> None:
    with db.transaction() as session:
        action = _action(session, instance_uuid, context.request_id, action)
        if action is not None and action.finish_time is None:
            action.finish_time = _now()
            action.updated_at = _now()


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


def unfinished_events(db: Database, context, instance_uuid: str, action: str) -> list[str]:
    """Names of the events of the request's `action` that started and never finished."""
    with db.transaction() as session:
        row = _action(session, instance_uuid, context.request_id, action)
        if row is None:
            return []
        return [e.event for e in session.scalars(select(InstanceActionEvent).where(
            InstanceActionEvent.action_id == row.id, InstanceActionEvent.finish_time.is_(None))
            .order_by(InstanceActionEvent.id.desc()))]
