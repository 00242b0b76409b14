"""Who may call the API at all, who sees which servers, who may move them, and
an operator's policy file taking effect in a running cloud."""
import json
import os
import time

from herder import states
from tests.conftest import connect
from tests.functional.contract import action, assert_error, raw
from tests.functional.observe import create_server, instance_record, wait_for_status

UNAUTHORIZED = "The request you have made requires authentication."


def denied(rule: str) -> str:
    return f"Policy doesn't allow {rule} to be performed."


def server_ids(conn, query: str = "") -> set[str]:
    resp = conn.compute.get(f"/servers{query}")
    assert resp.status_code == 200, resp.text
    return {s["id"] for s in resp.json()["servers"]}


# -- authentication ------------------------------------------------------------------------------

def test_requests_without_a_valid_token_are_401_in_the_error_format(cloud, admin):
    server = create_server(admin)
    calls = [("GET", "/v2.1/servers", None), ("GET", "/v2.1/servers/detail", None),
             ("GET", f"/v2.1/servers/{server.id}", None),
             ("POST", f"/v2.1/servers/{server.id}/action", json.dumps({"migrate": None})),
             ("DELETE", f"/v2.1/servers/{server.id}", None), ("GET", "/v2.1/flavors", None)]
    for token in (None, "", "nonsense", "user-only:", ":project-only", "a:b:c:d",
                  cloud.conf.admin_token + "x"):
        for method, path, data in calls:
            assert_error(raw(cloud, method, path, token, data=data), 401, UNAUTHORIZED)
    assert wait_for_status(admin, server.id, "ACTIVE", timeout=0.1)
    assert instance_record(cloud, server.id).task_state is None


def test_version_documents_need_no_token(cloud):
    for path in ("/", "/v2.1", "/v2.1/"):
        resp = raw(cloud, "GET", path)
        assert resp.status_code == 200, (path, resp.text)
        assert "versions" in resp.json() or "version" in resp.json()


def test_token_forms_user_project_roles_and_the_admin_token(cloud, admin, demo):
    mine = create_server(demo)
    theirs = create_server(admin)
    # no roles given: a member and reader of the project
    plain = connect(cloud, "bob:demo")
    assert server_ids(plain) == {mine.id}
    assert plain.compute.get(f"/servers/{mine.id}").json()["server"]["user_id"] == "demo"
    # roles as given: a reader sees, but does not resize
    reader = connect(cloud, "rita:demo:reader")
    assert server_ids(reader) == {mine.id}
    assert_error(action(reader, mine.id, {"resize": {"flavorRef": "2"}}), 403,
                 denied("os_compute_api:servers:resize"))
    # no role that any rule knows: nothing at all
    nobody = connect(cloud, "nina:demo:observer")
    assert_error(nobody.compute.get("/servers"), 403, denied("os_compute_api:servers:index"))
    # the admin token, and the admin role in a token, are administrators
    assert server_ids(admin, "?all_tenants=1") >= {mine.id, theirs.id}
    ops = connect(cloud, "olga:ops:admin")
    assert server_ids(ops, "?all_tenants=1") >= {mine.id, theirs.id}
    assert ops.compute.get(f"/servers/{mine.id}").status_code == 200


# -- isolation between projects ------------------------------------------------------------------

def test_another_projects_server_does_not_exist_for_a_non_admin(cloud, admin, demo,
                                                                 other_project):
    server = create_server(demo)
    missing = f"Instance {server.id} could not be found."
    assert_error(other_project.compute.get(f"/servers/{server.id}"), 404, missing)
    assert_error(other_project.compute.put(f"/servers/{server.id}",
                                           json={"server": {"name": "mine-now"}}), 404, missing)
    assert_error(other_project.compute.delete(f"/servers/{server.id}"), 404, missing)
    for body in ({"migrate": None}, {"resize": {"flavorRef": "2"}}, {"confirmResize": None},
                 {"revertResize": None}, {"os-stop": None}, {"lock": None}):
        assert_error(action(other_project, server.id, body), 404, missing)
    assert server.id not in server_ids(other_project)
    # asking for every project is an admin's privilege, so a member still sees only their own
    assert server.id not in server_ids(other_project, "?all_tenants=1")
    assert server.id not in server_ids(other_project, "?project_id=demo")
    # nothing happened to it
    record = instance_record(cloud, server.id)
    assert (record.display_name, record.vm_state, record.task_state, record.locked) == \
        ("vm", states.ACTIVE, None, False)
    assert server.id in server_ids(admin, "?all_tenants=1")


# -- who may move a server -----------------------------------------------------------------------

