"""Placement: capacity, claims, generations, moving allocations between consumers."""
import threading
import uuid

import pytest
import sqlalchemy.exc
from sqlalchemy import text

from herder import exception
from herder.db import placement
from herder.db.placement import Resources
from herder.db.session import Database


def new_uuid() -> str:
    return str(uuid.uuid4())


def generation(db, node) -> int:
    return next(n.generation for n in placement.nodes(db) if n.uuid == node.uuid)


def usage(db, node) -> Resources:
    return placement.usage_by_node(db).get(node.uuid, Resources(0, 0, 0))


# -- capacity ------------------------------------------------------------------------------------

def test_capacity_applies_allocation_ratios_and_reserved_memory(hosts):
    node = hosts.add("compute1", vcpus=4, memory_mb=2048, local_gb=100, cpu_ratio=4.0,
                     ram_ratio=1.5, disk_ratio=0.9, reserved_mb=512)
    # (2048 - 512) * 1.5 = 2304: the reserve is taken off before the ratio applies
    assert placement.capacity(node) == Resources(16, 2304, 90)


def test_capacity_rounds_fractional_results_down(hosts):
    node = hosts.add("compute1", vcpus=3, memory_mb=1001, local_gb=10, cpu_ratio=1.5,
                     ram_ratio=1.0, disk_ratio=0.25)
    assert placement.capacity(node) == Resources(4, 1001, 2)


def test_claim_counts_against_capacity_with_ratios(db, hosts):
    node = hosts.add("compute1", vcpus=2, cpu_ratio=4.0)
    placement.claim(db, new_uuid(), node.uuid, Resources(8, 0, 0))
    with pytest.raises(exception.AllocationConflict):
        placement.claim(db, new_uuid(), node.uuid, Resources(1, 0, 0))


def test_reserved_host_memory_is_not_available_to_claims(db, hosts):
    node = hosts.add("compute1", memory_mb=4096, reserved_mb=512)
    with pytest.raises(exception.AllocationConflict) as caught:
        placement.claim(db, new_uuid(), node.uuid, Resources(0, 3585, 0))
    assert str(caught.value) == ("Allocation on compute1 does not fit: memory_mb: requested "
                                 "3585, used 0 of 3584")
    placement.claim(db, new_uuid(), node.uuid, Resources(0, 3584, 0))


# -- claims --------------------------------------------------------------------------------------

def test_claim_that_fits_is_recorded_for_the_consumer(db, hosts):
    node = hosts.add("compute1")
    consumer = new_uuid()
    placement.claim(db, consumer, node.uuid, Resources(2, 2048, 20))
    assert placement.of_consumer(db, consumer) == {node.uuid: Resources(2, 2048, 20)}
    assert usage(db, node) == Resources(2, 2048, 20)


def test_claim_beside_existing_allocations_fits_up_to_exact_capacity(db, hosts):
    node = hosts.add("compute1", vcpus=4, memory_mb=4096, local_gb=40)
    placement.claim(db, new_uuid(), node.uuid, Resources(3, 3072, 30))
    placement.claim(db, new_uuid(), node.uuid, Resources(1, 1024, 10))
    assert usage(db, node) == Resources(4, 4096, 40)


@pytest.mark.parametrize("wanted, reason", [
    (Resources(2, 0, 0), "vcpus: requested 2, used 3 of 4"),
    (Resources(0, 2048, 0), "memory_mb: requested 2048, used 3072 of 4096"),
    (Resources(0, 0, 11), "disk_gb: requested 11, used 30 of 40"),
])
def test_claim_that_does_not_fit_raises_allocation_conflict_and_writes_nothing(
        db, hosts, wanted, reason):
    node = hosts.add("compute1", vcpus=4, memory_mb=4096, local_gb=40)
    placement.claim(db, new_uuid(), node.uuid, Resources(3, 3072, 30))
    before = generation(db, node)
    consumer = new_uuid()
    with pytest.raises(exception.AllocationConflict) as caught:
        placement.claim(db, consumer, node.uuid, wanted)
    assert str(caught.value) == f"Allocation on compute1 does not fit: {reason}"
    assert placement.of_consumer(db, consumer) == {}
    assert usage(db, node) == Resources(3, 3072, 30)
    assert generation(db, node) == before


