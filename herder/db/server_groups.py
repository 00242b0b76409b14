"""Server groups: the groups themselves, their members, their quotas, and where the members are.

A server joins at most one group, when it is created, and leaves it when it is deleted. The
scheduler and a move's destination judge a host by `placement_view`, which reads the members'
hosts fresh from the database each time.
"""
import uuid as uuidlib
from collections import Counter

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from herder import exception, states
from herder.db import quotas
from herder.db.models import (Allocation, ComputeNode, Instance, Migration, Quota, ServerGroup,
                              ServerGroupMember)
from herder.db.session import Database

GROUPS_OVER_QUOTA = "Quota exceeded, too many server groups."
MEMBERS_OVER_QUOTA = "Quota exceeded, too many servers in group"


def _limit(session, conf, project_id: str, resource: str) -> int:
    """The project's limit on `resource` (-1: none): its own quota row, else the default."""
    row = session.scalars(select(Quota).where(Quota.project_id == project_id,
                                              Quota.resource == resource)).first()
    return row.hard_limit if row is not None else getattr(conf.quota, resource)


def _over(count: int, limit: int) -> bool:
    return limit >= 0 and count > limit


def create(db: Database, conf, *, name: str, project_id: str, user_id: str, policy: str,
           rules: dict) -> ServerGroup:
    """A new group, or QuotaExceeded when the project already has its limit of groups."""
    group = ServerGroup(uuid=str(uuidlib.uuid4()), name=name, project_id=project_id,
                        user_id=user_id, policy=policy, rules=rules)
    quotas.ensure_lock_row(db, project_id)
    with db.transaction() as session:
        # counted under the project's quota lock: two creates racing for the last slot take
        # turns, and the second counts the first's group
        limits, used = quotas.locked_usage(session, conf, project_id)
        if _over(used["server_groups"] + 1, limits["server_groups"]):
            raise exception.QuotaExceeded(GROUPS_OVER_QUOTA)
        session.add(group)
    return group


def get(db: Database, uuid: str, project_id: str | None = None) -> ServerGroup:
    """The group, or InstanceGroupNotFound; `project_id` hides other projects' groups."""
    with db.transaction() as session:
        query = select(ServerGroup).where(ServerGroup.uuid == uuid)
        if project_id is not None:
            query = query.where(ServerGroup.project_id == project_id)
        group = session.scalars(query).first()
    if group is None:
        raise exception.InstanceGroupNotFound(group_uuid=uuid)
    return group


def list_all(db: Database, project_id: str | None) -> list[ServerGroup]:
    """One project's groups (every project's for None), oldest first."""
    with db.transaction() as session:
        query = select(ServerGroup).order_by(ServerGroup.id)
        if project_id is not None:
            query = query.where(ServerGroup.project_id == project_id)
        return list(session.scalars(query))


def delete_group(db: Database, uuid: str, project_id: str | None = None) -> None:
    """Remove the group; its members stay as servers, free of its policy."""
    with db.transaction() as session:
        query = select(ServerGroup).where(ServerGroup.uuid == uuid)
        if project_id is not None:
            query = query.where(ServerGroup.project_id == project_id)
        if session.scalars(query).first() is None:
            raise exception.InstanceGroupNotFound(group_uuid=uuid)
        session.execute(delete(ServerGroupMember).where(ServerGroupMember.group_uuid == uuid))
        session.execute(delete(ServerGroup).where(ServerGroup.uuid == uuid))


def members(db: Database, group_uuids: list[str]) -> dict[str, list[str]]:
    """Each group's member server uuids, in the order they joined."""
    found: dict[str, list[str]] = {uuid: [] for uuid in group_uuids}
    if not group_uuids:
        return found
    with db.transaction() as session:
        rows = session.execute(select(ServerGroupMember.group_uuid,
                                      ServerGroupMember.instance_uuid)
                               .where(ServerGroupMember.group_uuid.in_(group_uuids))
                               .order_by(ServerGroupMember.id)).all()
    for group_uuid, instance_uuid in rows:
        found[group_uuid].append(instance_uuid)
    return found


