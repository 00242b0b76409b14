"""Compute-node inventory and allocations, in the manner of Placement.

Every change to a node's allocations bumps that node's generation in the same transaction, and
takes the node's row lock doing so; a claim takes it first, before it checks that it fits. So
two schedulers (or conductors) racing for the last slot on a host cannot both win: the second
waits for the first, then finds the slot taken (AllocationConflict) and tries elsewhere. Moving
allocations between consumers and removing them never needs room: they cannot fail that way.

On SQLite every write transaction is serialized anyway (BEGIN IMMEDIATE); on PostgreSQL and
MariaDB transactions overlap, and the row locks are what serialize them per node.
"""
import math
import uuid as uuidlib
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update

from herder import exception
from herder.db.models import Allocation, ComputeNode
from herder.db.session import Database


@dataclass(frozen=True)
class Resources:
    vcpus: int
    memory_mb: int
    disk_gb: int

    @classmethod
    def of_flavor(cls, flavor: dict) -> "Resources":
        return cls(flavor["vcpus"], flavor["memory_mb"],
                   flavor["root_gb"] + flavor.get("ephemeral_gb", 0))

    def as_dict(self) -> dict:
        return {"vcpus": self.vcpus, "memory_mb": self.memory_mb, "disk_gb": self.disk_gb}


def capacity(node: ComputeNode) -> Resources:
    return Resources(math.floor(node.vcpus * node.cpu_allocation_ratio),
                     math.floor((node.memory_mb - node.reserved_host_memory_mb)
                                * node.ram_allocation_ratio),
                     math.floor(node.local_gb * node.disk_allocation_ratio))


def nodes(db: Database) -> list[ComputeNode]:
    with db.transaction() as session:
        return list(session.scalars(select(ComputeNode).order_by(ComputeNode.id)))


def node_by_host(db: Database, host: str) -> ComputeNode | None:
    with db.transaction() as session:
        return session.scalars(select(ComputeNode).where(ComputeNode.host == host)).first()


def usage(session, node_uuid: str, except_consumer: str | None = None) -> Resources:
    query = select(func.coalesce(func.sum(Allocation.vcpus), 0),
                   func.coalesce(func.sum(Allocation.memory_mb), 0),
                   func.coalesce(func.sum(Allocation.disk_gb), 0)) \
        .where(Allocation.node_uuid == node_uuid)
    if except_consumer is not None:
        query = query.where(Allocation.consumer_uuid != except_consumer)
    row = session.execute(query).one()
    return Resources(int(row[0]), int(row[1]), int(row[2]))


def usage_by_node(db: Database) -> dict[str, Resources]:
    with db.transaction() as session:
        rows = session.execute(select(Allocation.node_uuid, func.sum(Allocation.vcpus),
                                      func.sum(Allocation.memory_mb), func.sum(Allocation.disk_gb))
                               .group_by(Allocation.node_uuid)).all()
    return {r[0]: Resources(int(r[1]), int(r[2]), int(r[3])) for r in rows}


def _bump_generation(session, node: ComputeNode) -> None:
    """Compare-and-swap the generation read with the node: fails if anyone wrote since."""
    result = session.execute(update(ComputeNode).where(ComputeNode.uuid == node.uuid,
                                                       ComputeNode.generation == node.generation)
                             .values(generation=node.generation + 1))
    if result.rowcount != 1:  # cannot happen while every writer locks the node first
        raise exception.AllocationConflict(node=node.hypervisor_hostname,
                                           reason="generation changed, retry")


def _touch_generations(session, node_uuids) -> None:
    """Bump generations without a check: for a change that needs no room, the increment under
    the row lock it takes is all there is to do (claims on these nodes wait for our commit).
    In sorted order, so that two moves over the same two nodes cannot deadlock."""
    for node_uuid in sorted(set(node_uuids)):
        session.execute(update(ComputeNode).where(ComputeNode.uuid == node_uuid)
                        .values(generation=ComputeNode.generation + 1))


def _fits(session, node: ComputeNode, wanted: Resources, consumer_uuid: str) -> str | None:
    """Why `wanted` does not fit on `node` beside what others hold there, or None (the
    consumer's own allocation on the node is being replaced, so it does not count)."""
    used, total = usage(session, node.uuid, except_consumer=consumer_uuid), capacity(node)
    for name in ("vcpus", "memory_mb", "disk_gb"):
        if getattr(used, name) + getattr(wanted, name) > getattr(total, name):
            return (f"{name}: requested {getattr(wanted, name)}, used {getattr(used, name)} "
                    f"of {getattr(total, name)}")
    return None


