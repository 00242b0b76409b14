"""Host drain and restore jobs (herder/host_drain.py says what they are): the job rows, their
servers' rows, the lease that lets one conductor at a time drive a job, and the job's
notifications, written in the transaction of each change they report
(herder/drain_notifications.py)."""
from collections import Counter
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from herder import exception, states
from herder.db import services
from herder.db.models import (HostDrain, HostDrainNotification, HostDrainServer, Migration,
                               Service)
from herder.db.session import Database

# a job's kind
DRAIN, RESTORE = "drain", "restore"

# a job's status
RUNNING = "running"          # moves are started within the limits
PAUSED = "paused"            # no new move starts; moves under way are followed to their end
CANCELLING = "cancelling"    # cancelled: waiting servers are dropped, moves under way end
COMPLETED = "completed"
CANCELLED = "cancelled"
UNFINISHED = (RUNNING, PAUSED, CANCELLING)
FINISHED = (COMPLETED, CANCELLED)

# a server's state in a job
WAITING = "waiting"
MOVING = "moving"
MOVED = "moved"
FAILED = "failed"
SKIPPED = "skipped"
SERVER_CANCELLED = "cancelled"
DELETED = "deleted"
SERVER_STATES = (WAITING, MOVING, MOVED, FAILED, SKIPPED, SERVER_CANCELLED, DELETED)
SERVER_RESULTS = (MOVED, FAILED, SKIPPED, SERVER_CANCELLED, DELETED)

# the notifications of a change, built in its transaction from the rows as it left them
# (herder/drain_notifications.py): of a change to the job, given the job and its servers
JobNotice = Callable[[HostDrain, list[HostDrainServer]], HostDrainNotification]
# ... and of one server's result, given the job and that server
ServerNotice = Callable[[HostDrain, HostDrainServer], HostDrainNotification]


def _now() -> datetime:
    return datetime.utcnow()


def count_by_state(servers: list[HostDrainServer]) -> dict[str, int]:
    """How many of the servers are in each state, every state named (0 for none)."""
    counts = Counter(row.state for row in servers)
    return {state: counts[state] for state in SERVER_STATES}


def service_disabled_reason(job: HostDrain) -> str | None:
    """The disabled reason a job gives its host's compute service: a drain disables it, a
    restore enables it again (None)."""
    if job.kind != DRAIN:
        return None
    return job.reason or f"drained by host drain {job.uuid}"


def create(db: Database, job: HostDrain, servers: list[HostDrainServer],
           notice: JobNotice, server_notice: ServerNotice) -> HostDrain:
    """Write the job and its servers, disable the host's compute service for a drain (enable
    it for a restore), and write the job's `notice` and a `server_notice` for each server
    listed with its result already, in one transaction: a job is there with its service
    switched and its notifications, or nothing is. Conflict if the host has an unfinished
    job already."""
    try:
        with db.transaction() as session:
            session.add(job)
            # the job's row first (its servers' rows refer to it), with its created_at
            session.flush()
            session.add_all(servers)
            session.execute(update(Service).where(
                Service.host == job.host, Service.binary == services.COMPUTE_BINARY).values(
                disabled=job.kind == DRAIN, disabled_reason=service_disabled_reason(job),
                updated_at=_now()))
            session.add(notice(job, servers))
            session.add_all(server_notice(job, row) for row in servers
                            if row.state in SERVER_RESULTS)
    except IntegrityError:
        # the unique active_host: another job on this host was written first
        raise exception.Conflict(f"Host {job.host} has an unfinished drain or restore job "
                                 f"already.") from None
    return job


def get(db: Database, uuid: str) -> HostDrain:
    with db.transaction() as session:
        job = session.scalars(select(HostDrain).where(HostDrain.uuid == uuid)).first()
    if job is None:
        raise exception.NotFound(f"Host drain {uuid} could not be found.")
    return job


def unfinished_on(db: Database, host: str) -> HostDrain | None:
    with db.transaction() as session:
        return session.scalars(select(HostDrain).where(HostDrain.active_host == host)).first()


def list_all(db: Database, host: str | None = None,
             limit: int | None = None) -> list[HostDrain]:
    """Jobs newest first, all or those of `host`; the newest `limit` if given."""
    with db.transaction() as session:
        query = select(HostDrain).order_by(HostDrain.id.desc()).limit(limit)
        if host is not None:
            query = query.where(HostDrain.host == host)
        return list(session.scalars(query))


def unfinished(db: Database) -> list[HostDrain]:
    with db.transaction() as session:
        return list(session.scalars(select(HostDrain).where(
            HostDrain.status.in_(UNFINISHED)).order_by(HostDrain.id)))


