"""Move slots: how many moves a host takes part in at once, across every conductor.

A host takes part in at most `max_concurrent_migrations` moves at once (its own `[compute]`
option, which it reports with its inventory), as their source or as their destination. A move
asks for a slot on both of its hosts once its destination is chosen, and holds them from the
destination's prep to the end of its finish, or until it is rolled back. It takes both at once
or none: a move that held one host's slot while it waited for the other's could wait forever
for a move that waits for it in turn.

A move that cannot have both waits in the queue, in the order it asked (the rows' ids): a
waiting move keeps its place on each of its hosts, so a later move gets a host's free slot only
if every move before it that needs that host can have one too. Nothing waits forever: a waiting
move needs only slots that earlier moves will give back.

Every change of the queue reads it and writes it under one lock row (MoveQueueLock), so that
two conductors never both give a host its last free slot. Giving slots back needs no lock: a
reader that still counts them only waits a little longer.
"""
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Select, delete, func, select, update

from herder import states
from herder.db.models import ComputeNode, Migration, MoveQueueLock, MoveSlot
from herder.db.session import Database

WAITING = "waiting"
HELD = "held"
_LOCK_NAME = "move-slots"
# the statuses of a move that may hold or wait for slots: from its record to its finish
_STATUSES_WITH_SLOTS = states.MIGRATION_ABORTABLE


@dataclass
class _Queue:
    """The slots held per host, the moves waiting in order, and each host's limit."""
    default_limit: int
    held: Counter = field(default_factory=Counter)
    waiting: dict[str, list[str]] = field(default_factory=dict)   # migration -> its hosts
    limits: dict[str, int] = field(default_factory=dict)

    @classmethod
    def read(cls, session, default_limit: int, only: list[str] | None = None) -> "_Queue":
        """The whole queue, or with `only` what concerns those hosts (a move asking for them
        needs no more)."""
        queue = cls(default_limit)
        of_hosts = [] if only is None else [MoveSlot.host.in_(only)]
        queue.held.update(dict(session.execute(
            select(MoveSlot.host, func.count(MoveSlot.id))
            .where(MoveSlot.state == HELD, *of_hosts).group_by(MoveSlot.host)).all()))
        for migration_uuid, host in session.execute(
                select(MoveSlot.migration_uuid, MoveSlot.host)
                .where(MoveSlot.state == WAITING, *of_hosts).order_by(MoveSlot.id)):
            queue.waiting.setdefault(migration_uuid, []).append(host)
        hosts = {*queue.held, *(only or ()), *(h for hs in queue.waiting.values() for h in hs)}
        queue.limits = {host: limit for host, limit in session.execute(
            select(ComputeNode.host, ComputeNode.max_concurrent_migrations)
            .where(ComputeNode.host.in_(hosts))) if limit}
        return queue

    def limit(self, host: str) -> int:
        return self.limits.get(host, self.default_limit)

    def has_room(self, hosts: list[str], ahead: Counter) -> bool:
        """Whether each of `hosts` has a slot free once the moves `ahead` of these have theirs."""
        return all(self.held[host] + ahead[host] < self.limit(host) for host in hosts)

    def admit(self) -> list[str]:
        """The waiting moves that can have their slots now, first come first served."""
        admitted, ahead = [], Counter()
        for migration_uuid, hosts in self.waiting.items():
            if self.has_room(hosts, ahead):
                admitted.append(migration_uuid)
                self.held.update(hosts)
            else:
                ahead.update(hosts)   # its place in the queue of each of its hosts
        return admitted


def _lock(session) -> None:
    if session.scalars(select(MoveQueueLock).where(MoveQueueLock.name == _LOCK_NAME)
                       .with_for_update()).one_or_none() is None:
        # a database whose schema was not made by the migrations (they add the row)
        session.add(MoveQueueLock(name=_LOCK_NAME))
        session.flush()


def take_or_queue(db: Database, migration_uuid: str, hosts: list[str],
                  default_limit: int) -> bool:
    """Take the move's slot on each of `hosts` (True), or put it in the queue for them
    (False). Asked again, it answers from what it wrote: True once the queue gave the move its
    slots, False while it waits."""
    hosts = sorted(set(hosts))
    with db.transaction() as session:
        _lock(session)
        mine = session.scalars(select(MoveSlot.state)
                               .where(MoveSlot.migration_uuid == migration_uuid)).all()
        if mine:
            return all(state == HELD for state in mine)
        queue = _Queue.read(session, default_limit, only=hosts)
        # it comes after every move already waiting
        ahead = Counter(host for waiting in queue.waiting.values() for host in waiting)
        state = HELD if queue.has_room(hosts, ahead) else WAITING
        session.add_all([MoveSlot(migration_uuid=migration_uuid, host=host, state=state)
                         for host in hosts])
        return state == HELD


def admit_waiting(db: Database, default_limit: int) -> list[str]:
    """Give their slots to the waiting moves that can have them now, in the queue's order;
    the migrations admitted."""
    with db.transaction() as session:
        _lock(session)
        admitted = _Queue.read(session, default_limit).admit()
        if admitted:
            session.execute(update(MoveSlot).where(MoveSlot.migration_uuid.in_(admitted))
                            .values(state=HELD))
        return admitted


def release(db: Database, migration_uuid: str) -> None:
    """The move is over on its hosts (finished or rolled back): its slots, or its place in
    the queue, go."""
    with db.transaction() as session:
        session.execute(delete(MoveSlot).where(MoveSlot.migration_uuid == migration_uuid))


def release_stale(db: Database) -> int:
    """Give back the slots of moves that are past their finish or gone (a release that a
    crash or an outage lost); how many rows went."""
    live = select(Migration.uuid).where(Migration.status.in_(_STATUSES_WITH_SLOTS))
    with db.transaction() as session:
        return session.execute(delete(MoveSlot).where(MoveSlot.migration_uuid.not_in(live))
                               .execution_options(synchronize_session=False)).rowcount


def still_waiting() -> Select:
    """A query of the moves that wait in the queue and that nobody asked to abort (an
    aborted one is taken up again at once, to be rolled back)."""
    aborted = select(Migration.uuid).where(Migration.abort_requested_at.is_not(None))
    return select(MoveSlot.migration_uuid).where(MoveSlot.state == WAITING,
                                                 MoveSlot.migration_uuid.not_in(aborted))


def by_host(db: Database) -> dict[str, dict[str, int]]:
    """Per host, the moves holding a slot on it and the moves waiting for one."""
    found: dict[str, dict[str, int]] = {}
    with db.transaction() as session:
        for host, state, count in session.execute(
                select(MoveSlot.host, MoveSlot.state, func.count(MoveSlot.id))
                .group_by(MoveSlot.host, MoveSlot.state)):
            found.setdefault(host, {HELD: 0, WAITING: 0})[state] = count
    return found