def test_claim_again_replaces_the_consumers_allocation_on_that_node(db, hosts):
    node = hosts.add("compute1")
    consumer = new_uuid()
    placement.claim(db, consumer, node.uuid, Resources(2, 2048, 20))
    placement.claim(db, consumer, node.uuid, Resources(1, 512, 5))
    assert placement.of_consumer(db, consumer) == {node.uuid: Resources(1, 512, 5)}
    assert usage(db, node) == Resources(1, 512, 5)


def test_claim_again_by_the_same_consumer_does_not_count_the_allocation_it_replaces(db, hosts):
    node = hosts.add("compute1", vcpus=4, memory_mb=4096, local_gb=40)
    consumer = new_uuid()
    placement.claim(db, consumer, node.uuid, Resources(3, 3072, 30))
    placement.claim(db, consumer, node.uuid, Resources(3, 3072, 30))  # a retried claim
    assert placement.of_consumer(db, consumer) == {node.uuid: Resources(3, 3072, 30)}


# -- generations ---------------------------------------------------------------------------------

def test_generation_increments_on_every_change_of_a_nodes_allocations(db, hosts):
    node = hosts.add("compute1")
    instance, migration = new_uuid(), new_uuid()
    seen = [generation(db, node)]
    placement.claim(db, instance, node.uuid, Resources(1, 512, 1))
    seen.append(generation(db, node))
    placement.claim(db, instance, node.uuid, Resources(2, 512, 1))
    seen.append(generation(db, node))
    placement.move(db, instance, migration)
    seen.append(generation(db, node))
    placement.move(db, migration, instance)
    seen.append(generation(db, node))
    placement.remove(db, instance)
    seen.append(generation(db, node))
    assert seen == [0, 1, 2, 3, 4, 5]


def test_changes_on_one_node_leave_other_nodes_generation_alone(db, hosts):
    node1, node2 = hosts.add("compute1"), hosts.add("compute2")
    consumer = new_uuid()
    placement.claim(db, consumer, node1.uuid, Resources(1, 512, 1))
    placement.remove(db, consumer, node1.uuid)
    assert (generation(db, node1), generation(db, node2)) == (2, 0)


# -- moves between consumers ---------------------------------------------------------------------

def test_move_hands_the_instance_allocation_to_the_migration_and_back(db, hosts):
    node = hosts.add("compute1")
    instance, migration = new_uuid(), new_uuid()
    placement.claim(db, instance, node.uuid, Resources(2, 2048, 20))

    placement.move(db, instance, migration)
    assert placement.of_consumer(db, instance) == {}
    assert placement.of_consumer(db, migration) == {node.uuid: Resources(2, 2048, 20)}
    assert usage(db, node) == Resources(2, 2048, 20)

    placement.move(db, migration, instance)
    assert placement.of_consumer(db, migration) == {}
    assert placement.of_consumer(db, instance) == {node.uuid: Resources(2, 2048, 20)}
    assert usage(db, node) == Resources(2, 2048, 20)


def test_move_carries_allocations_on_every_node(db, hosts):
    node1, node2 = hosts.add("compute1"), hosts.add("compute2")
    instance, migration = new_uuid(), new_uuid()
    placement.claim(db, instance, node1.uuid, Resources(1, 512, 1))
    placement.claim(db, instance, node2.uuid, Resources(2, 1024, 2))
    placement.move(db, instance, migration)
    assert placement.of_consumer(db, migration) == {node1.uuid: Resources(1, 512, 1),
                                                    node2.uuid: Resources(2, 1024, 2)}
    assert placement.of_consumer(db, instance) == {}


