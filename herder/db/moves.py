"""Migration records: one per move, with the status the workflow has reached."""
from datetime import datetime

from sqlalchemy import select

from herder import exception, states
from herder.db.cas import compare_and_swap
from herder.db.models import Migration
from herder.db.session import Database


def create(db: Database, migration: Migration) -> Migration:
    with db.transaction() as session:
        session.add(migration)
    return migration


def get(db: Database, uuid: str) -> Migration:
    with db.transaction() as session:
        migration = session.scalars(select(Migration).where(Migration.uuid == uuid)).first()
    if migration is None:
        raise exception.MigrationNotFound(migration_id=uuid)
    return migration


def update(db: Database, uuid: str, expected_status: str | tuple | None = None,
           **values) -> Migration:
    """Write `values`, if the status is still `expected_status` (when given)."""
    with db.transaction() as session:
        return update_in(session, uuid, expected_status, **values)


def update_in(session, uuid: str, expected_status: str | tuple | None = None,
              **values) -> Migration:
    """`update` inside the caller's transaction."""
    expected = {} if expected_status is None else {"status": expected_status}
    values["updated_at"] = datetime.utcnow()
    written = compare_and_swap(session, Migration, Migration.uuid, uuid, expected, values)
    if written is None:
        current = session.scalars(select(Migration).where(Migration.uuid == uuid)).first()
        if current is None:
            raise exception.MigrationNotFound(migration_id=uuid)
        raise exception.UnexpectedTaskState(instance_uuid=current.instance_uuid,
                                            expected=expected, actual={"status": current.status})
    return written


def in_progress_for(db: Database, instance_uuid: str) -> Migration | None:
    """The instance's open move, if any (newest first)."""
    with db.transaction() as session:
        return session.scalars(
            select(Migration).where(Migration.instance_uuid == instance_uuid,
                                    Migration.status.in_(states.MIGRATION_IN_PROGRESS))
            .order_by(Migration.id.desc())).first()


def finished_for(db: Database, instance_uuid: str) -> Migration | None:
    """The migration a confirm or revert acts on (Nova: get_by_instance_and_status 'finished')."""
    with db.transaction() as session:
        return session.scalars(
            select(Migration).where(Migration.instance_uuid == instance_uuid,
                                    Migration.status == states.MIGRATION_FINISHED)
            .order_by(Migration.id.desc())).first()


def finished_before(db: Database, source_host: str, cutoff: datetime) -> list[Migration]:
    """Finished moves out of `source_host` waiting for confirmation since before `cutoff`."""
    with db.transaction() as session:
        return list(session.scalars(
            select(Migration).where(Migration.status == states.MIGRATION_FINISHED,
                                    Migration.source_compute == source_host,
                                    Migration.updated_at <= cutoff)))


def latest_for(db: Database, instance_uuid: str) -> Migration | None:
    """The instance's newest migration, whatever its status."""
    with db.transaction() as session:
        return session.scalars(
            select(Migration).where(Migration.instance_uuid == instance_uuid)
            .order_by(Migration.id.desc())).first()
