"""Version documents, microversion negotiation, the error format, and server
bodies that change with the microversion."""
import json

import pytest

from herder.api import microversion
from tests.functional.contract import (LEGACY_VERSION_HEADER, VERSION_HEADER, action,
                                       assert_echoes_version, assert_error, raw)
from tests.functional.observe import create_server, instance_record

MAX = microversion.max_version()


# -- version documents ----------------------------------------------------------------------------

def test_root_lists_v2_0_and_v2_1_without_a_token(cloud):
    resp = raw(cloud, "GET", "/")
    assert resp.status_code == 200
    versions = {v["id"]: v for v in resp.json()["versions"]}
    assert set(versions) == {"v2.0", "v2.1"}
    v20 = versions["v2.0"]
    assert (v20["status"], v20["version"], v20["min_version"]) == ("DEPRECATED", "", "")
    assert versions["v2.1"] == {
        "id": "v2.1", "status": "CURRENT", "version": MAX, "min_version": "2.1",
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{cloud.endpoint}/v2.1/"}]}
    # the root is not versioned: it speaks no microversion
    assert VERSION_HEADER not in resp.headers


def test_v2_1_document_with_and_without_the_slash(cloud):
    for path in ("/v2.1", "/v2.1/"):
        resp = raw(cloud, "GET", path)
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"version": {
            "id": "v2.1", "status": "CURRENT", "version": MAX, "min_version": "2.1",
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{cloud.endpoint}/v2.1/"},
                      {"rel": "describedby", "type": "text/html",
                       "href": "http://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2.1"}]}}
        assert_echoes_version(resp, "2.1")


# -- negotiation ----------------------------------------------------------------------------------

def test_every_versioned_response_echoes_the_microversion_errors_too(cloud, admin):
    server = create_server(admin)
    token = cloud.conf.admin_token
    calls = [("GET", "/v2.1/servers", None, token, 200),
             ("GET", f"/v2.1/servers/{server.id}", None, token, 200),
             ("GET", "/v2.1/servers/no-such-server", None, token, 404),
             ("GET", "/v2.1/no-such-collection", None, token, 404),
             ("PATCH", "/v2.1/servers", None, token, 405),
             ("POST", f"/v2.1/servers/{server.id}/action", '{"noSuchAction": null}', token, 400),
             ("POST", f"/v2.1/servers/{server.id}/action", '{"confirmResize": null}', token, 409),
             ("GET", "/v2.1/servers", None, None, 401),
             ("GET", "/v2.1/servers", None, "eve:other:nothing", 403),
             ("GET", "/v2.1/", None, None, 200)]
    for sent, echoed in ((None, "2.1"), ("2.1", "2.1"), ("2.56", "2.56"), (MAX, MAX),
                         ("latest", MAX)):
        for method, path, data, auth, code in calls:
            resp = raw(cloud, method, path, auth, version=sent, data=data)
            assert resp.status_code == code, (method, path, sent, resp.status_code, resp.text)
            assert_echoes_version(resp, echoed)


def test_the_legacy_header_is_read_when_the_new_one_names_no_compute_version(cloud):
    token = cloud.conf.admin_token
    cases = [({LEGACY_VERSION_HEADER: "2.40"}, "2.40"),
             ({LEGACY_VERSION_HEADER: "latest"}, MAX),
             ({VERSION_HEADER: "compute 2.60", LEGACY_VERSION_HEADER: "2.30"}, "2.60"),
             ({VERSION_HEADER: "volume 3.50", LEGACY_VERSION_HEADER: "2.30"}, "2.30"),
             ({VERSION_HEADER: "volume 3.50, compute 2.12"}, "2.12"),
             ({VERSION_HEADER: "volume 3.50"}, "2.1")]
    for headers, echoed in cases:
        resp = raw(cloud, "GET", "/v2.1/servers", token, headers=headers)
        assert resp.status_code == 200, (headers, resp.text)
        assert_echoes_version(resp, echoed)