def test_move_back_on_a_same_host_resize_replaces_the_new_flavors_allocation(db, hosts):
    node = hosts.add("compute1")
    instance, migration = new_uuid(), new_uuid()
    placement.claim(db, migration, node.uuid, Resources(1, 1024, 10))   # old flavor, source
    placement.claim(db, instance, node.uuid, Resources(2, 2048, 20))    # new flavor, same host
    assert usage(db, node) == Resources(3, 3072, 30)
    placement.move(db, migration, instance)                             # revert
    assert placement.of_consumer(db, instance) == {node.uuid: Resources(1, 1024, 10)}
    assert placement.of_consumer(db, migration) == {}
    assert usage(db, node) == Resources(1, 1024, 10)


def test_move_of_a_consumer_without_allocations_changes_nothing(db, hosts):
    node = hosts.add("compute1")
    placement.move(db, new_uuid(), new_uuid())
    assert generation(db, node) == 0
    assert placement.all_allocations(db) == []


REFUSE_UPDATE = {  # a trigger that fails any update of one node, in each database's dialect
    "sqlite": ["CREATE TRIGGER refuse_generation BEFORE UPDATE OF generation ON compute_nodes "
               "WHEN OLD.uuid = '{node}' BEGIN SELECT RAISE(ABORT, 'refused'); END"],
    "postgresql": ["CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'refused'; END $$",
                   "CREATE TRIGGER refuse_generation BEFORE UPDATE OF generation ON compute_nodes "
                   "FOR EACH ROW WHEN (OLD.uuid = '{node}') EXECUTE FUNCTION refuse()"],
    "mysql": ["CREATE TRIGGER refuse_generation BEFORE UPDATE ON compute_nodes FOR EACH ROW "
              "BEGIN IF OLD.uuid = '{node}' THEN "
              "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'; END IF; END"],
}


def test_move_is_all_or_nothing_when_one_node_cannot_be_updated(db, hosts):
    node1, node2 = hosts.add("compute1"), hosts.add("compute2")
    instance, migration = new_uuid(), new_uuid()
    placement.claim(db, instance, node1.uuid, Resources(1, 512, 1))
    placement.claim(db, instance, node2.uuid, Resources(2, 1024, 2))
    # the database refuses the second node's generation bump, mid-move
    with db.transaction() as session:
        for statement in REFUSE_UPDATE[db.engine.dialect.name]:
            session.execute(text(statement.format(node=node2.uuid)))
    with pytest.raises(sqlalchemy.exc.DBAPIError):
        placement.move(db, instance, migration)
    assert placement.of_consumer(db, migration) == {}
    assert placement.of_consumer(db, instance) == {node1.uuid: Resources(1, 512, 1),
                                                   node2.uuid: Resources(2, 1024, 2)}
    assert (generation(db, node1), generation(db, node2)) == (1, 1)


# -- removal -------------------------------------------------------------------------------------

def test_remove_on_one_node_keeps_the_consumers_other_allocations(db, hosts):
    node1, node2 = hosts.add("compute1"), hosts.add("compute2")
    consumer = new_uuid()
    placement.claim(db, consumer, node1.uuid, Resources(1, 512, 1))
    placement.claim(db, consumer, node2.uuid, Resources(2, 1024, 2))
    placement.remove(db, consumer, node1.uuid)
    assert placement.of_consumer(db, consumer) == {node2.uuid: Resources(2, 1024, 2)}
    assert (generation(db, node1), generation(db, node2)) == (2, 1)