def test_only_admins_migrate_by_default(cloud, admin, demo):
    server = create_server(demo)
    assert_error(action(demo, server.id, {"migrate": None}), 403,
                 denied("os_compute_api:os-migrate-server:migrate"))
    assert_error(action(demo, server.id, {"migrate": {"host": "compute3"}}, "2.56"), 403,
                 denied("os_compute_api:os-migrate-server:migrate:host"))
    ops = connect(cloud, "olga:ops:admin")   # an admin from another project
    source = instance_record(cloud, server.id).host
    target = next(h for h in sorted(cloud.computes) if h != source)
    assert action(ops, server.id, {"migrate": {"host": target}}, "2.56").status_code == 202
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    assert instance_record(cloud, server.id).host == target


def test_project_members_resize_confirm_and_revert_their_own_servers(cloud, demo):
    server = create_server(demo)
    assert action(demo, server.id, {"resize": {"flavorRef": "2"}}).status_code == 202
    wait_for_status(demo, server.id, "VERIFY_RESIZE")
    reader = connect(cloud, "rita:demo:reader")
    assert_error(action(reader, server.id, {"confirmResize": None}), 403,
                 denied("os_compute_api:servers:confirm_resize"))
    assert_error(action(reader, server.id, {"revertResize": None}), 403,
                 denied("os_compute_api:servers:revert_resize"))
    assert action(demo, server.id, {"revertResize": None}).status_code == 202
    wait_for_status(demo, server.id, "ACTIVE")
    assert instance_record(cloud, server.id).flavor["flavorid"] == "1"

    assert action(demo, server.id, {"resize": {"flavorRef": "2"}}).status_code == 202
    wait_for_status(demo, server.id, "VERIFY_RESIZE")
    # another member of the same project may finish it
    colleague = connect(cloud, "carl:demo:member")
    assert action(colleague, server.id, {"confirmResize": None}).status_code == 204
    wait_for_status(demo, server.id, "ACTIVE")
    assert instance_record(cloud, server.id).flavor["flavorid"] == "2"


# -- an operator's policy file, changed while the cloud runs -------------------------------------

def _write_policy(path, text: str) -> None:
    """Write the policy file as an operator's editor would. oslo.policy notices a change by the
    file's mtime; two writes within one test can land in the same clock tick, so each write
    moves the mtime on by a second."""
    previous = os.path.getmtime(path) if os.path.exists(path) else time.time()
    path.write_text(text)
    stamp = max(previous + 1, time.time())
    os.utime(path, (stamp, stamp))


def test_a_policy_file_change_is_picked_up_without_a_restart(cloud, admin, demo, tmp_path):
    server = create_server(demo)
    policy_file = tmp_path / "policy.yaml"
    cloud.conf.set_override("policy_file", str(policy_file), group="oslo_policy")
    # the file does not exist yet: the defaults hold
    assert_error(action(demo, server.id, {"migrate": None}), 403,
                 denied("os_compute_api:os-migrate-server:migrate"))

    _write_policy(policy_file, '"os_compute_api:os-migrate-server:migrate": "role:member"\n')
    assert action(demo, server.id, {"migrate": None}).status_code == 202
    wait_for_status(demo, server.id, "VERIFY_RESIZE")

    # tighter than the default, in JSON this time: members may no longer confirm
    _write_policy(policy_file, json.dumps({
        "os_compute_api:os-migrate-server:migrate": "role:member",
        "os_compute_api:servers:confirm_resize": "role:admin"}))
    assert_error(action(demo, server.id, {"confirmResize": None}), 403,
                 denied("os_compute_api:servers:confirm_resize"))
    # rules the file does not name keep their defaults
    assert action(demo, server.id, {"revertResize": None}).status_code == 202
    wait_for_status(demo, server.id, "ACTIVE")

    # the file removed: back to the defaults
    policy_file.unlink()
    assert_error(action(demo, server.id, {"migrate": None}), 403,
                 denied("os_compute_api:os-migrate-server:migrate"))
    assert action(admin, server.id, {"migrate": None}).status_code == 202
    wait_for_status(demo, server.id, "VERIFY_RESIZE")
    assert action(demo, server.id, {"confirmResize": None}).status_code == 204


def test_migrate_with_a_host_is_governed_by_its_own_rule(cloud, demo, tmp_path):
    """As Nova: a migrate naming a host checks `migrate:host` instead of `migrate`."""
    server = create_server(demo)
    policy_file = tmp_path / "policy.yaml"
    _write_policy(policy_file, '"os_compute_api:os-migrate-server:migrate:host": "role:member"\n')
    cloud.conf.set_override("policy_file", str(policy_file), group="oslo_policy")
    assert_error(action(demo, server.id, {"migrate": None}, "2.56"), 403,
                 denied("os_compute_api:os-migrate-server:migrate"))
    source = instance_record(cloud, server.id).host
    target = next(h for h in sorted(cloud.computes) if h != source)
    assert action(demo, server.id, {"migrate": {"host": target}}, "2.56").status_code == 202
    wait_for_status(demo, server.id, "VERIFY_RESIZE")
    assert instance_record(cloud, server.id).host == target
