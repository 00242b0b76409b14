"""Per-project quota limits, what a project uses, and the lock that makes check-and-create atomic.

A project's limit for a resource is its row in `quotas` if it has one, else the `[quota]`
default. Usage is counted from what exists (Nova's counting quotas), never kept as a running
total that could drift.
"""
import json

from sqlalchemy import Text, cast, delete, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from herder.db.models import Instance, ProjectQuotaLock, Quota, ServerGroup
from herder.db.session import Database

# Every quota the Compute API knows, in the order Nova lists them.
RESOURCES = ("instances", "cores", "ram", "metadata_items", "key_pairs", "server_groups",
             "server_group_members", "injected_files", "injected_file_content_bytes",
             "injected_file_path_bytes", "fixed_ips", "floating_ips", "security_groups",
             "security_group_rules")
# the `[quota]` option holding each default, where its name differs from the resource's
_OPTION = {"injected_file_path_bytes": "injected_file_path_length"}


def defaults(conf) -> dict[str, int]:
    return {name: getattr(conf.quota, _OPTION.get(name, name)) for name in RESOURCES}


def limits(db: Database, conf, project_id: str) -> dict[str, int]:
    with db.transaction() as session:
        return _limits(session, conf, project_id)


def _limits(session: Session, conf, project_id: str) -> dict[str, int]:
    found = defaults(conf)
    for row in session.scalars(select(Quota).where(Quota.project_id == project_id)):
        if row.resource in found:
            found[row.resource] = row.hard_limit
    return found


def usage(db: Database, project_id: str) -> dict[str, int]:
    with db.transaction() as session:
        return _usage(session, project_id)


def _usage(session: Session, project_id: str) -> dict[str, int]:
    """What the project holds now: its live servers (each by `_held`) and server
    groups. herder has no key pairs, floating IPs or security groups, so those are 0; members
    are limited per group, not per project, so a project's member usage is 0 (as in Nova).

    The servers are counted by their flavors, grouped by the database: a create holds the
    project's quota lock while it counts, and reading every server's flavors into Python made
    each create cost more, and the next one wait longer, the more servers the project had
    (at 10,000 servers, 200 to 400 ms against 8 to 28 ms: bench/README.md, "Scale")."""
    flavors = [cast(column, Text) for column in
               (Instance.flavor, Instance.old_flavor, Instance.new_flavor)]
    used = dict.fromkeys(RESOURCES, 0)
    for *texts, servers in session.execute(
            select(*flavors, func.count(Instance.id)).where(
                Instance.project_id == project_id, Instance.deleted.is_(False))
            .group_by(*flavors)):
        held = [json.loads(text) for text in texts if text is not None]
        used["instances"] += servers
        used["cores"] += servers * _held(held, "vcpus")
        used["ram"] += servers * _held(held, "memory_mb")
    used["server_groups"] = session.scalar(select(func.count(ServerGroup.id)).where(
        ServerGroup.project_id == project_id))
    return used


def _held(flavors, resource: str) -> int:
    """What one server holds of `resource`: the most any of its flavors asks. A resize holds
    its new flavor from the request (new_flavor, set with the quota check) and its old one until
    it is confirmed, so neither finishing an upsize nor reverting a downsize can go over quota
    after the check let it in."""
    return max(flavor[resource] for flavor in flavors if flavor)


def locked_usage(session: Session, conf, project_id: str) -> tuple[dict, dict]:
    """(limits, usage) of the project, read under its quota lock, which the caller's
    transaction holds until it ends.

    Why a lock row: counting usage and then inserting is a race under READ COMMITTED
    (PostgreSQL's default, and ours on MariaDB): two creates both count 9 of 10 and both
    insert. Re-counting inside the insert's transaction does not help, since neither sees the
    other's uncommitted row, and a project with no servers yet has no row to lock. So each
    project has one row in `project_quota_locks`, created on first use, and a check takes it
    FOR UPDATE: a second check of the same project waits until the first transaction has
    committed its server, then counts it. Other projects are not held up. (SQLite takes the
    database write lock at BEGIN, so there the transaction alone serializes the checks.)
    """
    lock = select(ProjectQuotaLock).where(ProjectQuotaLock.project_id == project_id)
    session.scalars(lock.with_for_update()).one()  # made by ensure_lock_row beforehand
    return _limits(session, conf, project_id), _usage(session, project_id)


def ensure_lock_row(db: Database, project_id: str) -> None:
    """Create the project's quota lock row if it has none, in a transaction of its own.

    Not inside the transaction that takes the lock: on InnoDB, concurrent first inserts of one
    key inside longer transactions deadlock one another (each waits for the other's insert
    intention lock). Alone, the loser of the race just finds the row there."""
    with db.transaction() as session:
        if session.scalars(select(ProjectQuotaLock.project_id).where(
                ProjectQuotaLock.project_id == project_id)).first() is not None:
            return
    for _ in range(5):
        try:
            with db.transaction() as session:
                session.add(ProjectQuotaLock(project_id=project_id))
            return
        except IntegrityError:
            return  # a concurrent first use made it
        except OperationalError:  # InnoDB chose this insert as a deadlock victim: again
            continue


def set_limits(session: Session, project_id: str, values: dict[str, int]) -> None:
    """Give the project its own limits for these resources (the others keep theirs). Called
    under the project's quota lock (see quota.set_limits), so no concurrent update inserts the
    same row."""
    rows = {row.resource: row for row in session.scalars(
        select(Quota).where(Quota.project_id == project_id, Quota.resource.in_(list(values))))}
    for resource, limit in values.items():
        if resource in rows:
            rows[resource].hard_limit = limit
        else:
            session.add(Quota(project_id=project_id, resource=resource, hard_limit=limit))


def reset(db: Database, project_id: str) -> None:
    """Back to the configured defaults: forget the project's own limits."""
    with db.transaction() as session:
        session.execute(delete(Quota).where(Quota.project_id == project_id))


def count_servers(db: Database, project_id: str) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count(Instance.id)).where(
            Instance.project_id == project_id, Instance.deleted.is_(False)))
