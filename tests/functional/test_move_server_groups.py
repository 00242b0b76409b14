"""Server groups on the move: where members are created, migrated and resized to, and the
destination's re-check of the group policy in prep_resize.

Anti-affinity members never share a host (more than `max_server_per_host` of them); affinity
members stay on one host; a member in the middle of a move counts on both its source and its
destination; a move the policy cannot allow fails like any NoValidHost: rolled back, the server
as it was on its source, the migration `error` and why.
"""
import pytest

from tests.conftest import connect, make_cloud
from tests.functional.api_reads import call
from tests.functional.observe import (assert_consistent, events_by_name, instance_record,
                                      migration_of, wait_for_status, wait_until)

# the group filters off: only the destination's re-check stands between a move and the policy
FILTERS_WITHOUT_GROUPS = ["ComputeFilter", "ResourceFilter", "AvailabilityZoneFilter",
                          "ImagePropertiesFilter"]


def _group(conn, policy: str, **rules) -> str:
    body = {"name": policy, "policy": policy}
    if rules:
        body["rules"] = rules
    status, reply, _ = call(conn, "/os-server-groups", "2.64", "POST", {"server_group": body})
    assert status == 200, reply
    return reply["server_group"]["id"]


def _member(conn, group_id: str, name: str = "member", flavor: str = "m1.tiny",
            status: str = "ACTIVE"):
    server = conn.compute.create_server(
        name=name, flavor_id=conn.compute.find_flavor(flavor).id,
        image_id=conn.image.find_image("herder-guest").id, networks="auto",
        scheduler_hints={"group": group_id})
    return wait_for_status(conn, server.id, status)


def _plain_server(conn, flavor: str):
    server = conn.compute.create_server(
        name="filler", flavor_id=conn.compute.find_flavor(flavor).id,
        image_id=conn.image.find_image("herder-guest").id, networks="auto")
    return wait_for_status(conn, server.id, "ACTIVE")


def _host(cloud, server) -> str:
    return instance_record(cloud, server.id).host


def _failed_migration(cloud, server_id: str):
    return wait_until(lambda: (m := migration_of(cloud, server_id)) and m.status == "error" and m,
                      message=f"the move of {server_id} to fail")


def _migrate_to(conn, server_id: str, host: str) -> None:
    status, reply, _ = call(conn, f"/servers/{server_id}/action", "2.56", "POST",
                            {"migrate": {"host": host}})
    assert status == 202, reply


@pytest.fixture
def cloud_without_group_filters(tmp_path):
    cloud = make_cloud(tmp_path, filter_scheduler__enabled_filters=FILTERS_WITHOUT_GROUPS)
    yield cloud
    cloud.stop()


def test_anti_affinity_members_stay_apart_through_create_migrate_and_resize(cloud, admin):
    group = _group(admin, "anti-affinity")
    first, second = _member(admin, group, "first"), _member(admin, group, "second")
    first_host, second_host = _host(cloud, first), _host(cloud, second)
    assert first_host != second_host
    free_host, = set(cloud.computes) - {first_host, second_host}

    admin.compute.migrate_server(first)
    wait_for_status(admin, first.id, "VERIFY_RESIZE")
    assert _host(cloud, first) == free_host  # the one host without a member
    admin.compute.confirm_server_resize(first)
    wait_for_status(admin, first.id, "ACTIVE")

    admin.compute.resize_server(second, admin.compute.find_flavor("m1.small").id)
    wait_for_status(admin, second.id, "VERIFY_RESIZE")
    assert _host(cloud, second) == first_host  # left by the first member
    admin.compute.confirm_server_resize(second)
    wait_for_status(admin, second.id, "ACTIVE")
    assert _host(cloud, first) != _host(cloud, second)
    assert_consistent(cloud)


