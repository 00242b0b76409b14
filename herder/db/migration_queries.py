"""Reading migration records for the API: filtered, paged lists and a server's open moves."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select

from herder import exception, states
from herder.db.models import Migration
from herder.db.session import Database


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


def in_progress_of(db: Database, instance_uuid: str) -> list[Migration]:
    """Every move of the server still in progress, of any type, oldest first."""
    with db.transaction() as session:
        return list(session.scalars(_in_progress(instance_uuid).order_by(Migration.id)))


def of_instance_by_id(db: Database, instance_uuid: str, migration_id: int) -> Migration | None:
    """The server's migration with that integer id, whatever its status."""
    with db.transaction() as session:
        return session.scalars(select(Migration).where(
            Migration.instance_uuid == instance_uuid, Migration.id == migration_id,
            Migration.deleted.is_(False))).first()