@pytest.mark.parametrize("header", [VERSION_HEADER, LEGACY_VERSION_HEADER])
def test_a_malformed_version_is_400_and_echoes_none(cloud, header):
    for value in ("2", "2.x", "two.one", "2.1.1", "2.01", "v2.1", "-2.1"):
        sent = f"compute {value}" if header == VERSION_HEADER else value
        resp = raw(cloud, "GET", "/v2.1/servers", cloud.conf.admin_token, headers={header: sent})
        assert_error(resp, 400, f"API Version String {value} is of invalid format. Must be of "
                                "format MajorNum.MinorNum.")
        assert VERSION_HEADER not in resp.headers and LEGACY_VERSION_HEADER not in resp.headers
        assert VERSION_HEADER in resp.headers.get("Vary", "")


def test_a_version_out_of_range_is_406_with_novas_message(cloud):
    for value in ("2.0", "1.1", "3.0", "2.1000", f"2.{int(MAX.split('.')[1]) + 1}"):
        resp = raw(cloud, "GET", "/v2.1/servers", cloud.conf.admin_token, version=value)
        assert_error(resp, 406, f"Version {value} is not supported by the API. Minimum is 2.1 "
                                f"and maximum is {MAX}.")
        # as Nova: the refused version is what the response says it speaks
        assert_echoes_version(resp, value)


def test_the_range_bounds_are_supported(cloud):
    for value in ("2.1", MAX):
        resp = raw(cloud, "GET", "/v2.1/servers", cloud.conf.admin_token, version=value)
        assert resp.status_code == 200
        assert_echoes_version(resp, value)


# -- the error format -----------------------------------------------------------------------------

def test_schema_errors_name_the_field_or_give_the_bare_reason(cloud, admin):
    token = cloud.conf.admin_token
    # about the body as a whole: the bare jsonschema reason, as Nova
    assert_error(raw(cloud, "POST", "/v2.1/servers", token, data="{}"), 400,
                 "'server' is a required property")
    server = create_server(admin)
    # about a field: the field, its value and the reason
    assert_error(admin.compute.put(f"/servers/{server.id}", json={"server": {"name": ""}}),
                 400, "Invalid input for field/attribute name. Value: . '' should be non-empty")
    # description is a 2.19 field: before it, it is an unexpected property
    body = {"server": {"description": "hello"}}
    assert_error(admin.compute.put(f"/servers/{server.id}", json=body, microversion="2.18"), 400,
                 "Invalid input for field/attribute server. Value: {'description': 'hello'}. "
                 "Additional properties are not allowed ('description' was unexpected)")
    resp = admin.compute.put(f"/servers/{server.id}", json=body, microversion="2.19")
    assert resp.status_code == 200 and resp.json()["server"]["description"] == "hello"


# -- server bodies by microversion ----------------------------------------------------------------

BASE_KEYS = {"id", "name", "status", "tenant_id", "user_id", "metadata", "hostId", "image",
             "flavor", "created", "updated", "addresses", "accessIPv4", "accessIPv6", "links",
             "OS-DCF:diskConfig", "progress", "OS-EXT-AZ:availability_zone", "config_drive",
             "key_name", "OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at",
             "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state",
             "os-extended-volumes:volumes_attached", "security_groups"}
ADMIN_KEYS_21 = {"OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:instance_name",
                 "OS-EXT-SRV-ATTR:hypervisor_hostname"}
ADMIN_KEYS_23 = {"OS-EXT-SRV-ATTR:reservation_id", "OS-EXT-SRV-ATTR:launch_index",
                 "OS-EXT-SRV-ATTR:kernel_id", "OS-EXT-SRV-ATTR:ramdisk_id",
                 "OS-EXT-SRV-ATTR:hostname", "OS-EXT-SRV-ATTR:root_device_name",
                 "OS-EXT-SRV-ATTR:user_data"}