def test_a_member_in_the_middle_of_a_move_counts_on_its_source_and_its_destination(cloud, admin):
    group = _group(admin, "anti-affinity")
    moving = _member(admin, group, "moving")
    source = _host(cloud, moving)
    admin.compute.migrate_server(moving)
    wait_for_status(admin, moving.id, "VERIFY_RESIZE")
    destination = _host(cloud, moving)

    newcomer = _member(admin, group, "newcomer")
    third_host, = set(cloud.computes) - {source, destination}
    assert _host(cloud, newcomer) == third_host
    # and with every host taken, one more member finds no host
    extra = _member(admin, group, "extra", status="ERROR")
    assert "No valid host was found" in admin.compute.get_server(extra.id).fault["message"]

    admin.compute.revert_server_resize(moving)
    wait_for_status(admin, moving.id, "ACTIVE")
    assert _host(cloud, moving) == source
    assert_consistent(cloud)


def test_affinity_members_share_a_host_and_a_resize_keeps_them_together(tmp_path):
    cloud = make_cloud(tmp_path, allow_resize_to_same_host=True)
    try:
        admin = connect(cloud, cloud.conf.admin_token)
        group = _group(admin, "affinity")
        members = [_member(admin, group, f"m{n}") for n in range(3)]
        host, = {_host(cloud, m) for m in members}

        admin.compute.resize_server(members[1], admin.compute.find_flavor("m1.small").id)
        wait_for_status(admin, members[1].id, "VERIFY_RESIZE")
        assert _host(cloud, members[1]) == host
        admin.compute.confirm_server_resize(members[1])
        wait_for_status(admin, members[1].id, "ACTIVE")
        assert {_host(cloud, m) for m in members} == {host}
        assert_consistent(cloud)
    finally:
        cloud.stop()


def test_migrating_an_affinity_member_away_from_its_group_rolls_back(cloud, admin):
    group = _group(admin, "affinity")
    staying, leaving = _member(admin, group, "staying"), _member(admin, group, "leaving")
    host = _host(cloud, staying)
    assert _host(cloud, leaving) == host

    admin.compute.migrate_server(leaving)
    migration = _failed_migration(cloud, leaving.id)
    wait_for_status(admin, leaving.id, "ACTIVE")
    assert "No valid host was found" in migration.error_reason
    assert f"server group {group} is affinity" in migration.error_reason
    record = instance_record(cloud, leaving.id)
    assert (record.host, record.task_state, record.vm_state) == (host, None, "active")
    assert events_by_name(admin, leaving.id, "migrate")["conductor_migrate_server"]["result"] \
        == "Error"
    assert_consistent(cloud)


def test_max_server_per_host_lets_that_many_members_share_a_host(tmp_path):
    cloud = make_cloud(tmp_path, hosts=2)
    try:
        admin = connect(cloud, cloud.conf.admin_token)
        group = _group(admin, "anti-affinity", max_server_per_host=2)
        members = [_member(admin, group, f"m{n}") for n in range(4)]
        hosts = [_host(cloud, m) for m in members]
        assert sorted(hosts.count(h) for h in set(hosts)) == [2, 2]

        fifth = _member(admin, group, "fifth", status="ERROR")
        assert "max_server_per_host 2" in admin.compute.get_server(fifth.id).fault["message"]
        # and a member cannot migrate: the other host already holds two
        admin.compute.migrate_server(members[0])
        _failed_migration(cloud, members[0].id)
        wait_for_status(admin, members[0].id, "ACTIVE")
        assert _host(cloud, members[0]) == hosts[0]
        assert_consistent(cloud)
    finally:
        cloud.stop()


def test_soft_affinity_gathers_members_and_soft_anti_affinity_spreads_them(cloud, admin):
    gathered = _group(admin, "soft-affinity")
    together = [_member(admin, gathered, f"together{n}") for n in range(3)]
    assert len({_host(cloud, m) for m in together}) == 1

    spread = _group(admin, "soft-anti-affinity")
    apart = [_member(admin, spread, f"apart{n}") for n in range(3)]
    assert len({_host(cloud, m) for m in apart}) == 3
    # soft: one more member than hosts still gets one
    _member(admin, spread, "one-too-many")
    assert_consistent(cloud)


