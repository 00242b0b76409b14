"""Server-group filters and weighers (pure functions of request and host state), and the
placement view of a group they are given, read from a real database."""
import uuid

import pytest

from herder.conf import build_conf
from herder.db import placement, server_groups
from herder.db.models import Instance, Migration
from herder.db.placement import Resources
from herder.scheduler import filters, group_policy
from herder.scheduler.host_state import HostState
from herder.scheduler.weighers import weigh


def host(name: str) -> HostState:
    return HostState(host=name, node=name, node_uuid=f"uuid-{name}", availability_zone="nova",
                     enabled=True, up=True, capacity=Resources(8, 16384, 100),
                     used=Resources(0, 0, 0), hypervisor_type="fake")


def request(policy: str | None = None, max_server_per_host: int = 1, **members_by_host) -> dict:
    wanted = {"resources": {"vcpus": 1, "memory_mb": 512, "disk_gb": 1}}
    if policy is not None:
        wanted["server_group"] = {"uuid": "g1", "policy": policy,
                                  "max_server_per_host": max_server_per_host,
                                  "members_by_host": members_by_host}
    return wanted


def names(hosts: list[HostState]) -> list[str]:
    return [h.host for h in hosts]


# -- anti-affinity filter ------------------------------------------------------------------------

def test_anti_affinity_filter_rejects_a_host_holding_a_member():
    assert filters.server_group_anti_affinity_filter(
        request("anti-affinity", compute1=1), host("compute1")) == \
        ("server group g1 is anti-affinity: 1 of its members already on compute1 "
         "(max_server_per_host 1)")


def test_anti_affinity_filter_accepts_a_host_without_members():
    assert filters.server_group_anti_affinity_filter(
        request("anti-affinity", compute1=1), host("compute2")) is None


def test_anti_affinity_filter_counts_members_against_max_server_per_host():
    twice = request("anti-affinity", max_server_per_host=3, compute1=2, compute2=3)
    assert filters.server_group_anti_affinity_filter(twice, host("compute1")) is None
    assert "3 of its members already on compute2 (max_server_per_host 3)" in \
        filters.server_group_anti_affinity_filter(twice, host("compute2"))


@pytest.mark.parametrize("policy", [None, "affinity", "soft-anti-affinity", "soft-affinity"])
def test_anti_affinity_filter_ignores_other_policies_and_servers_without_group(policy):
    assert filters.server_group_anti_affinity_filter(request(policy, compute1=5),
                                                     host("compute1")) is None


# -- affinity filter -----------------------------------------------------------------------------

def test_the_first_member_of_an_affinity_group_may_go_anywhere():
    assert filters.server_group_affinity_filter(request("affinity"), host("compute3")) is None


def test_later_affinity_members_follow_the_first():
    later = request("affinity", compute2=2)
    assert filters.server_group_affinity_filter(later, host("compute2")) is None
    assert filters.server_group_affinity_filter(later, host("compute1")) == \
        "server group g1 is affinity: its members are on compute2, not on compute1"


def test_an_affinity_member_mid_move_allows_both_its_hosts():
    moving = request("affinity", compute1=1, compute2=1)
    assert filters.server_group_affinity_filter(moving, host("compute1")) is None
    assert filters.server_group_affinity_filter(moving, host("compute2")) is None
    assert filters.server_group_affinity_filter(moving, host("compute3")) is not None


@pytest.mark.parametrize("policy", [None, "anti-affinity", "soft-anti-affinity", "soft-affinity"])
def test_affinity_filter_ignores_other_policies_and_servers_without_group(policy):
    assert filters.server_group_affinity_filter(request(policy, compute1=1),
                                                host("compute2")) is None


def test_group_filters_are_on_by_default():
    conf = build_conf()
    assert {"ServerGroupAffinityFilter", "ServerGroupAntiAffinityFilter"} <= \
        set(conf.filter_scheduler.enabled_filters)
    assert {"ServerGroupSoftAffinityWeigher", "ServerGroupSoftAntiAffinityWeigher"} <= \
        set(conf.filter_scheduler.weighers)


# -- soft weighers -------------------------------------------------------------------------------

SPREAD = ["RAMWeigher", "CPUWeigher", "DiskWeigher"]
SOFT = ["ServerGroupSoftAffinityWeigher", "ServerGroupSoftAntiAffinityWeigher"]


def test_soft_affinity_prefers_the_host_with_most_members():
    hosts = [host("compute1"), host("compute2"), host("compute3")]
    assert names(weigh(hosts, SOFT, request("soft-affinity", compute3=2, compute2=1))) == \
        ["compute3", "compute2", "compute1"]


def test_soft_anti_affinity_prefers_the_host_with_fewest_members():
    hosts = [host("compute1"), host("compute2"), host("compute3")]
    assert names(weigh(hosts, SOFT, request("soft-anti-affinity", compute1=2, compute2=1))) == \
        ["compute3", "compute2", "compute1"]


