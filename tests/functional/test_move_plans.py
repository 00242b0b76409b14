"""The herder API's move plans, over HTTP with a real client: where a migrate or resize would
go, why the other hosts are out, what the disk copy would be, and that asking changes nothing.
"""
import uuid

import pytest
import requests

from herder.db import placement
from herder.db.placement import Resources
from tests.conftest import make_cloud
from tests.functional.observe import (assert_consistent, create_server, instance_record,
                                      migrated, wait_for_status)

DEMO_TOKEN = "demo:demo:member,reader"


def plan(cloud, server_id: str, body, token: str | None = None) -> requests.Response:
    return requests.post(f"{cloud.endpoint}/herder/v1/servers/{server_id}/move-plans",
                         json=body, headers={"X-Auth-Token": token or cloud.conf.admin_token},
                         timeout=30)


def planned(cloud, server_id: str, body) -> dict:
    answer = plan(cloud, server_id, body)
    assert answer.status_code == 200, answer.text
    return answer.json()["move_plan"]


def what_a_move_would_change(cloud, admin, server_id: str) -> tuple:
    """The server's state, its migrations, its actions, and every allocation."""
    server = admin.compute.get_server(server_id)
    return (server.status, server.task_state, server.vm_state,
            sorted(m.id for m in admin.compute.migrations()),
            sorted(a.request_id for a in admin.compute.server_actions(server_id)),
            sorted((a.consumer_uuid, a.node_uuid) for a in placement.all_allocations(cloud.db)))


def free_ram(cloud, host: str) -> int:
    node = placement.node_by_host(cloud.db, host)
    used = placement.usage_by_node(cloud.db).get(node.uuid, Resources(0, 0, 0))
    return placement.capacity(node).memory_mb - used.memory_mb


def fault(answer: requests.Response) -> tuple[int, str]:
    (body,) = answer.json().values()
    assert body["code"] == answer.status_code
    return answer.status_code, body["message"]


def test_the_herder_api_lists_its_versions_without_a_token(cloud):
    root = requests.get(f"{cloud.endpoint}/herder", timeout=10)
    assert root.status_code == 200
    assert [v["id"] for v in root.json()["versions"]] == ["v1"]
    v1 = requests.get(f"{cloud.endpoint}/herder/v1", timeout=10).json()["version"]
    assert (v1["id"], v1["status"]) == ("v1", "CURRENT")
    assert "OpenStack-API-Version" not in root.headers   # no Compute API microversions here


