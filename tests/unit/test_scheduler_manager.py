"""SchedulerManager against a real SQLite database: ranking, rejections, alternates, the claim."""
import logging
import uuid

import pytest

from herder import exception
from herder.conf import build_conf
from herder.context import RequestContext, admin_context
from herder.db import placement
from herder.db.placement import Resources
from herder.scheduler.manager import SchedulerManager

SMALL = {"vcpus": 1, "memory_mb": 1024, "disk_gb": 10}


def request(**resources) -> dict:
    return {"resources": {**SMALL, **resources}, "availability_zone": None,
            "image_properties": {}}


def fill(db, node, memory_mb: int) -> None:
    """Another server already holds `memory_mb` on the node."""
    placement.claim(db, str(uuid.uuid4()), node.uuid, Resources(0, memory_mb, 0))


@pytest.fixture
def scheduler(db, tmp_path):
    def make(**overrides):
        return SchedulerManager(build_conf(state_dir=str(tmp_path), **overrides), db)
    return make


@pytest.fixture
def three_hosts(db, hosts):
    """compute1 has the most free RAM, then compute2, then compute3 (all else equal)."""
    nodes = {name: hosts.add(name) for name in ("compute1", "compute2", "compute3")}
    fill(db, nodes["compute2"], 2048)
    fill(db, nodes["compute3"], 4096)
    return nodes


def select(manager, instance_uuid=None, ignore_hosts=(), requested_host=None, **resources):
    return manager.select_destinations(RequestContext(), request(**resources),
                                       instance_uuid or str(uuid.uuid4()), list(ignore_hosts),
                                       requested_host)


def test_selects_the_host_with_most_free_resources_and_claims_it_for_the_instance(
        db, scheduler, three_hosts):
    instance = str(uuid.uuid4())
    selected = select(scheduler(), instance)
    assert selected[0] == {"host": "compute1", "node": "compute1",
                           "node_uuid": three_hosts["compute1"].uuid}
    assert placement.of_consumer(db, instance) == {
        three_hosts["compute1"].uuid: Resources(**SMALL)}


def test_alternates_are_the_next_best_hosts_and_are_not_claimed(db, scheduler, three_hosts):
    instance = str(uuid.uuid4())
    selected = select(scheduler(), instance)
    assert [s["host"] for s in selected] == ["compute1", "compute2", "compute3"]
    assert list(placement.of_consumer(db, instance)) == [three_hosts["compute1"].uuid]


@pytest.mark.parametrize("max_attempts, expected", [
    (1, ["h1"]), (2, ["h1", "h2"]), (3, ["h1", "h2", "h3"]), (4, ["h1", "h2", "h3", "h4"])])
def test_alternates_count_is_max_attempts_minus_one(db, hosts, scheduler, max_attempts,
                                                   expected):
    for index in range(1, 6):
        node = hosts.add(f"h{index}")
        fill(db, node, 1000 * index)
    selected = select(scheduler(scheduler__max_attempts=max_attempts))
    assert [s["host"] for s in selected] == expected


def test_ignored_current_host_is_rejected_as_the_servers_host(scheduler, three_hosts):
    manager = scheduler()
    ranked, rejected = manager.rank(request(), ["compute1"], None)
    assert [h.host for h in ranked] == ["compute2", "compute3"]
    assert rejected == {"compute1": "is the server's current host"}
    assert select(manager, ignore_hosts=["compute1"])[0]["host"] == "compute2"


def test_requested_host_is_selected_without_alternates(db, scheduler, three_hosts):
    instance = str(uuid.uuid4())
    selected = select(scheduler(), instance, requested_host="compute3")
    assert selected == [{"host": "compute3", "node": "compute3",
                         "node_uuid": three_hosts["compute3"].uuid}]
    assert list(placement.of_consumer(db, instance)) == [three_hosts["compute3"].uuid]


def test_requested_host_that_is_disabled_gives_no_valid_host(hosts, scheduler, three_hosts):
    hosts.disable("compute3")
    with pytest.raises(exception.NoValidHost) as caught:
        select(scheduler(), requested_host="compute3")
    assert "compute3: compute service is disabled" in str(caught.value)
    assert "compute1" not in str(caught.value)


def test_disabled_and_down_hosts_are_rejected_with_reasons(hosts, scheduler, three_hosts):
    hosts.disable("compute1")
    hosts.stop_heartbeat("compute2")
    ranked, rejected = scheduler().rank(request(), [], None)
    assert [h.host for h in ranked] == ["compute3"]
    assert rejected == {"compute1": "compute service is disabled",
                        "compute2": "compute service is down"}


def test_forced_down_host_is_rejected_even_with_a_fresh_heartbeat(hosts, scheduler, three_hosts):
    hosts.update_service("compute1", forced_down=True)
    _, rejected = scheduler().rank(request(), [], None)
    assert rejected == {"compute1": "compute service is down"}


def test_heartbeat_within_service_down_time_counts_as_up(hosts, scheduler, three_hosts):
    hosts.stop_heartbeat("compute1", seconds_ago=30)
    hosts.stop_heartbeat("compute2", seconds_ago=90)
    _, rejected = scheduler(service_down_time=60).rank(request(), [], None)
    assert rejected == {"compute2": "compute service is down"}


