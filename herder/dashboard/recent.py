"""The moves of the last hours for the dashboard: how each ended, how long it took, and how
long its three phases took, measured from the instance action's events:

    power-off  compute_resize_instance's time less the disk copy's (the source powers the
               guest off, then copies; the copy is timed on its own, herder/virt/driver.py)
    copy       the copy as the source timed it (the migration's disk_copy_seconds)
    boot       compute_finish_resize: the destination brings the guest up

A move rolled back before a phase leaves that phase out."""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from herder import states
from herder.dashboard.access import Access
from herder.dashboard.history import MOVE_ACTIONS
from herder.db.models import Instance, InstanceAction, InstanceActionEvent, Migration
from herder.db.session import Database

HOURS = 6
MOVE_ROWS = 50   # the newest moves shown
COPY_EVENT = "compute_resize_instance"
BOOT_EVENT = "compute_finish_resize"
# the move's other events, for when it ended
OTHER_EVENTS = ("conductor_migrate_server", "cold_migrate", "compute_prep_resize")
# no longer in flight: waiting in VERIFY_RESIZE, or over
ENDED = (states.MIGRATION_FINISHED, states.MIGRATION_CONFIRMED, states.MIGRATION_REVERTED,
         states.MIGRATION_ERROR, states.MIGRATION_CANCELLED)


@dataclass
class RecentMove:
    migration_id: int
    server_id: str
    server_name: str
    kind: str
    source: str | None
    destination: str | None
    status: str            # finished (in VERIFY_RESIZE), confirmed, reverted, error, ...
    started: datetime
    seconds: float | None  # from the move's record to the end of its last event
    power_off: float | None
    copy: float | None
    boot: float | None


def _seconds(event: InstanceActionEvent | None) -> float | None:
    if event is None or event.finish_time is None:
        return None
    return (event.finish_time - event.start_time).total_seconds()


def recent_moves(db: Database, access: Access, hours: int = HOURS) -> list[RecentMove]:
    """The moves created in the last `hours` that are no longer in flight, newest first."""
    since = datetime.utcnow() - timedelta(hours=hours)
    project_id = access.project_scope()
    with db.transaction() as session:
        query = select(Migration, Instance).join(
            Instance, Instance.uuid == Migration.instance_uuid).where(
            Migration.created_at >= since, Migration.status.in_(ENDED),
            Migration.deleted.is_(False)).order_by(Migration.id.desc()).limit(MOVE_ROWS)
        if project_id is not None:
            query = query.where(Instance.project_id == project_id)
        found = list(session.execute(query).all())
        events = _move_events(session, [server.uuid for _, server in found], since)
    show_hosts = access.sees_move_hosts()
    rows = []
    for move, server in found:
        mine = _events_of(events.get(server.uuid, []), move.created_at)
        copy_event, boot_event = mine.get(COPY_EVENT), mine.get(BOOT_EVENT)
        copying, copy = _seconds(copy_event), move.disk_copy_seconds
        ends = [e.finish_time for e in mine.values() if e.finish_time is not None]
        rows.append(RecentMove(
            move.id, server.uuid, server.display_name, move.migration_type,
            move.source_compute if show_hosts else None,
            move.dest_compute if show_hosts else None, move.status, move.created_at,
            (max(ends) - move.created_at).total_seconds() if ends else None,
            max(copying - copy, 0.0) if copying is not None and copy is not None else copying,
            copy, _seconds(boot_event)))
    return rows


def _move_events(session, server_uuids: list[str], since: datetime
                 ) -> dict[str, list[tuple[datetime, InstanceActionEvent]]]:
    """server -> (its move action's start, an event of it), for the move actions since
    `since` (less an hour: a move is created a moment after its action)."""
    found: dict[str, list] = {}
    if not server_uuids:
        return found
    for action_start, uuid, event in session.execute(
            select(InstanceAction.start_time, InstanceAction.instance_uuid, InstanceActionEvent)
            .join(InstanceActionEvent, InstanceActionEvent.action_id == InstanceAction.id)
            .where(InstanceAction.instance_uuid.in_(server_uuids),
                   InstanceAction.action.in_(MOVE_ACTIONS),
                   InstanceAction.start_time >= since - timedelta(hours=1),
                   InstanceActionEvent.event.in_((COPY_EVENT, BOOT_EVENT, *OTHER_EVENTS)))
            .order_by(InstanceAction.start_time, InstanceActionEvent.id)):
        found.setdefault(uuid, []).append((action_start, event))
    return found



def _events_of(events: list[tuple[datetime, InstanceActionEvent]], created_at: datetime
               ) -> dict[str, InstanceActionEvent]:
    """The events of the move action that created the migration at `created_at`: the newest
    move action started before it."""
    starts = [start for start, _ in events if start <= created_at]
    if not starts:
        return {}
    mine = max(starts)
    return {event.event: event for start, event in events if start == mine}