def groups_of(db: Database, instance_uuid: str) -> list[str]:
    """The uuids of the groups the server belongs to (one at most)."""
    with db.transaction() as session:
        return list(session.scalars(select(ServerGroupMember.group_uuid)
                                    .where(ServerGroupMember.instance_uuid == instance_uuid)))


def add_member(session: Session, conf, group_uuid: str, instance_uuid: str) -> None:
    """Make the server a member, in the caller's transaction (the one that creates the
    server), or raise QuotaExceeded when the group is full."""
    # the group's row lock makes concurrent joins of one group take turns (PostgreSQL,
    # MariaDB); SQLite serializes every write transaction anyway
    group = session.scalars(select(ServerGroup).where(ServerGroup.uuid == group_uuid)
                            .with_for_update()).first()
    if group is None:
        raise exception.InstanceGroupNotFound(group_uuid=group_uuid)
    count = session.scalar(select(func.count(ServerGroupMember.id))
                           .where(ServerGroupMember.group_uuid == group_uuid))
    if _over(count + 1, _limit(session, conf, group.project_id, "server_group_members")):
        raise exception.QuotaExceeded(MEMBERS_OVER_QUOTA)
    session.add(ServerGroupMember(group_uuid=group_uuid, instance_uuid=instance_uuid))


def remove_member(db: Database, instance_uuid: str) -> None:
    """The server leaves its group (a deleted server; idempotent)."""
    with db.transaction() as session:
        session.execute(delete(ServerGroupMember)
                        .where(ServerGroupMember.instance_uuid == instance_uuid))


def placement_view(db: Database, conf, instance_uuid: str) -> dict | None:
    """The server's group as the scheduler and the move re-check see it (group_policy's
    placement view), or None when the server is in no group.

    A member counts on every host that holds it or may yet: its current host, the nodes where
    it or its open move hold an allocation (a claim made by the scheduler before the server's
    host is written), and both ends of its open move.
    """
    with db.transaction() as session:
        row = session.execute(
            select(ServerGroup).join(ServerGroupMember,
                                     ServerGroupMember.group_uuid == ServerGroup.uuid)
            .where(ServerGroupMember.instance_uuid == instance_uuid)).first()
        if row is None:
            return None
        group = row[0]
        others = list(session.scalars(
            select(ServerGroupMember.instance_uuid)
            .where(ServerGroupMember.group_uuid == group.uuid,
                   ServerGroupMember.instance_uuid != instance_uuid)))
        hosts: dict[str, set[str]] = {member: set() for member in others}
        if others:
            for member, host in session.execute(
                    select(Instance.uuid, Instance.host)
                    .where(Instance.uuid.in_(others), Instance.deleted.is_(False),
                           Instance.host.is_not(None))):
                hosts[member].add(host)
            consumers = dict.fromkeys(others)
            for migration in session.scalars(
                    select(Migration).where(Migration.instance_uuid.in_(others),
                                            Migration.status.in_(states.MIGRATION_IN_PROGRESS))):
                consumers[migration.uuid] = migration.instance_uuid
                hosts[migration.instance_uuid].update(
                    h for h in (migration.source_compute, migration.dest_compute) if h)
            for consumer, host in session.execute(
                    select(Allocation.consumer_uuid, ComputeNode.host)
                    .join(ComputeNode, ComputeNode.uuid == Allocation.node_uuid)
                    .where(Allocation.consumer_uuid.in_(list(consumers)))):
                hosts[consumers[consumer] or consumer].add(host)
    by_host = Counter(host for member_hosts in hosts.values() for host in member_hosts)
    max_per_host = (group.rules or {}).get("max_server_per_host") \
        or conf.filter_scheduler.max_server_per_host
    return {"uuid": group.uuid, "policy": group.policy, "max_server_per_host": int(max_per_host),
            "members_by_host": dict(by_host)}
