"""Host drain and restore jobs (herder/host_drain.py says what they are): the job rows, their
servers' rows, and the lease that lets one conductor at a time drive a job."""
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from herder import exception, states
from herder.db import services
from herder.db.models import HostDrain, HostDrainServer, Migration, Service
from herder.db.session import Database

# a job's status
RUNNING = "running"          # moves are started within the limits
PAUSED = "paused"            # no new move starts; moves under way are followed to their end
CANCELLING = "cancelling"    # cancelled: waiting servers are dropped, moves under way end
COMPLETED = "completed"
CANCELLED = "cancelled"
UNFINISHED = (RUNNING, PAUSED, CANCELLING)

# a server's state in a job
WAITING = "waiting"
MOVING = "moving"
MOVED = "moved"
FAILED = "failed"
SKIPPED = "skipped"
SERVER_CANCELLED = "cancelled"
DELETED = "deleted"
SERVER_STATES = (WAITING, MOVING, MOVED, FAILED, SKIPPED, SERVER_CANCELLED, DELETED)


def _now() -> datetime:
    return datetime.utcnow()


def create(db: Database, job: HostDrain, servers: list[HostDrainServer],
           service_disabled: bool, disabled_reason: str | None) -> HostDrain:
    """Write the job and its servers, and set the host's compute service `service_disabled`
    (with `disabled_reason`), in one transaction: a job is there with its service switched,
    or nothing is. Conflict if the host has an unfinished job already."""
    try:
        with db.transaction() as session:
            session.add(job)
            session.flush()   # the job's row first: its servers' rows refer to it
            session.add_all(servers)
            session.execute(update(Service).where(
                Service.host == job.host, Service.binary == services.COMPUTE_BINARY).values(
                disabled=service_disabled, disabled_reason=disabled_reason, updated_at=_now()))
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


def set_status(db: Database, uuid: str, expected: tuple[str, ...], status: str) -> bool:
    """Compare-and-swap of the job's status; False if it was not one of `expected`."""
    with db.transaction() as session:
        return session.execute(update(HostDrain).where(
            HostDrain.uuid == uuid, HostDrain.status.in_(expected)).values(
            status=status, updated_at=_now())).rowcount == 1


def finish(db: Database, uuid: str, owner: str, status: str) -> bool:
    """The job is over (COMPLETED or CANCELLED): its host may get another job. Only by the
    conductor that drives it."""
    with db.transaction() as session:
        return session.execute(update(HostDrain).where(
            HostDrain.uuid == uuid, HostDrain.owner == owner,
            HostDrain.status.in_(UNFINISHED)).values(
            status=status, active_host=None, finished_at=_now(), updated_at=_now(),
            lease_until=None)).rowcount == 1


def take_lease(db: Database, job: HostDrain, owner: str, lease_seconds: float,
               at_once: bool = False) -> bool:
    """Drive the job from now on, if nobody does (no owner, or a lease that ran out; any
    owner with `at_once`: an earlier process of this conductor, which is dead). A
    compare-and-swap on the owner read, so of conductors trying at once one wins."""
    condition = [HostDrain.uuid == job.uuid, HostDrain.status.in_(UNFINISHED)]
    if job.owner is None:
        condition.append(HostDrain.owner.is_(None))
    else:
        condition.append(HostDrain.owner == job.owner)
        if not at_once:
            condition.append(HostDrain.lease_until < _now())
    with db.transaction() as session:
        return session.execute(update(HostDrain).where(*condition).values(
            owner=owner, lease_until=_now() + timedelta(seconds=lease_seconds))).rowcount == 1


def renew_lease(db: Database, uuid: str, owner: str, lease_seconds: float) -> bool:
    """Keep driving the job; False if another conductor took it (this one lost the database
    for longer than the lease), which must then leave it alone."""
    with db.transaction() as session:
        return session.execute(update(HostDrain).where(
            HostDrain.uuid == uuid, HostDrain.owner == owner,
            HostDrain.status.in_(UNFINISHED)).values(
            lease_until=_now() + timedelta(seconds=lease_seconds))).rowcount == 1


def update_server(db: Database, row_id: int, expected_state: str, **values) -> bool:
    """Compare-and-swap of one server's row from `expected_state`."""
    with db.transaction() as session:
        return session.execute(update(HostDrainServer).where(
            HostDrainServer.id == row_id, HostDrainServer.state == expected_state).values(
            **values)).rowcount == 1


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


def drop_waiting(db: Database, uuid: str, reason: str) -> int:
    """The job's servers not yet moving will not be: cancelled, with `reason`."""
    with db.transaction() as session:
        return session.execute(update(HostDrainServer).where(
            HostDrainServer.drain_uuid == uuid, HostDrainServer.state == WAITING).values(
            state=SERVER_CANCELLED, reason=reason, finished_at=_now())).rowcount


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