def test_remove_everywhere_drops_every_allocation_of_the_consumer_only(db, hosts):
    node1, node2 = hosts.add("compute1"), hosts.add("compute2")
    consumer, neighbour = new_uuid(), new_uuid()
    placement.claim(db, consumer, node1.uuid, Resources(1, 512, 1))
    placement.claim(db, consumer, node2.uuid, Resources(2, 1024, 2))
    placement.claim(db, neighbour, node1.uuid, Resources(4, 4096, 4))
    placement.remove(db, consumer)
    assert placement.of_consumer(db, consumer) == {}
    assert usage(db, node1) == Resources(4, 4096, 4)
    assert usage(db, node2) == Resources(0, 0, 0)


def test_remove_of_a_consumer_without_allocations_is_a_no_op(db, hosts):
    node = hosts.add("compute1")
    placement.remove(db, new_uuid())
    placement.remove(db, new_uuid(), node.uuid)
    assert generation(db, node) == 0


# -- node records --------------------------------------------------------------------------------

def test_upsert_node_refreshes_inventory_of_the_same_host_without_a_new_node(db, hosts):
    first = hosts.add("compute1", vcpus=4)
    again = hosts.add("compute1", vcpus=8)
    assert again.uuid == first.uuid
    assert [(n.host, n.vcpus) for n in placement.nodes(db)] == [("compute1", 8)]
    assert placement.node_by_host(db, "compute1").uuid == first.uuid
    assert placement.node_by_host(db, "compute9") is None


# -- concurrency ---------------------------------------------------------------------------------

def test_racing_claims_for_the_last_slot_on_a_node_have_exactly_one_winner(db_url, hosts):
    node = hosts.add("compute1", vcpus=4, memory_mb=4096, local_gb=40)
    # two schedulers (two engines on the same database) racing, 8 threads each side
    schedulers = [Database(db_url), Database(db_url)]
    placement.claim(schedulers[0], new_uuid(), node.uuid, Resources(3, 3072, 30))
    racers = 16
    start = threading.Barrier(racers)
    wins, conflicts, other = [], [], []

    def race(index: int) -> None:
        consumer = new_uuid()
        start.wait()
        try:
            placement.claim(schedulers[index % 2], consumer, node.uuid, Resources(1, 1024, 10))
            wins.append(consumer)
        except exception.AllocationConflict:
            conflicts.append(consumer)
        except Exception as error:  # e.g. "database is locked": must never happen
            other.append(error)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert other == []
        assert len(wins) == 1 and len(conflicts) == racers - 1
        assert placement.of_consumer(schedulers[1], wins[0]) == {node.uuid: Resources(1, 1024, 10)}
        assert usage(schedulers[1], node) == Resources(4, 4096, 40)
        assert generation(schedulers[1], node) == 2
    finally:
        for database in schedulers:
            database.dispose()


def test_concurrent_moves_removes_and_claims_on_one_node_all_succeed(db_url, hosts):
    node = hosts.add("compute1", vcpus=64, memory_mb=65536, local_gb=1000)
    conductors = [Database(db_url), Database(db_url)]
    instances = [new_uuid() for _ in range(8)]
    for instance in instances:
        placement.claim(conductors[0], instance, node.uuid, Resources(1, 512, 1))
    start = threading.Barrier(len(instances))
    errors = []

    def move_back_and_forth(index: int, instance: str) -> None:
        db, migration = conductors[index % 2], new_uuid()
        start.wait()
        try:
            for _ in range(3):  # a migrate and its revert, then a resize claim, on one node
                placement.move(db, instance, migration)
                placement.move(db, migration, instance)
                placement.claim(db, instance, node.uuid, Resources(2, 512, 1))
            placement.remove(db, instance)
        except Exception as error:  # none of this needs room the node lacks: nothing may fail
            errors.append(error)

    threads = [threading.Thread(target=move_back_and_forth, args=(i, instance))
               for i, instance in enumerate(instances)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        assert placement.all_allocations(conductors[1]) == []
        # every change bumped the generation exactly once: none was lost
        assert generation(conductors[1], node) == len(instances) * (1 + 3 * 3 + 1)
    finally:
        for database in conductors:
            database.dispose()
