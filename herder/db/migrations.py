"""The migration records of server moves: one per move, with the status the workflow has reached.

The workflows create and update them; the API reads them (filtered, paged lists, and a server's
moves in progress). Changes to the database schema are not here: they are in herder/db/alembic.
"""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select

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


def latest_in_progress(db: Database, instance_uuid: str) -> Migration | None:
    """The instance's newest move still in progress, if any (all_in_progress lists them all)."""
    with db.transaction() as session:
        return session.scalars(
            select(Migration).where(Migration.instance_uuid == instance_uuid,
                                    Migration.status.in_(states.MIGRATION_IN_PROGRESS))
            .order_by(Migration.id.desc())).first()


def latest_finished(db: Database, instance_uuid: str) -> Migration | None:
    """The migration a confirm or revert acts on (Nova: get_by_instance_and_status 'finished')."""
    with db.transaction() as session:
        return session.scalars(
            select(Migration).where(Migration.instance_uuid == instance_uuid,
                                    Migration.status == states.MIGRATION_FINISHED)
            .order_by(Migration.id.desc())).first()


def finished_out_of(db: Database, source_host: str) -> list[Migration]:
    """Finished moves out of `source_host`, waiting in VERIFY_RESIZE (since `updated_at`)."""
    with db.transaction() as session:
        return list(session.scalars(
            select(Migration).where(Migration.status == states.MIGRATION_FINISHED,
                                    Migration.source_compute == source_host)))


def latest_for(db: Database, instance_uuid: str) -> Migration | None:
    """The instance's newest migration, whatever its status."""
    with db.transaction() as session:
        return session.scalars(
            select(Migration).where(Migration.instance_uuid == instance_uuid)
            .order_by(Migration.id.desc())).first()


# -- reading them for the API ----------------------------------------------------------------

@dataclass
class MigrationFilter:
    """The filters of GET /os-migrations (None = not filtered)."""
    host: str | None = None            # source or destination
    source_compute: str | None = None  # ignored when `host` is given, as in Nova
    status: str | None = None
    migration_type: str | None = None
    instance_uuid: str | None = None
    hidden: bool | None = None
    user_id: str | None = None
    project_id: str | None = None
    changes_since: datetime | None = None
    changes_before: datetime | None = None


def _changed_at():
    # a record never updated since its creation changed when it was created
    return func.coalesce(Migration.updated_at, Migration.created_at)


def _where(query, f: MigrationFilter):
    if f.host is not None:
        query = query.where(or_(Migration.source_compute == f.host,
                                Migration.dest_compute == f.host))
    elif f.source_compute is not None:
        query = query.where(Migration.source_compute == f.source_compute)
    for column, value in ((Migration.status, f.status),
                          (Migration.migration_type, f.migration_type),
                          (Migration.instance_uuid, f.instance_uuid),
                          (Migration.hidden, f.hidden), (Migration.user_id, f.user_id),
                          (Migration.project_id, f.project_id)):
        if value is not None:
            query = query.where(column == value)
    if f.changes_since is not None:
        query = query.where(_changed_at() >= f.changes_since)
    if f.changes_before is not None:
        query = query.where(_changed_at() <= f.changes_before)
    return query


def list_filtered(db: Database, filters: MigrationFilter, newest_first: bool = False,
                  limit: int | None = None, marker: str | None = None) -> list[Migration]:
    """Visible (not hidden, not deleted) migrations matching `filters`.

    `newest_first` orders by (created_at, id) descending, the order `marker` (a migration uuid)
    pages through; otherwise the order is creation (id). An unknown marker is MarkerNotFound.
    """
    with db.transaction() as session:
        query = _where(select(Migration).where(Migration.deleted.is_(False),
                                               Migration.hidden.is_(False)), filters)
        if newest_first:
            query = query.order_by(Migration.created_at.desc(), Migration.id.desc())
        else:
            query = query.order_by(Migration.id)
        if marker is not None:
            last = session.scalars(select(Migration).where(
                Migration.uuid == marker, Migration.deleted.is_(False))).first()
            if last is None:
                raise exception.MarkerNotFound(marker=marker)
            query = query.where(or_(Migration.created_at < last.created_at,
                                    and_(Migration.created_at == last.created_at,
                                         Migration.id < last.id)))
        if limit is not None:
            query = query.limit(limit)
        return list(session.scalars(query))


def _in_progress(instance_uuid: str):
    return select(Migration).where(Migration.instance_uuid == instance_uuid,
                                   Migration.deleted.is_(False),
                                   Migration.status.in_(states.MIGRATION_IN_PROGRESS))


def all_in_progress(db: Database, instance_uuid: str) -> list[Migration]:
    """Every move of the server still in progress, of any type, oldest first."""
    with db.transaction() as session:
        return list(session.scalars(_in_progress(instance_uuid).order_by(Migration.id)))


def of_instance_by_id(db: Database, instance_uuid: str, migration_id: int) -> Migration | None:
    """The server's migration with that integer id, whatever its status."""
    with db.transaction() as session:
        return session.scalars(select(Migration).where(
            Migration.instance_uuid == instance_uuid, Migration.id == migration_id,
            Migration.deleted.is_(False))).first()
