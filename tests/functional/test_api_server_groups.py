"""/os-server-groups: bodies per microversion, validation, quotas, who sees which group, and
servers joining a group through the `group` scheduler hint."""
import uuid

import pytest

from tests.conftest import connect, make_cloud
from tests.functional.api_reads import call, error, ok
from tests.functional.observe import create_server, wait_until

BEFORE_2_13 = {"id", "name", "policies", "members", "metadata"}
BEFORE_2_64 = BEFORE_2_13 | {"project_id", "user_id"}
FROM_2_64 = {"id", "name", "policy", "rules", "members", "project_id", "user_id"}


def _create(conn, version: str, **group) -> dict:
    status, body, _ = call(conn, "/os-server-groups", version, "POST", {"server_group": group})
    assert status == 200, body
    return body["server_group"]


def _server_in_group(conn, group_id: str, name: str = "member"):
    image = conn.image.find_image("herder-guest")
    return conn.compute.create_server(
        name=name, flavor_id=conn.compute.find_flavor("m1.tiny").id, image_id=image.id,
        networks="auto", scheduler_hints={"group": group_id})


@pytest.mark.parametrize("version, fields", [("2.1", BEFORE_2_13), ("2.12", BEFORE_2_13),
                                             ("2.13", BEFORE_2_64), ("2.63", BEFORE_2_64),
                                             ("2.64", FROM_2_64), ("2.80", FROM_2_64)])
def test_group_bodies_follow_the_microversion(cloud, demo, version, fields):
    if tuple(map(int, version.split("."))) >= (2, 64):
        created = _create(demo, version, name="web", policy="anti-affinity",
                          rules={"max_server_per_host": 2})
        assert (created["policy"], created["rules"]) == ("anti-affinity",
                                                         {"max_server_per_host": 2})
    else:
        created = _create(demo, version, name="web", policies=["anti-affinity"])
        assert (created["policies"], created["metadata"]) == (["anti-affinity"], {})
    assert set(created) == fields
    assert (created["name"], created["members"]) == ("web", [])
    assert uuid.UUID(created["id"])
    if "project_id" in fields:
        assert (created["project_id"], created["user_id"]) == ("demo", "demo")

    shown = ok(demo, f"/os-server-groups/{created['id']}", version)["server_group"]
    assert shown == created
    assert ok(demo, "/os-server-groups", version)["server_groups"] == [created]


def test_a_group_made_with_rules_reads_back_as_a_list_of_one_policy_before_2_64(cloud, demo):
    created = _create(demo, "2.64", name="db", policy="anti-affinity",
                      rules={"max_server_per_host": "3"})
    assert created["rules"] == {"max_server_per_host": 3}
    old = ok(demo, f"/os-server-groups/{created['id']}", "2.63")["server_group"]
    assert (old["policies"], old["metadata"]) == (["anti-affinity"], {})
    assert "rules" not in old and "policy" not in old


def test_soft_policies_need_microversion_2_15(cloud, demo):
    assert error(demo, "/os-server-groups", "2.14", "POST",
                 {"server_group": {"name": "g", "policies": ["soft-affinity"]}})[0] == 400
    for policy in ("soft-affinity", "soft-anti-affinity", "affinity", "anti-affinity"):
        assert _create(demo, "2.15", name=policy, policies=[policy])["policies"] == [policy]
        assert _create(demo, "2.64", name=policy, policy=policy)["policy"] == policy