def test_a_migrate_plan_ranks_the_other_hosts_and_changes_nothing(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    before = what_a_move_would_change(cloud, admin, server.id)

    found = planned(cloud, server.id, {"migrate": None})

    assert (found["server_id"], found["action"], found["source_host"]) == \
        (server.id, "migrate", source)
    assert found["flavor"]["name"] == "m1.tiny"
    hosts = [c["host"] for c in found["candidates"]]
    assert sorted(hosts) == sorted(h for h in cloud.computes if h != source)
    assert [c["rank"] for c in found["candidates"]] == [1, 2]
    weights = [c["weight"] for c in found["candidates"]]
    assert weights == sorted(weights, reverse=True)
    for candidate in found["candidates"]:
        assert candidate["weight"] == pytest.approx(sum(candidate["weighers"].values()))
        assert candidate["disk_copy"] == "network"   # each host has its own directory here
    assert found["rejected"] == [{"host": source, "filter": None,
                                  "reason": "is the server's current host"}]
    assert what_a_move_would_change(cloud, admin, server.id) == before
    assert_consistent(cloud)


def test_a_full_host_and_a_disabled_one_are_rejected_with_their_reasons(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    full, disabled = sorted(h for h in cloud.computes if h != source)
    node = placement.node_by_host(cloud.db, full)
    filler = str(uuid.uuid4())   # takes all but 256 MB of the host's RAM
    placement.claim(cloud.db, filler, node.uuid, Resources(0, free_ram(cloud, full) - 256, 0))
    admin.compute.disable_service(None, host=disabled, binary="nova-compute",
                                  disabled_reason="maintenance")
    try:
        found = planned(cloud, server.id, {"migrate": {}})
    finally:
        placement.remove(cloud.db, filler)
    assert found["candidates"] == []
    assert {r["host"]: (r["filter"], r["reason"]) for r in found["rejected"]} == {
        source: (None, "is the server's current host"),
        full: ("ResourceFilter", "RAM 256 MB free, 512 MB needed"),
        disabled: ("ComputeFilter", "compute service is disabled")}
    assert_consistent(cloud)


def test_a_plan_to_a_named_host_judges_that_host_only(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    target = sorted(h for h in cloud.computes if h != source)[-1]
    found = planned(cloud, server.id, {"migrate": {"host": target}})
    assert [c["host"] for c in found["candidates"]] == [target]
    assert (found["requested_host"], found["rejected"]) == (target, [])


def test_a_resize_plan_to_a_flavor_no_host_can_take_rejects_every_host(cloud, admin):
    huge = admin.compute.create_flavor(name="huge", ram=40000, vcpus=1, disk=1)
    server = create_server(admin)
    before = what_a_move_would_change(cloud, admin, server.id)
    found = planned(cloud, server.id, {"resize": {"flavorRef": huge.id}})
    assert (found["action"], found["flavor"]["ram"], found["candidates"]) == \
        ("resize", 40000, [])
    # a resize may stay on its host only with allow_resize_to_same_host (off here)
    source = instance_record(cloud, server.id).host
    reasons = {r["host"]: (r["filter"], r["reason"]) for r in found["rejected"]}
    assert reasons.pop(source) == (None, "is the server's current host")
    assert reasons == {host: ("ResourceFilter",
                              f"RAM {free_ram(cloud, host)} MB free, 40000 MB needed")
                       for host in cloud.computes if host != source}
    assert what_a_move_would_change(cloud, admin, server.id) == before
    assert_consistent(cloud)


def test_an_unknown_server_is_not_found(cloud):
    missing = str(uuid.uuid4())
    assert fault(plan(cloud, missing, {"migrate": None})) == \
        (404, f"Instance {missing} could not be found.")


def test_a_member_may_not_plan_a_move_of_their_own_server(cloud, demo):
    server = create_server(demo)
    answer = plan(cloud, server.id, {"resize": {"flavorRef": "2"}}, token=DEMO_TOKEN)
    assert fault(answer) == (
        403, "Policy doesn't allow herder:servers:move_plans:create to be performed.")
    assert "forbidden" in answer.json()


@pytest.mark.parametrize("body, message", [
    ({}, "Malformed request body"),
    ({"migrate": None, "resize": {"flavorRef": "2"}}, "Malformed request body"),
    ({"evacuate": None}, "A move plan is for 'migrate' or 'resize', not 'evacuate'"),
    ({"resize": {}}, "'flavorRef' is a required property"),
    ({"migrate": {"host": 7}}, "Invalid input for field/attribute host. Value: 7."),
    ({"resize": {"flavorRef": "2", "OS-DCF:diskConfig": "AUTO"}},
     "Additional properties are not allowed"),
])
def test_a_bad_body_is_a_400(cloud, admin, body, message):
    server = create_server(admin)
    code, text = fault(plan(cloud, server.id, body))
    assert code == 400 and message in text, text


def test_a_body_that_is_not_json_is_a_400(cloud, admin):
    server = create_server(admin)
    answer = requests.post(f"{cloud.endpoint}/herder/v1/servers/{server.id}/move-plans",
                           data=b"{not json", timeout=10,
                           headers={"X-Auth-Token": cloud.conf.admin_token,
                                    "Content-Type": "application/json"})
    assert fault(answer) == (400, "Malformed request body")


def real_move(admin, server_id: str, body: dict) -> tuple[int, str]:
    """What the Compute API answers the real move (at 2.56, where migrate takes a host)."""
    answer = admin.compute.post(f"/servers/{server_id}/action", json=body,
                                microversion="2.56", raise_exc=False)
    (detail,) = answer.json().values()
    return answer.status_code, detail["message"]


def test_a_server_that_cannot_move_is_refused_as_the_real_move_would_be(cloud, admin):
    server, source, _dest = migrated(cloud, admin)   # VERIFY_RESIZE: no new move until done
    for body in ({"migrate": None}, {"resize": {"flavorRef": "2"}}):
        refused = fault(plan(cloud, server.id, body))
        assert refused[0] == 409
        assert refused == real_move(admin, server.id, body)
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    here = instance_record(cloud, server.id).host
    for body in ({"migrate": {"host": here}}, {"migrate": {"host": "compute9"}},
                 {"resize": {"flavorRef": "1"}}, {"resize": {"flavorRef": "nope"}}):
        refused = fault(plan(cloud, server.id, body))
        assert refused[0] == 400
        assert refused == real_move(admin, server.id, body)
    assert_consistent(cloud)


def test_bytes_to_move_and_an_estimate_once_a_real_copy_was_measured(cloud, admin):
    server = create_server(admin)
    first = planned(cloud, server.id, {"migrate": None})
    allocated = first["disk"]["allocated_bytes"]
    assert allocated > 0 and first["disk"]["files"] == 1
    for candidate in first["candidates"]:
        assert candidate["bytes_to_move"] == allocated
        assert candidate["estimated_seconds"] is None
        assert candidate["estimate_basis"] == "no history: no earlier network copies were measured"

    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")

    after = planned(cloud, server.id, {"migrate": None})
    assert after["disk"]["allocated_bytes"] == allocated   # the same disk, moved
    for candidate in after["candidates"]:
        assert candidate["estimated_seconds"] > 0
        assert candidate["estimate_basis"].endswith(" MB/s, measured over the last network copy")
    assert_consistent(cloud)


@pytest.fixture
def shared_cloud(tmp_path):
    """Two hosts on one instances directory."""
    cloud = make_cloud(tmp_path, hosts=2, compute__instances_dir=str(tmp_path / "shared"))
    yield cloud
    cloud.stop()


def test_hosts_sharing_the_instances_directory_plan_a_local_copy(shared_cloud):
    from tests.conftest import connect
    admin = connect(shared_cloud, shared_cloud.conf.admin_token)
    server = create_server(admin)
    [candidate] = planned(shared_cloud, server.id, {"migrate": None})["candidates"]
    assert candidate["disk_copy"] == "shared_instances_dir"
    assert candidate["estimate_basis"] == \
        "no history: no earlier copies on a shared instances directory were measured"
