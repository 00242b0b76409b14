"""Aborts of moves: asked for on the migration record, honoured by the move's workflow.

The api marks the migration (`abort_requested_at`) with a compare-and-swap that also requires
the move to be abortable, and the workflow writes the end of the destination's step (status
`finished`) with a compare-and-swap that requires no abort: of an abort and a finishing move,
exactly one wins, so an accepted abort always rolls the move back and a move that reached
VERIFY_RESIZE cannot be aborted any more.
"""
from datetime import datetime

from sqlalchemy import select

from herder import exception, states
from herder.db.cas import compare_and_swap
from herder.db.models import Migration
from herder.db.session import Database


def request(db: Database, migration_uuid: str) -> Migration | None:
    """Ask for the move to be aborted: the record as written, or None if the move is not
    abortable any more or its abort was asked for already (the caller reads why)."""
    with db.transaction() as session:
        return compare_and_swap(
            session, Migration, Migration.uuid, migration_uuid,
            {"status": states.MIGRATION_ABORTABLE, "abort_requested_at": None},
            {"abort_requested_at": datetime.utcnow(), "updated_at": datetime.utcnow()})


def requested(db: Database, migration_uuid: str) -> bool:
    """Whether an abort of the move was asked for."""
    # asked between every two steps of a move: on the table, for the reason journal.py gives
    migrations = Migration.__table__
    with db.transaction() as session:
        return session.scalar(select(migrations.c.abort_requested_at).where(
            migrations.c.uuid == migration_uuid)) is not None


def finish_unless_aborted(db: Database, migration_uuid: str) -> Migration:
    """The move's status from `post-migrating` to `finished`, unless an abort was asked for
    (MoveAborted). In the caller's transaction when inside Database.one_transaction."""
    with db.transaction() as session:
        written = compare_and_swap(
            session, Migration, Migration.uuid, migration_uuid,
            {"status": states.MIGRATION_POST_MIGRATING, "abort_requested_at": None},
            {"status": states.MIGRATION_FINISHED, "updated_at": datetime.utcnow()})
        if written is not None:
            return written
        current = session.scalars(select(Migration).where(
            Migration.uuid == migration_uuid)).first()
    if current is None:
        raise exception.MigrationNotFound(migration_id=migration_uuid)
    if current.abort_requested_at is not None:
        raise exception.MoveAborted()
    raise exception.UnexpectedTaskState(instance_uuid=current.instance_uuid,
                                        expected={"status": states.MIGRATION_POST_MIGRATING},
                                        actual={"status": current.status})
