"""Per-project limits and usage of instances, cores and ram."""
from sqlalchemy import func, select

from herder.db.models import Instance, Quota
from herder.db.session import Database

RESOURCES = ("instances", "cores", "ram")


def limits(db: Database, conf, project_id: str) -> dict[str, int]:
    defaults = {name: getattr(conf.quota, name) for name in RESOURCES}
    with db.transaction() as session:
        for row in session.scalars(select(Quota).where(Quota.project_id == project_id)):
            defaults[row.resource] = row.hard_limit
    return defaults


def usage(db: Database, project_id: str) -> dict[str, int]:
    """What the project's live servers use, counted from their current flavors."""
    with db.transaction() as session:
        rows = list(session.scalars(select(Instance.flavor).where(
            Instance.project_id == project_id, Instance.deleted.is_(False))))
    return {"instances": len(rows), "cores": sum(f["vcpus"] for f in rows),
            "ram": sum(f["memory_mb"] for f in rows)}


def count_servers(db: Database, project_id: str) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count(Instance.id)).where(
            Instance.project_id == project_id, Instance.deleted.is_(False)))
