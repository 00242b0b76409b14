"""Move slots: each host in at most its limit of moves at once, the rest waiting in order."""
import random
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from herder import states
from herder.db import migrations, move_slots, placement
from herder.db.models import Migration, MoveSlot
from herder.db.session import Database
from tests import databases
from tests.unit.conftest import inventory


def host(db, name: str, limit: int | None) -> None:
    placement.upsert_node(db, name, "127.0.1.1",
                          {**inventory(), "max_concurrent_migrations": limit})


def move(db, name: str, status: str = states.MIGRATION_PRE_MIGRATING) -> str:
    migrations.create(db, Migration(uuid=name, instance_uuid=f"server-{name}",
                                    status=status, migration_type="migration"))
    return name


def test_a_host_takes_its_limit_of_moves_and_the_next_waits(db):
    host(db, "a", 2), host(db, "b", 5), host(db, "c", 5)
    assert move_slots.take_or_queue(db, move(db, "m1"), ["a", "b"], default_limit=8)
    assert move_slots.take_or_queue(db, move(db, "m2"), ["a", "c"], default_limit=8)
    assert not move_slots.take_or_queue(db, move(db, "m3"), ["c", "a"], default_limit=8)
    # asked again, it answers from what it wrote
    assert not move_slots.take_or_queue(db, "m3", ["a", "c"], default_limit=8)
    assert move_slots.by_host(db) == {"a": {"held": 2, "waiting": 1},
                                      "b": {"held": 1, "waiting": 0},
                                      "c": {"held": 1, "waiting": 1}}
    assert move_slots.admit_waiting(db, default_limit=8) == []
    move_slots.release(db, "m1")
    assert move_slots.admit_waiting(db, default_limit=8) == ["m3"]
    assert move_slots.take_or_queue(db, "m3", ["a", "c"], default_limit=8)


def test_a_host_that_reported_no_limit_has_the_conductors(db):
    host(db, "a", None), host(db, "b", None)
    assert move_slots.take_or_queue(db, move(db, "m1"), ["a", "b"], default_limit=1)
    assert not move_slots.take_or_queue(db, move(db, "m2"), ["b"], default_limit=1)


def test_a_move_whose_hosts_nobody_waits_for_goes_past_the_queue(db):
    for name in "abcd":
        host(db, name, 1)
    assert move_slots.take_or_queue(db, move(db, "busy"), ["a", "b"], default_limit=8)
    assert not move_slots.take_or_queue(db, move(db, "m1"), ["a", "c"], default_limit=8)
    # d is free and no earlier move waits for it
    assert move_slots.take_or_queue(db, move(db, "m2"), ["d"], default_limit=8)
    # b is busy, and c is promised to m1, which came first
    assert not move_slots.take_or_queue(db, move(db, "m3"), ["b", "c"], default_limit=8)
    move_slots.release(db, "busy")
    assert move_slots.admit_waiting(db, default_limit=8) == ["m1"]
    move_slots.release(db, "m1")
    assert move_slots.admit_waiting(db, default_limit=8) == ["m3"]


def test_a_later_move_does_not_jump_a_host_queue(db):
    host(db, "a", 1), host(db, "b", 1), host(db, "c", 1)
    assert move_slots.take_or_queue(db, move(db, "busy"), ["a"], default_limit=8)
    assert not move_slots.take_or_queue(db, move(db, "first"), ["a", "b"], default_limit=8)
    # b is free, but `first` waits for it too and came earlier
    assert not move_slots.take_or_queue(db, move(db, "second"), ["b", "c"], default_limit=8)
    move_slots.release(db, "busy")
    assert move_slots.admit_waiting(db, default_limit=8) == ["first"]
    move_slots.release(db, "first")
    assert move_slots.admit_waiting(db, default_limit=8) == ["second"]