def servers_of(db: Database, job_uuids: list[str]) -> dict[str, list[HostDrainServer]]:
    """job uuid -> its servers, in the order they were listed."""
    found: dict[str, list[HostDrainServer]] = {uuid: [] for uuid in job_uuids}
    if not job_uuids:
        return found
    with db.transaction() as session:
        for row in session.scalars(select(HostDrainServer).where(
                HostDrainServer.drain_uuid.in_(job_uuids)).order_by(HostDrainServer.id)):
            found[row.drain_uuid].append(row)
    return found


def moving_anywhere(db: Database) -> list[HostDrainServer]:
    """The servers every unfinished job is moving: each holds a place within the limits of
    its source and destination until its job sees its move end."""
    with db.transaction() as session:
        return list(session.scalars(select(HostDrainServer).join(
            HostDrain, HostDrain.uuid == HostDrainServer.drain_uuid).where(
            HostDrain.status.in_(UNFINISHED), HostDrainServer.state == MOVING)))


def set_status(db: Database, uuid: str, expected: tuple[str, ...], status: str,
               notice: JobNotice) -> bool:
    """Compare-and-swap of the job's status, with its `notice`; False if it was not one of
    `expected` (and no notice is written)."""
    with db.transaction() as session:
        won = session.execute(update(HostDrain).where(
            HostDrain.uuid == uuid, HostDrain.status.in_(expected)).values(
            status=status, updated_at=_now())).rowcount == 1
        if won:
            _add_job_notice(session, uuid, notice)
        return won


def finish(db: Database, uuid: str, owner: str, status: str, notice: JobNotice) -> bool:
    """The job is over (COMPLETED or CANCELLED), with its `notice`: its host may get another
    job. Only by the conductor that drives it, which keeps the lease: it still has the job's
    notifications to send (see unsent_notifications)."""
    with db.transaction() as session:
        won = session.execute(update(HostDrain).where(
            HostDrain.uuid == uuid, HostDrain.owner == owner,
            HostDrain.status.in_(UNFINISHED)).values(
            status=status, active_host=None, finished_at=_now(),
            updated_at=_now())).rowcount == 1
        if won:
            _add_job_notice(session, uuid, notice)
        return won


def take_lease(db: Database, job: HostDrain, owner: str, lease_seconds: float,
               at_once: bool = False, statuses: tuple[str, ...] = UNFINISHED) -> bool:
    """Drive the job from now on, if nobody does (no owner, or a lease that ran out; any
    owner with `at_once`: an earlier process of this conductor, which is dead). A
    compare-and-swap on the owner read, so of conductors trying at once one wins. A finished
    job (`statuses` FINISHED) is taken only to send the notifications it has left."""
    condition = [HostDrain.uuid == job.uuid, HostDrain.status.in_(statuses)]
    if job.owner is None:
        condition.append(HostDrain.owner.is_(None))
    else:
        condition.append(HostDrain.owner == job.owner)
        if not at_once:
            condition.append(HostDrain.lease_until < _now())
    with db.transaction() as session:
        return session.execute(update(HostDrain).where(*condition).values(
            owner=owner, lease_until=_now() + timedelta(seconds=lease_seconds))).rowcount == 1


def renew_lease(db: Database, uuid: str, owner: str, lease_seconds: float,
                statuses: tuple[str, ...] = UNFINISHED) -> bool:
    """Keep driving the job; False if another conductor took it (this one lost the database
    for longer than the lease), which must then leave it alone."""
    with db.transaction() as session:
        return session.execute(update(HostDrain).where(
            HostDrain.uuid == uuid, HostDrain.owner == owner,
            HostDrain.status.in_(statuses)).values(
            lease_until=_now() + timedelta(seconds=lease_seconds))).rowcount == 1


def update_server(db: Database, row_id: int, expected_state: str,
                  notice: ServerNotice | None = None, **values) -> bool:
    """Compare-and-swap of one server's row from `expected_state`, with its `notice` if the
    change gives the server its result."""
    with db.transaction() as session:
        return _swap_server(session, row_id, expected_state, notice, **values)


def start_moving(db: Database, row: "HostDrainServer", **values) -> bool:
    """Compare-and-swap of a waiting server's row to moving, only while its job runs: a pause
    or a cancel that committed first wins, even over a look that read the job running."""
    running = select(HostDrain.uuid).where(HostDrain.uuid == row.drain_uuid,
                                           HostDrain.status == RUNNING)
    with db.transaction() as session:
        return session.execute(update(HostDrainServer).where(
            HostDrainServer.id == row.id, HostDrainServer.state == WAITING,
            HostDrainServer.drain_uuid.in_(running)).values(state=MOVING, **values)
            .execution_options(synchronize_session=False)).rowcount == 1


