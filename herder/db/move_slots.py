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

Within a process, the threads that change the queue take turns before they open a transaction
(`_queue_turn`), so at most one of them waits for the lock row holding a database connection.
A thousand moves asking for slots at once otherwise each held a connection while they waited
for the row: they drained the conductor's pool, and steps of moves already under way waited
for a connection until the pool's timeout (30 s) failed them and the moves rolled back
(bench/bench_scale.py, 1,000 concurrent migrates over 50 hosts).
"""
import threading
from collections import Counter

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from herder import states
from herder.db.models import ComputeNode, Migration, MoveQueueLock, MoveSlot
from herder.db.session import Database

WAITING = "waiting"
HELD = "held"
_LOCK_NAME = "move-slots"
# the statuses of a move that may hold or wait for slots: from its record to its finish
_STATUSES_WITH_SLOTS = states.MIGRATION_ABORTABLE
# taken before the queue's transaction opens, never inside another transaction (see above)
_queue_turn = threading.Lock()


def _counts(session, hosts: list[str] | None = None) -> tuple[Counter, Counter]:
    """Per host (of `hosts`, or of every host): the slots held, and the moves waiting."""
    held, waiting = Counter(), Counter()
    query = select(MoveSlot.host, MoveSlot.state, func.count(MoveSlot.id)) \
        .group_by(MoveSlot.host, MoveSlot.state)
    if hosts is not None:
        query = query.where(MoveSlot.host.in_(hosts))
    for host, state, count in session.execute(query):
        (held if state == HELD else waiting)[host] = count
    return held, waiting


def _limits(session, hosts, default_limit: int) -> dict[str, int]:
    """Each host's limit: the one it reported, or `default_limit`."""
    reported = dict(session.execute(
        select(ComputeNode.host, ComputeNode.max_concurrent_migrations)
        .where(ComputeNode.host.in_(list(hosts)))).all())
    return {host: reported.get(host) or default_limit for host in hosts}


def _first_waiting(session, host: str, count: int) -> set[str]:
    """The first `count` moves waiting in the host's queue."""
    return set(session.scalars(select(MoveSlot.migration_uuid).where(
        MoveSlot.host == host, MoveSlot.state == WAITING).order_by(MoveSlot.id).limit(count)))


def ensure_lock_row(db: Database) -> None:
    """Add the queue's lock row if it is missing. The migrations add it; a database whose
    schema was made otherwise (a copy of the tables) gets it here when a conductor starts,
    before any move asks for slots. Added while moves asked, the first of two would fail."""
    try:
        with db.transaction() as session:
            if session.get(MoveQueueLock, _LOCK_NAME) is None:
                session.add(MoveQueueLock(name=_LOCK_NAME))
    except IntegrityError:
        pass   # another conductor added it at the same moment


def _lock(session) -> None:
    if session.scalars(select(MoveQueueLock).where(MoveQueueLock.name == _LOCK_NAME)
                       .with_for_update()).one_or_none() is None:
        # a conductor that could not add it at its start (ensure_lock_row)
        session.add(MoveQueueLock(name=_LOCK_NAME))
        session.flush()


def take_or_queue(db: Database, migration_uuid: str, hosts: list[str],
                  default_limit: int) -> bool:
    """Take the move's slot on each of `hosts` (True), or put it in the queue for them
    (False). Asked again, it answers from what it wrote: True once the queue gave the move its
    slots, False while it waits."""
    hosts = sorted(set(hosts))
    with _queue_turn, db.transaction() as session:
        _lock(session)
        mine = session.scalars(select(MoveSlot.state)
                               .where(MoveSlot.migration_uuid == migration_uuid)).all()
        if mine:
            return all(state == HELD for state in mine)
        held, waiting = _counts(session, hosts)
        limits = _limits(session, hosts, default_limit)
        # it comes after every move already waiting for either host
        state = HELD if all(held[host] + waiting[host] < limits[host] for host in hosts) \
            else WAITING
        session.add_all([MoveSlot(migration_uuid=migration_uuid, host=host, state=state)
                         for host in hosts])
        return state == HELD


def admit_waiting(db: Database, default_limit: int) -> list[str]:
    """Give their slots to the waiting moves that can have them now, in the queue's order;
    the migrations admitted.

    A waiting move can have its slots when, on each of its hosts, it is among the first
    (limit - held) moves waiting there: every move before it on a host either has its slot
    now or keeps its place. So a look reads only the heads of the hosts' queues, however
    long the queues are (a thousand moves waiting for ten hosts are common)."""
    with _queue_turn, db.transaction() as session:
        _lock(session)
        held, waiting = _counts(session)
        limits = _limits(session, waiting, default_limit)
        heads = {host: _first_waiting(session, host, limits[host] - held[host])
                 for host in waiting if limits[host] > held[host]}
        candidates = set().union(*heads.values())
        hosts_of: dict[str, list[str]] = {}
        if candidates:
            for migration_uuid, host in session.execute(
                    select(MoveSlot.migration_uuid, MoveSlot.host).where(
                        MoveSlot.migration_uuid.in_(candidates), MoveSlot.state == WAITING)):
                hosts_of.setdefault(migration_uuid, []).append(host)
        admitted = sorted(migration_uuid for migration_uuid, hosts in hosts_of.items()
                          if all(migration_uuid in heads.get(host, ()) for host in hosts))
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
