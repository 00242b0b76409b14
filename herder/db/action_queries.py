"""Reading instance actions for the API: paged lists (2.58) and an action's events."""
from datetime import datetime

from sqlalchemy import and_, func, or_, select

from herder import exception
from herder.db.models import InstanceAction, InstanceActionEvent
from herder.db.session import Database


def page(db: Database, instance_uuid: str, limit: int | None = None, marker: str | None = None,
         changes_since: datetime | None = None,
         changes_before: datetime | None = None) -> list[InstanceAction]:
    """The server's actions newest first; `marker` is the request id of the last one seen.

    An unknown marker is MarkerNotFound. "Changed" is the action's last update (or its start).
    """
    changed_at = func.coalesce(InstanceAction.updated_at, InstanceAction.start_time)
    with db.transaction() as session:
        query = select(InstanceAction).where(InstanceAction.instance_uuid == instance_uuid)
        if changes_since is not None:
            query = query.where(changed_at >= changes_since)
        if changes_before is not None:
            query = query.where(changed_at <= changes_before)
        if marker is not None:
            last = session.scalars(select(InstanceAction).where(
                InstanceAction.instance_uuid == instance_uuid,
                InstanceAction.request_id == marker)
                .order_by(InstanceAction.id.desc())).first()
            if last is None:
                raise exception.MarkerNotFound(marker=marker)
            query = query.where(or_(InstanceAction.start_time < last.start_time,
                                    and_(InstanceAction.start_time == last.start_time,
                                         InstanceAction.id < last.id)))
        query = query.order_by(InstanceAction.start_time.desc(), InstanceAction.id.desc())
        if limit is not None:
            query = query.limit(limit)
        return list(session.scalars(query))


def events_newest_first(db: Database, action_id: int) -> list[InstanceActionEvent]:
    """An action's events in Nova's order: the newest first."""
    with db.transaction() as session:
        return list(session.scalars(select(InstanceActionEvent).where(
            InstanceActionEvent.action_id == action_id)
            .order_by(InstanceActionEvent.start_time.desc(), InstanceActionEvent.id.desc())))
