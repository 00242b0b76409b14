"""Projects' confirm policies (herder/confirm_policy.py): one row per project that has one."""
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from herder.db.models import ProjectConfirmPolicy
from herder.db.session import Database


def get(db: Database, project_id: str) -> ProjectConfirmPolicy | None:
    with db.transaction() as session:
        return session.get(ProjectConfirmPolicy, project_id)


def of_projects(db: Database, project_ids: set[str]) -> dict[str, ProjectConfirmPolicy]:
    """The policies of those of `project_ids` that have one, by project."""
    if not project_ids:
        return {}
    with db.transaction() as session:
        return {row.project_id: row for row in session.scalars(
            select(ProjectConfirmPolicy).where(
                ProjectConfirmPolicy.project_id.in_(sorted(project_ids))))}


def put(db: Database, project_id: str, window_seconds: int | None,
        action: str | None) -> ProjectConfirmPolicy:
    """Set the project's policy, replacing the one it had (None: that setting is not set)."""
    for attempt in range(2):
        try:
            with db.transaction() as session:
                row = session.get(ProjectConfirmPolicy, project_id)
                if row is None:
                    row = ProjectConfirmPolicy(project_id=project_id)
                    session.add(row)
                row.window_seconds, row.action = window_seconds, action
                return row
        except IntegrityError:
            # a concurrent PUT inserted the row first: the second attempt updates it
            if attempt:
                raise
    raise AssertionError("unreachable")


def remove(db: Database, project_id: str) -> bool:
    """Forget the project's policy; False if it had none."""
    with db.transaction() as session:
        return session.execute(delete(ProjectConfirmPolicy).where(
            ProjectConfirmPolicy.project_id == project_id)).rowcount > 0