@pytest.mark.parametrize("version, group, message", [
    ("2.1", {"name": "g"}, "'policies' is a required property"),
    ("2.1", {"name": "g", "policies": []}, "field/attribute policies. Value: []."),
    ("2.1", {"name": "g", "policies": ["affinity", "anti-affinity"]},
     "field/attribute policies. Value: ['affinity', 'anti-affinity']."),
    ("2.1", {"name": "g", "policies": ["spread"]}, "'spread' is not one of"),
    ("2.1", {"name": "", "policies": ["affinity"]}, "field/attribute name. Value: ."),
    ("2.1", {"name": " padded", "policies": ["affinity"]}, "does not match"),
    ("2.1", {"name": "g", "policy": "affinity"}, "'policies' is a required property"),
    ("2.1", {"name": "g", "policies": ["affinity"], "policy": "affinity"},
     "'policy' was unexpected"),
    ("2.63", {"name": "g", "policies": ["affinity"], "rules": {}}, "'rules' was unexpected"),
    ("2.64", {"name": "g", "policy": "affinity", "policies": ["affinity"]},
     "'policies' was unexpected"),
    ("2.64", {"name": "g"}, "'policy' is a required property"),
    ("2.64", {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}},
     "0 is less than the minimum of 1"),
    ("2.64", {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": "0"}},
     "It must be a positive integer."),
    ("2.64", {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": "x"}},
     "does not match"),
    ("2.64", {"name": "g", "policy": "anti-affinity", "rules": {"spread": 1}},
     "'spread' was unexpected"),
    ("2.64", {"name": "g", "policy": "affinity", "rules": {"max_server_per_host": 2}},
     "Only anti-affinity policy supports rules."),
    ("2.64", {"name": "g", "policy": "soft-anti-affinity", "rules": {"max_server_per_host": 2}},
     "Only anti-affinity policy supports rules."),
])
def test_invalid_groups_are_refused_and_nothing_is_created(cloud, demo, version, group,
                                                           message):
    status, text = error(demo, "/os-server-groups", version, "POST", {"server_group": group})
    assert status == 400 and message in text, text
    assert ok(demo, "/os-server-groups", "2.64")["server_groups"] == []


def test_other_projects_neither_see_nor_delete_a_group(cloud, admin, demo, other_project):
    mine = _create(demo, "2.64", name="mine", policy="affinity")
    theirs = _create(other_project, "2.64", name="theirs", policy="affinity")
    missing = f"Instance group {mine['id']} could not be found."
    assert error(other_project, f"/os-server-groups/{mine['id']}", "2.64") == (404, missing)
    assert error(other_project, f"/os-server-groups/{mine['id']}", "2.64", "DELETE") == \
        (404, missing)
    assert [g["id"] for g in ok(demo, "/os-server-groups", "2.64")["server_groups"]] == \
        [mine["id"]]
    # all_projects is for admins; from anyone else it means their own project, as in Nova
    assert [g["id"] for g in ok(demo, "/os-server-groups?all_projects=True", "2.64")
            ["server_groups"]] == [mine["id"]]
    assert ok(admin, "/os-server-groups", "2.64")["server_groups"] == []
    assert [g["id"] for g in ok(admin, "/os-server-groups?all_projects=True", "2.64")
            ["server_groups"]] == [mine["id"], theirs["id"]]
    assert ok(admin, f"/os-server-groups/{mine['id']}", "2.64")["server_group"]["name"] == "mine"

    status, _, _ = call(admin, f"/os-server-groups/{theirs['id']}", "2.64", "DELETE")
    assert status == 204
    assert error(other_project, f"/os-server-groups/{theirs['id']}", "2.64")[0] == 404


def test_readers_list_and_show_but_only_members_create_and_delete(cloud, demo):
    reader = connect(cloud, "rita:demo:reader")
    group = _create(demo, "2.64", name="g", policy="affinity")
    assert ok(reader, f"/os-server-groups/{group['id']}", "2.64")["server_group"]["id"] == \
        group["id"]
    assert error(reader, "/os-server-groups", "2.64", "POST",
                 {"server_group": {"name": "g", "policy": "affinity"}}) == \
        (403, "Policy doesn't allow os_compute_api:os-server-groups:create to be performed.")
    assert error(reader, f"/os-server-groups/{group['id']}", "2.64", "DELETE") == \
        (403, "Policy doesn't allow os_compute_api:os-server-groups:delete to be performed.")


def test_list_pages_with_limit_and_offset(cloud, demo):
    ids = [_create(demo, "2.64", name=f"g{n}", policy="affinity")["id"] for n in range(5)]

    def listed(query: str, version: str = "2.64") -> list[str]:
        return [g["id"] for g in ok(demo, f"/os-server-groups{query}", version)["server_groups"]]
    assert listed("") == ids
    assert listed("?limit=2") == ids[:2]
    assert listed("?limit=2&offset=2") == ids[2:4]
    assert listed("?offset=4") == ids[4:]
    assert listed("?offset=9") == []
    assert listed("?bogus=1", "2.74") == ids
    assert error(demo, "/os-server-groups?bogus=1", "2.75") == \
        (400, "Additional properties are not allowed ('bogus' was unexpected)")
    assert error(demo, "/os-server-groups?limit=-1", "2.64")[0] == 400


def test_the_sdk_creates_lists_and_deletes_groups(cloud, demo):
    group = demo.compute.create_server_group(name="sdk", policy="soft-anti-affinity")
    assert group.policy == "soft-anti-affinity"
    assert [g.id for g in demo.compute.server_groups()] == [group.id]
    assert demo.compute.get_server_group(group.id).name == "sdk"
    demo.compute.delete_server_group(group)
    assert list(demo.compute.server_groups()) == []


def test_a_project_may_have_only_its_quota_of_groups(tmp_path):
    cloud = make_cloud(tmp_path, quota__server_groups=2)
    try:
        demo = connect(cloud, "demo:demo:member,reader")
        first = _create(demo, "2.64", name="a", policy="affinity")
        _create(demo, "2.64", name="b", policy="affinity")
        assert error(demo, "/os-server-groups", "2.64", "POST",
                     {"server_group": {"name": "c", "policy": "affinity"}}) == \
            (403, "Quota exceeded, too many server groups.")
        assert len(ok(demo, "/os-server-groups", "2.64")["server_groups"]) == 2
        # another project has its own quota; a deleted group frees its slot
        other = connect(cloud, "eve:other:member,reader")
        _create(other, "2.64", name="c", policy="affinity")
        call(demo, f"/os-server-groups/{first['id']}", "2.64", "DELETE")
        _create(demo, "2.64", name="c", policy="affinity")
    finally:
        cloud.stop()


# -- servers in groups ---------------------------------------------------------------------------

def test_a_server_created_with_the_group_hint_is_a_member_until_deleted(cloud, demo):
    group = _create(demo, "2.64", name="g", policy="anti-affinity")
    server = _server_in_group(demo, group["id"])
    assert ok(demo, f"/os-server-groups/{group['id']}", "2.64")["server_group"]["members"] == \
        [server.id]
    assert ok(demo, f"/servers/{server.id}", "2.71")["server"]["server_groups"] == [group["id"]]
    assert "server_groups" not in ok(demo, f"/servers/{server.id}", "2.70")["server"]
    status, updated, _ = call(demo, f"/servers/{server.id}", "2.71", "PUT",
                              {"server": {"name": "renamed"}})
    assert updated["server"]["server_groups"] == [group["id"]]
    plain = create_server(demo, name="loner")
    assert ok(demo, f"/servers/{plain.id}", "2.71")["server"]["server_groups"] == []

    demo.compute.delete_server(server)
    wait_until(lambda: not ok(demo, f"/os-server-groups/{group['id']}", "2.64")
               ["server_group"]["members"], message="the deleted server to leave its group")


def test_deleting_a_group_leaves_its_servers_alone(cloud, demo):
    group = _create(demo, "2.64", name="g", policy="affinity")
    server = _server_in_group(demo, group["id"])
    call(demo, f"/os-server-groups/{group['id']}", "2.64", "DELETE")
    assert ok(demo, f"/servers/{server.id}", "2.71")["server"]["server_groups"] == []


@pytest.mark.parametrize("hint, message", [
    ("not-a-uuid", "Invalid input for field/attribute group. Value: not-a-uuid. 'not-a-uuid' "
                   "is not a 'uuid'"),
    ("6a0f3a1e-3f5c-4c86-9d7b-6d1b2b6a2c11",
     "Instance group 6a0f3a1e-3f5c-4c86-9d7b-6d1b2b6a2c11 could not be found."),
])
def test_a_server_hinting_at_an_unknown_group_is_refused(cloud, demo, hint, message):
    status, text = error(demo, "/servers", "2.64", "POST", _server_body(demo, hint))
    assert (status, text) == (400, message)
    assert list(demo.compute.servers()) == []


def test_another_projects_group_cannot_be_joined(cloud, demo, other_project):
    theirs = _create(other_project, "2.64", name="theirs", policy="affinity")
    assert error(demo, "/servers", "2.64", "POST", _server_body(demo, theirs["id"])) == \
        (400, f"Instance group {theirs['id']} could not be found.")
    assert list(demo.compute.servers()) == []


def test_a_full_group_refuses_another_member_and_no_server_is_left(tmp_path):
    cloud = make_cloud(tmp_path, quota__server_group_members=1)
    try:
        demo = connect(cloud, "demo:demo:member,reader")
        group = _create(demo, "2.64", name="g", policy="soft-affinity")
        first = _server_in_group(demo, group["id"])
        assert error(demo, "/servers", "2.64", "POST", _server_body(demo, group["id"])) == \
            (403, "Quota exceeded, too many servers in group")
        assert [s.id for s in demo.compute.servers()] == [first.id]
        assert ok(demo, f"/os-server-groups/{group['id']}", "2.64")["server_group"]["members"] \
            == [first.id]
    finally:
        cloud.stop()


def _server_body(conn, group_id: str) -> dict:
    return {"server": {"name": "vm", "flavorRef": conn.compute.find_flavor("m1.tiny").id,
                       "imageRef": conn.image.find_image("herder-guest").id,
                       "networks": "auto"},
            "os:scheduler_hints": {"group": group_id}}