def test_soft_weighers_leave_servers_without_a_soft_group_to_the_spread():
    busy = HostState(host="compute1", node="compute1", node_uuid="uuid-compute1",
                     availability_zone="nova", enabled=True, up=True,
                     capacity=Resources(8, 16384, 100), used=Resources(4, 8192, 50),
                     hypervisor_type="fake")
    hosts = [busy, host("compute2")]
    for wanted in (request(), request("anti-affinity", compute2=1)):
        assert names(weigh(hosts, SPREAD + SOFT, wanted)) == ["compute2", "compute1"]


def test_the_soft_weigher_multiplier_decides_against_the_spread():
    # compute1 holds the member but is the fuller host: every spread weigher prefers compute2
    member_host = HostState(host="compute1", node="compute1", node_uuid="uuid-compute1",
                            availability_zone="nova", enabled=True, up=True,
                            capacity=Resources(8, 16384, 100), used=Resources(1, 512, 1),
                            hypervisor_type="fake")
    hosts = [member_host, host("compute2")]
    wanted = request("soft-affinity", compute1=1)
    assert names(weigh(hosts, SPREAD + SOFT, wanted)) == ["compute2", "compute1"]
    conf = build_conf()
    multipliers = {"ServerGroupSoftAffinityWeigher":
                   conf.filter_scheduler.soft_affinity_weight_multiplier}
    assert names(weigh(hosts, SPREAD + SOFT, wanted, multipliers)) == ["compute1", "compute2"]


# -- the placement view, from the database -------------------------------------------------------

@pytest.fixture
def nodes(hosts):
    return {name: hosts.add(name) for name in ("compute1", "compute2", "compute3")}


def _group(db, conf, policy="anti-affinity", rules=None) -> str:
    return server_groups.create(db, conf, name="g", project_id="p", user_id="u",
                                policy=policy, rules=rules or {}).uuid


def _member(db, conf, group_uuid: str, host: str | None) -> str:
    server = str(uuid.uuid4())
    with db.transaction() as session:
        session.add(Instance(uuid=server, display_name="vm", project_id="p", user_id="u",
                             flavor={}, vm_state="active", host=host))
        server_groups.add_member(session, conf, group_uuid, server)
    return server


def test_a_server_in_no_group_has_no_placement_view(db, conf):
    assert server_groups.placement_view(db, conf, str(uuid.uuid4())) is None


def test_the_view_counts_the_other_members_on_their_hosts(db, conf, nodes):
    group = _group(db, conf, rules={"max_server_per_host": 2})
    placed = _member(db, conf, group, None)
    _member(db, conf, group, "compute1")
    _member(db, conf, group, "compute1")
    _member(db, conf, group, "compute2")
    assert server_groups.placement_view(db, conf, placed) == {
        "uuid": group, "policy": "anti-affinity", "max_server_per_host": 2,
        "members_by_host": {"compute1": 2, "compute2": 1}}


def test_a_member_claimed_by_the_scheduler_counts_before_its_host_is_written(db, conf,
                                                                            nodes):
    group = _group(db, conf)
    placed = _member(db, conf, group, None)
    building = _member(db, conf, group, None)
    placement.claim(db, building, nodes["compute3"].uuid, Resources(1, 512, 1))
    assert server_groups.placement_view(db, conf, placed)["members_by_host"] == {"compute3": 1}


def test_a_member_mid_move_counts_once_on_each_of_its_hosts(db, conf, nodes):
    group = _group(db, conf)
    placed = _member(db, conf, group, None)
    moving = _member(db, conf, group, "compute1")
    migration = str(uuid.uuid4())
    with db.transaction() as session:
        session.add(Migration(uuid=migration, instance_uuid=moving, source_compute="compute1",
                              dest_compute="compute2", status="finished",
                              migration_type="migration"))
    placement.claim(db, migration, nodes["compute1"].uuid, Resources(1, 512, 1))
    placement.claim(db, moving, nodes["compute2"].uuid, Resources(1, 512, 1))
    assert server_groups.placement_view(db, conf, placed)["members_by_host"] == \
        {"compute1": 1, "compute2": 1}


def test_a_deleted_member_leaves_the_group_and_stops_counting(db, conf, nodes):
    group = _group(db, conf)
    placed = _member(db, conf, group, None)
    gone = _member(db, conf, group, "compute1")
    server_groups.remove_member(db, gone)
    assert server_groups.placement_view(db, conf, placed)["members_by_host"] == {}
    assert server_groups.members(db, [group]) == {group: [placed]}


def test_a_group_without_the_rule_takes_max_server_per_host_from_the_configuration(db, tmp_path,
                                                                                 nodes):
    conf = build_conf(state_dir=str(tmp_path), filter_scheduler__max_server_per_host=3)
    group = _group(db, conf)
    placed = _member(db, conf, group, None)
    view = server_groups.placement_view(db, conf, placed)
    assert view["max_server_per_host"] == 3
    assert group_policy.violation({**view, "members_by_host": {"compute1": 2}},
                                  "compute1") is None