def drop_waiting(db: Database, uuid: str, reason: str, notice: ServerNotice) -> int:
    """The job's servers not yet moving will not be: cancelled, with `reason`, each with its
    `notice`. One compare-and-swap per server, so that each dropped one has its notice and
    one a conductor started meanwhile has none."""
    with db.transaction() as session:
        waiting = session.scalars(select(HostDrainServer.id).where(
            HostDrainServer.drain_uuid == uuid, HostDrainServer.state == WAITING)).all()
        return sum(_swap_server(session, row_id, WAITING, notice, state=SERVER_CANCELLED,
                                reason=reason, finished_at=_now()) for row_id in waiting)


def _swap_server(session, row_id: int, expected_state: str, notice: ServerNotice | None,
                 **values) -> bool:
    won = session.execute(update(HostDrainServer).where(
        HostDrainServer.id == row_id, HostDrainServer.state == expected_state).values(
        **values).execution_options(synchronize_session=False)).rowcount == 1
    if won and notice is not None:
        row = session.scalars(select(HostDrainServer).where(HostDrainServer.id == row_id)
                              .execution_options(populate_existing=True)).one()
        session.add(notice(_job_in(session, row.drain_uuid), row))
    return won


def _add_job_notice(session, uuid: str, notice: JobNotice) -> None:
    servers = list(session.scalars(select(HostDrainServer).where(
        HostDrainServer.drain_uuid == uuid).order_by(HostDrainServer.id)
        .execution_options(populate_existing=True)))
    session.add(notice(_job_in(session, uuid), servers))


def _job_in(session, uuid: str) -> HostDrain:
    """The job as the transaction sees it now (after its own writes)."""
    return session.scalars(select(HostDrain).where(HostDrain.uuid == uuid)
                           .execution_options(populate_existing=True)).one()


# -- the jobs' notifications -----------------------------------------------------------------

def unsent_notifications(db: Database, uuid: str) -> list[HostDrainNotification]:
    """The job's notifications not yet sent, in the order they were written."""
    with db.transaction() as session:
        return list(session.scalars(select(HostDrainNotification).where(
            HostDrainNotification.drain_uuid == uuid, HostDrainNotification.sent_at.is_(None))
            .order_by(HostDrainNotification.id)))


def mark_sent(db: Database, notification_id: int) -> None:
    with db.transaction() as session:
        session.execute(update(HostDrainNotification).where(
            HostDrainNotification.id == notification_id).values(sent_at=_now()))


def finished_with_unsent_notifications(db: Database) -> list[HostDrain]:
    """Finished jobs whose conductor did not send all their notifications (it died, or the
    bus was away): whoever takes their lease sends the rest."""
    unsent = select(HostDrainNotification.drain_uuid).where(
        HostDrainNotification.sent_at.is_(None))
    with db.transaction() as session:
        return list(session.scalars(select(HostDrain).where(
            HostDrain.status.in_(FINISHED), HostDrain.uuid.in_(unsent))
            .order_by(HostDrain.id)))


# -- the moves the jobs make -----------------------------------------------------------------

# a move under way at a host, for the limits: from its record to its end, a confirm or a
# revert included (both work on the hosts); a move waiting in VERIFY_RESIZE does nothing there
_MOVE_AT_WORK = (*states.MIGRATION_ABORTABLE, states.MIGRATION_CONFIRMING,
                 states.MIGRATION_REVERTING)


def moves_at_work(db: Database) -> list[Migration]:
    with db.transaction() as session:
        return list(session.scalars(select(Migration).where(
            Migration.status.in_(_MOVE_AT_WORK))))


def newest_migration_id(db: Database, instance_uuid: str) -> int:
    """The id of the server's newest migration, 0 if it has none."""
    with db.transaction() as session:
        return session.scalar(select(func.max(Migration.id)).where(
            Migration.instance_uuid == instance_uuid)) or 0


def migration_after(db: Database, instance_uuid: str, after_id: int) -> Migration | None:
    """The server's first migration after the one of id `after_id`: the move a job asked
    for, since the server was busy with that request until the workflow recorded it."""
    with db.transaction() as session:
        return session.scalars(select(Migration).where(
            Migration.instance_uuid == instance_uuid, Migration.id > after_id)
            .order_by(Migration.id)).first()