def test_destination_refuses_a_move_to_a_host_the_policy_forbids(cloud_without_group_filters):
    cloud = cloud_without_group_filters
    admin = connect(cloud, cloud.conf.admin_token)
    group = _group(admin, "anti-affinity")
    first, second = _member(admin, group, "first"), _member(admin, group, "second")
    first_host, second_host = _host(cloud, first), _host(cloud, second)
    assert first_host != second_host

    _migrate_to(admin, first.id, second_host)  # an explicit host: no alternate to fall back to
    migration = _failed_migration(cloud, first.id)
    wait_for_status(admin, first.id, "ACTIVE")
    assert f"Server group policy check failed on {second_host}" in migration.error_reason
    assert f"server group {group} is anti-affinity" in migration.error_reason
    assert _host(cloud, first) == first_host
    assert events_by_name(admin, first.id, "migrate")["compute_prep_resize"]["result"] == \
        "Error"
    assert_consistent(cloud)


def test_a_refusing_destination_sends_the_move_to_an_alternate(cloud_without_group_filters):
    cloud = cloud_without_group_filters
    admin = connect(cloud, cloud.conf.admin_token)
    group = _group(admin, "anti-affinity")
    first, second = _member(admin, group, "first"), _member(admin, group, "second")
    free_host, = set(cloud.computes) - {_host(cloud, first), _host(cloud, second)}
    # the free host becomes the fullest, so the scheduler's favourite is the second member's
    _plain_server(admin, "m1.large")

    admin.compute.migrate_server(first)
    wait_for_status(admin, first.id, "VERIFY_RESIZE")
    assert _host(cloud, first) == free_host
    events = admin.compute.get_server_action(
        next(a.request_id for a in admin.compute.server_actions(first.id)
             if a.action == "migrate"), first.id).events
    assert sorted(e["result"] for e in events if e["event"] == "compute_prep_resize") == \
        ["Error", "Success"]
    assert_consistent(cloud)


@pytest.mark.parametrize("group_filters", [True, False],
                         ids=["scheduler-filters", "destination-recheck-only"])
def test_two_members_racing_to_the_one_free_host_never_share_it(tmp_path, group_filters):
    overrides = {} if group_filters else \
        {"filter_scheduler__enabled_filters": FILTERS_WITHOUT_GROUPS}
    cloud = make_cloud(tmp_path, **overrides)
    try:
        admin = connect(cloud, cloud.conf.admin_token)
        group = _group(admin, "anti-affinity")
        first, second = _member(admin, group, "first"), _member(admin, group, "second")
        first_host, second_host = _host(cloud, first), _host(cloud, second)
        free_host, = set(cloud.computes) - {first_host, second_host}

        # the first move stops in prep_resize on the free host, past its own policy check,
        # while the second member tries for the same host
        held = cloud.computes[free_host].driver.fault_points.hold("prep_resize")
        admin.compute.migrate_server(first)
        held.wait_reached()
        admin.compute.migrate_server(second)
        migration = _failed_migration(cloud, second.id)
        held.release()

        wait_for_status(admin, first.id, "VERIFY_RESIZE")
        wait_for_status(admin, second.id, "ACTIVE")
        assert (_host(cloud, first), _host(cloud, second)) == (free_host, second_host)
        assert f"server group {group} is anti-affinity" in migration.error_reason
        if not group_filters:  # what caught it was the destination's re-check
            assert "Server group policy check failed" in migration.error_reason
        assert_consistent(cloud)
        admin.compute.confirm_server_resize(first)
        wait_for_status(admin, first.id, "ACTIVE")
        assert_consistent(cloud)
    finally:
        cloud.stop()