def test_host_in_another_availability_zone_is_rejected(db, hosts, scheduler):
    hosts.add("compute1", zone="az1")
    hosts.add("compute2", zone="az2")
    ranked, rejected = scheduler().rank({**request(), "availability_zone": "az2"}, [], None)
    assert [h.host for h in ranked] == ["compute2"]
    assert rejected == {"compute1": "in availability zone az1, not az2"}


def test_host_usage_and_capacity_come_from_placement(db, hosts, scheduler):
    node = hosts.add("compute1", vcpus=4, memory_mb=8192, local_gb=50, cpu_ratio=2.0,
                     reserved_mb=512)
    placement.claim(db, str(uuid.uuid4()), node.uuid, Resources(3, 1000, 20))
    [state] = scheduler().host_states()
    assert state.capacity == Resources(8, 7680, 50)
    assert state.used == Resources(3, 1000, 20)
    assert (state.enabled, state.up, state.availability_zone) == (True, True, "nova")


def test_node_without_a_compute_service_is_not_a_candidate(hosts, scheduler):
    hosts.add("compute1")
    hosts.add("compute9", service=False)
    assert [h.host for h in scheduler().host_states()] == ["compute1"]


def test_no_valid_host_message_lists_every_rejected_host_and_why(db, hosts, scheduler):
    hosts.add("compute2", memory_mb=2048)
    hosts.add("compute1", memory_mb=4096)
    hosts.disable("compute2")
    with pytest.raises(exception.NoValidHost) as caught:
        select(scheduler(), memory_mb=8192, ignore_hosts=["compute3"])
    assert str(caught.value) == (
        "No valid host was found. There are not enough hosts available. "
        "(compute1: RAM 4096 MB free, 8192 MB needed; "
        "compute2: compute service is disabled)")


def test_no_valid_host_when_there_are_no_compute_hosts(scheduler):
    with pytest.raises(exception.NoValidHost) as caught:
        select(scheduler())
    assert str(caught.value).endswith("(no compute hosts)")


def test_failed_selection_claims_nothing(db, hosts, scheduler):
    hosts.add("compute1", memory_mb=1024)
    instance = str(uuid.uuid4())
    with pytest.raises(exception.NoValidHost):
        select(scheduler(), instance, memory_mb=2048)
    assert placement.of_consumer(db, instance) == {}


def test_host_filled_by_a_concurrent_claim_after_ranking_is_skipped(db, hosts, scheduler):
    node1 = hosts.add("compute1", memory_mb=4096)
    node2 = hosts.add("compute2", memory_mb=2048)
    manager = scheduler()
    real_rank = manager.rank

    def rank_then_lose_the_race(*args):
        ranked = real_rank(*args)
        fill(db, node1, 4096)  # another scheduler takes compute1 after we looked
        return ranked
    manager.rank = rank_then_lose_the_race
    instance = str(uuid.uuid4())
    selected = select(manager, instance, memory_mb=2048)
    assert selected[0]["host"] == "compute2"
    assert placement.of_consumer(db, instance) == {node2.uuid: Resources(1, 2048, 10)}


def test_lost_race_on_every_host_reports_the_allocation_conflict(db, hosts, scheduler):
    node = hosts.add("compute1", memory_mb=4096)
    manager = scheduler()
    real_rank = manager.rank

    def rank_then_lose_the_race(*args):
        ranked = real_rank(*args)
        fill(db, node, 4096)
        return ranked
    manager.rank = rank_then_lose_the_race
    with pytest.raises(exception.NoValidHost) as caught:
        select(manager, memory_mb=2048)
    assert "compute1: Allocation on compute1 does not fit: memory_mb: requested 2048, " \
           "used 4096 of 4096" in str(caught.value)


def test_host_manager_logs_an_instance_that_moved(scheduler, caplog):
    manager = scheduler()
    context = RequestContext()
    with caplog.at_level(logging.INFO, logger="herder.scheduler.manager"):
        manager.update_instance_info(context, "compute2", "i-1", previous_host="compute1")
    assert "[instance: i-1] host manager: now on compute2 (was compute1)" in caplog.text


def test_evaluation_names_the_filter_of_each_rejection_and_the_weights(hosts, scheduler,
                                                                       three_hosts):
    hosts.disable("compute3")
    found = scheduler().evaluate_destinations(admin_context(), request(), "a-server",
                                              ["compute1"])
    assert found["rejected"] == [
        {"host": "compute1", "filter": None, "reason": "is the server's current host"},
        {"host": "compute3", "filter": "ComputeFilter", "reason": "compute service is disabled"}]
    [candidate] = found["candidates"]
    assert candidate["host"] == "compute2"
    assert candidate["weight"] == sum(candidate["weighers"].values())
    assert set(candidate["weighers"]) == set(scheduler().conf.filter_scheduler.weighers)


def test_evaluation_claims_nothing(db, scheduler, three_hosts):
    def allocations():
        return {(a.consumer_uuid, a.node_uuid, a.memory_mb) for a in placement.all_allocations(db)}
    before = allocations()
    scheduler().evaluate_destinations(admin_context(), request(), "a-server", [])
    assert allocations() == before
