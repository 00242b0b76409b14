"""Private flavors: who may see and use them, and os-flavor-access to give and take access."""
from tests.functional.api_reads import call, error, ok
from tests.functional.observe import create_server


def _private_flavor(admin, flavor_id: str = "private-1") -> dict:
    status, body, _ = call(admin, "/flavors", "2.1", "POST", {"flavor": {
        "id": flavor_id, "name": f"{flavor_id}-name", "ram": 512, "vcpus": 1, "disk": 1,
        "os-flavor-access:is_public": False}})
    assert status == 200, body
    assert body["flavor"]["os-flavor-access:is_public"] is False
    return body["flavor"]


def _give(conn, flavor_id: str, project: str, name: str = "addTenantAccess"):
    return call(conn, f"/flavors/{flavor_id}/action", "2.1", "POST",
                {name: {"tenant": project}})


def _listed(conn, query: str = "") -> set[str]:
    return {f["id"] for f in ok(conn, f"/flavors{query}", "2.1")["flavors"]}


def test_a_private_flavor_is_seen_and_used_only_by_projects_given_access(cloud, admin, demo,
                                                                         other_project):
    _private_flavor(admin)
    assert "private-1" not in _listed(demo)
    assert error(demo, "/flavors/private-1", "2.1") == \
        (404, "Flavor private-1 could not be found.")
    assert ok(admin, "/flavors/private-1", "2.1")["flavor"]["id"] == "private-1"
    assert "private-1" in _listed(admin, "?is_public=none")
    assert _listed(admin, "?is_public=false") == {"private-1"}

    status, body, _ = _give(admin, "private-1", "demo")
    assert (status, body) == (200, {"flavor_access": [{"flavor_id": "private-1",
                                                       "tenant_id": "demo"}]})
    assert "private-1" in _listed(demo)
    assert _listed(demo, "?is_public=false") == _listed(demo)   # members: ignored
    assert ok(demo, "/flavors/private-1", "2.1")["flavor"]["os-flavor-access:is_public"] \
        is False
    assert create_server(demo, flavor="private-1-name").status == "ACTIVE"
    assert "private-1" not in _listed(other_project)

    assert ok(admin, "/flavors/private-1/os-flavor-access", "2.1") == \
        {"flavor_access": [{"flavor_id": "private-1", "tenant_id": "demo"}]}
    assert [a["tenant_id"] for a in admin.compute.get_flavor_access("private-1")] == ["demo"]
    admin.compute.flavor_add_tenant_access("private-1", "other")
    assert [a["tenant_id"] for a in
            ok(admin, "/flavors/private-1/os-flavor-access", "2.1")["flavor_access"]] == \
        ["demo", "other"]

    status, body, _ = _give(admin, "private-1", "demo", "removeTenantAccess")
    assert (status, body) == (200, {"flavor_access": [{"flavor_id": "private-1",
                                                       "tenant_id": "other"}]})
    assert "private-1" not in _listed(demo)
    image = demo.image.find_image("herder-guest")
    status, body, _ = call(demo, "/servers", "2.1", "POST", {"server": {
        "name": "no-access", "flavorRef": "private-1", "imageRef": image.id}})
    assert (status, body["badRequest"]["message"]) == \
        (400, "Flavor private-1 could not be found.")


def test_access_changes_are_for_admins_and_refuse_what_makes_no_sense(cloud, admin, demo):
    _private_flavor(admin)
    assert error(demo, "/flavors/private-1/os-flavor-access", "2.1") == \
        (403, "Policy doesn't allow os_compute_api:os-flavor-access to be performed.")
    status, body, _ = _give(demo, "private-1", "demo")
    assert (status, body["forbidden"]["message"]) == \
        (403, "Policy doesn't allow os_compute_api:os-flavor-access:add_tenant_access to be "
              "performed.")
    assert error(demo, "/flavors/private-1/action", "2.1", "POST",
                 {"removeTenantAccess": {"tenant": "demo"}})[0] == 403

    assert error(admin, "/flavors/1/os-flavor-access", "2.1") == \
        (404, "Access list not available for public flavors.")
    assert error(admin, "/flavors/nope/os-flavor-access", "2.1") == \
        (404, "Flavor nope could not be found.")
    assert error(admin, "/flavors/1/action", "2.1", "POST",
                 {"addTenantAccess": {"tenant": "demo"}}) == \
        (409, "Can not add access to a public flavor.")
    assert error(admin, "/flavors/nope/action", "2.1", "POST",
                 {"addTenantAccess": {"tenant": "demo"}}) == \
        (404, "Flavor nope could not be found.")
    assert _give(admin, "private-1", "demo")[0] == 200
    assert error(admin, "/flavors/private-1/action", "2.1", "POST",
                 {"addTenantAccess": {"tenant": "demo"}}) == \
        (409, "Flavor access already exists for flavor private-1 and project demo "
              "combination.")
    assert error(admin, "/flavors/private-1/action", "2.1", "POST",
                 {"removeTenantAccess": {"tenant": "other"}}) == \
        (404, "Flavor access not found for private-1 / other combination.")

    for body in ({"addTenantAccess": {}}, {"addTenantAccess": {"tenant": ""}},
                 {"addTenantAccess": {"tenant": "x" * 256}},
                 {"addTenantAccess": {"tenant": "demo", "extra": 1}},
                 {"addTenantAccess": None}, [], {}):
        assert error(admin, "/flavors/private-1/action", "2.1", "POST", body)[0] == 400, body
    assert error(admin, "/flavors/private-1/action", "2.1", "POST", {"shareWith": {}}) == \
        (400, "There is no such action: shareWith")
    assert ok(admin, "/flavors/private-1/os-flavor-access", "2.1")["flavor_access"] == \
        [{"flavor_id": "private-1", "tenant_id": "demo"}]


def test_deleting_a_private_flavor_forgets_its_access_list(cloud, admin, demo):
    _private_flavor(admin)
    assert _give(admin, "private-1", "demo")[0] == 200
    assert call(admin, "/flavors/private-1", "2.1", "DELETE")[0] == 202
    _private_flavor(admin)     # the same id again starts with no access
    assert ok(admin, "/flavors/private-1/os-flavor-access", "2.1") == {"flavor_access": []}
    assert "private-1" not in _listed(demo)