def claim(db: Database, consumer_uuid: str, node_uuid: str, wanted: Resources) -> None:
    """Allocate `wanted` to the consumer on the node, atomically and only if it fits."""
    with db.transaction() as session:
        # Lock the node row (PostgreSQL, MariaDB; SQLite already serializes writers): claims,
        # moves and removals on one node take turns, so the usage read next is exact and the
        # compare-and-swap cannot lose. Checking optimistically and retrying on a changed
        # generation starves a claim on a node that others keep writing to.
        node = session.scalars(select(ComputeNode).where(ComputeNode.uuid == node_uuid)
                               .with_for_update()).one()
        reason = _fits(session, node, wanted, consumer_uuid)
        if reason:
            raise exception.AllocationConflict(node=node.hypervisor_hostname, reason=reason)
        _bump_generation(session, node)
        session.execute(delete(Allocation).where(Allocation.consumer_uuid == consumer_uuid,
                                                 Allocation.node_uuid == node_uuid))
        session.add(Allocation(consumer_uuid=consumer_uuid, node_uuid=node_uuid, **wanted.as_dict()))


def move(db: Database, from_consumer: str, to_consumer: str) -> None:
    """Hand every allocation of one consumer to another (instance <-> migration), atomically."""
    with db.transaction() as session:
        rows = list(session.scalars(select(Allocation)
                                    .where(Allocation.consumer_uuid == from_consumer)))
        _touch_generations(session, [row.node_uuid for row in rows])
        for row in rows:
            session.execute(delete(Allocation).where(Allocation.consumer_uuid == to_consumer,
                                                     Allocation.node_uuid == row.node_uuid))
            row.consumer_uuid = to_consumer


def give_back(db: Database, migration_uuid: str, instance_uuid: str) -> None:
    """End a move on the source: the allocations the migration holds become the instance's
    again, replacing what the instance holds (its destination claim), atomically. Nothing
    happens once they were given back, so that a step that did this before a crash can run
    again without dropping the instance's allocations. Not remove() then move() in one
    transaction: that would lock the two consumers' nodes in two sorted passes, and two moves
    over the same nodes could then deadlock; here every node is locked in one."""
    with db.transaction() as session:
        rows = list(session.scalars(select(Allocation)
                                    .where(Allocation.consumer_uuid == migration_uuid)))
        if not rows:
            return
        held = list(session.scalars(select(Allocation)
                                    .where(Allocation.consumer_uuid == instance_uuid)))
        _touch_generations(session, {row.node_uuid for row in rows + held})
        for row in held:
            session.delete(row)
        session.flush()
        for row in rows:
            row.consumer_uuid = instance_uuid


def remove(db: Database, consumer_uuid: str, node_uuid: str | None = None) -> None:
    """Drop a consumer's allocations (on one node, or everywhere)."""
    with db.transaction() as session:
        query = select(Allocation).where(Allocation.consumer_uuid == consumer_uuid)
        if node_uuid is not None:
            query = query.where(Allocation.node_uuid == node_uuid)
        rows = list(session.scalars(query))
        _touch_generations(session, [row.node_uuid for row in rows])
        for row in rows:
            session.delete(row)


def of_consumer(db: Database, consumer_uuid: str) -> dict[str, Resources]:
    """node uuid -> resources the consumer holds there."""
    with db.transaction() as session:
        rows = session.scalars(select(Allocation).where(Allocation.consumer_uuid == consumer_uuid))
        return {r.node_uuid: Resources(r.vcpus, r.memory_mb, r.disk_gb) for r in rows}


def all_allocations(db: Database) -> list[Allocation]:
    with db.transaction() as session:
        return list(session.scalars(select(Allocation)))


def upsert_node(db: Database, host: str, host_ip: str, inventory: dict,
                instances_dir_id: str | None = None) -> ComputeNode:
    """Create or refresh the node a compute host reports (inventory keys are column names).
    `instances_dir_id`: the id of its instances directory (None: a host that reports none),
    which says nothing of its resources, so a change of it changes no generation."""
    with db.transaction() as session:
        node = session.scalars(select(ComputeNode).where(ComputeNode.host == host)).first()
        if node is None:
            node = ComputeNode(uuid=str(uuidlib.uuid4()), host=host, hypervisor_hostname=host,
                               host_ip=host_ip, instances_dir_id=instances_dir_id,
                               generation=0, **inventory)
            session.add(node)
        else:
            changed = {k: v for k, v in inventory.items() if getattr(node, k) != v}
            for key, value in changed.items():
                setattr(node, key, value)
            if changed:  # a claim checked against the old inventory must not commit
                _touch_generations(session, [node.uuid])
            node.host_ip = host_ip
            node.instances_dir_id = instances_dir_id
        return node