def test_the_slots_of_moves_that_ended_without_a_release_are_swept(db):
    host(db, "a", 1)
    assert move_slots.take_or_queue(db, move(db, "m1"), ["a"], default_limit=8)
    assert not move_slots.take_or_queue(db, move(db, "m2"), ["a"], default_limit=8)
    migrations.update(db, "m1", states.MIGRATION_PRE_MIGRATING, status=states.MIGRATION_ERROR)
    assert move_slots.release_stale(db) == 1
    assert move_slots.admit_waiting(db, default_limit=8) == ["m2"]


def first_come_first_served(db, limits: dict[str, int]) -> set[str]:
    """What the queue's rule admits, worked out move by move from the whole queue: a waiting
    move goes if each of its hosts has a slot free once every earlier waiting move there has
    its own (the rule admit_waiting applies by reading only the heads of the queues)."""
    with db.transaction() as session:
        rows = session.execute(select(MoveSlot.migration_uuid, MoveSlot.host, MoveSlot.state)
                               .order_by(MoveSlot.id)).all()
    taken = Counter(host for _, host, state in rows if state == move_slots.HELD)
    waiting: dict[str, list[str]] = {}
    for migration_uuid, host, state in rows:
        if state == move_slots.WAITING:
            waiting.setdefault(migration_uuid, []).append(host)
    admitted = set()
    for migration_uuid, hosts in waiting.items():   # in the order they asked
        if all(taken[host] < limits[host] for host in hosts):
            admitted.add(migration_uuid)
        taken.update(hosts)   # admitted, or keeping its place in each host's queue
    return admitted


@pytest.mark.parametrize("seed", range(8))
def test_a_look_at_the_queue_admits_what_first_come_first_served_would(db, seed):
    chance = random.Random(seed)
    limits = {name: chance.randint(1, 3) for name in "abcde"}
    for name, limit in limits.items():
        host(db, name, limit)
    live = []
    for n in range(60):
        name = move(db, f"m{n}")
        move_slots.take_or_queue(db, name, chance.sample(sorted(limits), chance.randint(1, 2)),
                                 default_limit=8)
        live.append(name)
        if chance.random() < 0.4:   # a move ends, and the queue is looked at
            move_slots.release(db, live.pop(chance.randrange(len(live))))
            expected = first_come_first_served(db, limits)
            assert set(move_slots.admit_waiting(db, default_limit=8)) == expected
    assert move_slots.by_host(db)   # the queue was long at the end, not trivially empty


@pytest.mark.skipif(databases.SERVER is None,
                    reason="SQLite has one writer: there a lock row is never waited for "
                           "(HERDER_TEST_DB=postgresql)")
def test_moves_waiting_for_the_queue_hold_one_connection_of_the_pool_between_them(db_url):
    """Many moves of one conductor asking for slots while another conductor holds the queue's
    lock: one of them waits for it on a database connection, the others wait for their turn
    without one, so the rest of the conductor's work still gets connections."""
    conductor_db = Database(db_url, pool_size=2, max_overflow=0)
    other_db = Database(db_url)
    move_slots.ensure_lock_row(conductor_db)
    for name in ("a", "b"):
        host(conductor_db, name, 8)
    moves = [move(conductor_db, f"m{n}") for n in range(5)]
    holding, release = threading.Event(), threading.Event()

    def other_conductor_holds_the_queue():
        with other_db.transaction() as session:
            move_slots._lock(session)
            holding.set()
            release.wait(30)
    other = threading.Thread(target=other_conductor_holds_the_queue)
    other.start()
    took = {}
    askers = [threading.Thread(target=lambda m=m: took.update(
        {m: move_slots.take_or_queue(conductor_db, m, ["a", "b"], default_limit=8)}))
        for m in moves]
    try:
        assert holding.wait(5)
        for asker in askers:
            asker.start()
        time.sleep(0.5)
        assert conductor_db.engine.pool.checkedout() == 1
        with conductor_db.transaction() as session:   # a step of another move goes on
            assert session.scalar(select(Migration.status).where(Migration.uuid == "m0"))
    finally:
        release.set()
        other.join(10)
        for asker in askers:
            asker.join(30)
        conductor_db.dispose()
        other_db.dispose()
    assert took == dict.fromkeys(moves, True)