# (microversion, keys a project member sees in show on top of BASE_KEYS)
MEMBER_KEYS_BY_VERSION = [
    ("2.1", set()), ("2.8", set()), ("2.9", {"locked"}), ("2.16", {"locked"}),
    ("2.19", {"locked", "description"}), ("2.26", {"locked", "description", "tags"}),
    ("2.63", {"locked", "description", "tags", "trusted_image_certificates"}),
    ("2.71", {"locked", "description", "tags", "trusted_image_certificates", "server_groups"}),
    ("2.73", {"locked", "description", "tags", "trusted_image_certificates", "server_groups",
              "locked_reason"}),
    ("2.89", {"locked", "description", "tags", "trusted_image_certificates", "server_groups",
              "locked_reason"}),
    ("2.90", {"locked", "description", "tags", "trusted_image_certificates", "server_groups",
              "locked_reason", "OS-EXT-SRV-ATTR:hostname"}),
    ("2.96", {"locked", "description", "tags", "trusted_image_certificates", "server_groups",
              "locked_reason", "OS-EXT-SRV-ATTR:hostname", "pinned_availability_zone"}),
    (MAX, {"locked", "description", "tags", "trusted_image_certificates", "server_groups",
           "locked_reason", "OS-EXT-SRV-ATTR:hostname", "pinned_availability_zone",
           "scheduler_hints"}),
]


def show(conn, server_id: str, version: str) -> dict:
    resp = conn.compute.get(f"/servers/{server_id}", microversion=version)
    assert resp.status_code == 200, resp.text
    assert_echoes_version(resp, version)
    return resp.json()["server"]


def test_a_members_server_body_grows_field_by_field_with_the_microversion(cloud, demo):
    server = create_server(demo)
    for version, extra in MEMBER_KEYS_BY_VERSION:
        body = show(demo, server.id, version)
        assert set(body) == BASE_KEYS | extra, (version, set(body) ^ (BASE_KEYS | extra))
    old = show(demo, server.id, "2.1")
    assert old["flavor"] == {"id": "1", "links": [
        {"rel": "bookmark", "href": f"{cloud.endpoint}/flavors/1"}]}
    assert old["image"]["id"] == instance_record(cloud, server.id).image_ref
    new = show(demo, server.id, MAX)
    assert (new["locked"], new["description"], new["tags"], new["locked_reason"]) == \
        (False, None, [], None)


def test_from_2_47_the_flavor_is_embedded_with_its_extra_specs_for_project_readers(cloud, demo,
                                                                                  other_project):
    server = create_server(demo)
    assert show(demo, server.id, "2.46")["flavor"]["id"] == "1"
    flavor = show(demo, server.id, "2.47")["flavor"]
    assert flavor == {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
                      "original_name": "m1.tiny", "extra_specs": {}}
    # detail follows the same rules
    resp = demo.compute.get("/servers/detail", microversion="2.47")
    assert [s["flavor"] for s in resp.json()["servers"]] == [flavor]
    resp = demo.compute.get("/servers/detail", microversion="2.46")
    assert resp.json()["servers"][0]["flavor"]["id"] == "1"


def test_admins_see_host_attributes_by_microversion(cloud, admin):
    server = create_server(admin)
    host = instance_record(cloud, server.id).host
    at_21 = show(admin, server.id, "2.1")
    assert set(at_21) == BASE_KEYS | ADMIN_KEYS_21
    assert at_21["OS-EXT-SRV-ATTR:host"] == host
    assert set(show(admin, server.id, "2.3")) == BASE_KEYS | ADMIN_KEYS_21 | ADMIN_KEYS_23
    at_16 = show(admin, server.id, "2.16")
    assert at_16["host_status"] == "UP"
    at_max = show(admin, server.id, MAX)
    assert set(at_max) == (BASE_KEYS | ADMIN_KEYS_21 | ADMIN_KEYS_23 | {"host_status"} |
                           MEMBER_KEYS_BY_VERSION[-1][1])


def test_action_responses_echo_the_version_they_were_asked_in(cloud, admin):
    server = create_server(admin)
    resp = action(admin, server.id, {"migrate": None}, "2.56")
    assert resp.status_code == 202 and resp.text == ""
    assert_echoes_version(resp, "2.56")
    resp = action(admin, server.id, {"migrate": None}, "2.56")
    assert resp.status_code == 409
    assert_echoes_version(resp, "2.56")
    assert json.loads(resp.text)["conflictingRequest"]["code"] == 409
