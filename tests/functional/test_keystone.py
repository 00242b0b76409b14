"""Production authentication: herder in keystone mode behind a real Keystone.

Clients log in with a password, find herder's compute and image endpoints in the service
catalog, and send Keystone tokens; keystonemiddleware validates them, and the user, project and
roles in the token are what policy decides on. Keystone runs from .venv-keystone
(scripts/keystone/install.sh); the module is skipped without it, except in CI, where that fails.
"""
import json
import os

import openstack
import pytest
import requests
import yaml

from herder.conf import build_conf
from herder.embedded import EmbeddedCloud
from tests import databases
from tests.functional.contract import action, assert_error, raw
from tests.functional.observe import (assert_consistent, create_server, instance_record,
                                      wait_for_status)
from tests.functional import openstack_cli
from tests.keystone import server as keystone_server

if not keystone_server.installed():
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"Keystone is not installed in {keystone_server.VENV}: CI must run "
                    "scripts/keystone/install.sh", pytrace=False)
    pytest.skip(f"no Keystone in {keystone_server.VENV} (run scripts/keystone/install.sh)",
                allow_module_level=True)

UNAUTHORIZED = "The request you have made requires authentication."


@pytest.fixture(scope="module")
def keystone(tmp_path_factory):
    server = keystone_server.KeystoneServer(str(tmp_path_factory.mktemp("keystone"))).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def herder_port():
    return keystone_server.free_port()


@pytest.fixture(scope="module")
def accounts(keystone, herder_port):
    return keystone_server.register_herder(keystone, f"http://127.0.0.1:{herder_port}")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, keystone, accounts, herder_port):
    """herder in keystone mode, configured the way an operator would: a herder.conf file."""
    state_dir = tmp_path_factory.mktemp("herder")
    config_file = state_dir / "herder.conf"
    config_file.write_text(keystone_server.herder_keystone_config(keystone, accounts.service))
    settings = {"state_dir": str(state_dir), "api__port": herder_port,
                "compute__periodic_interval": 0.05, "report_interval": 1}
    database = databases.SERVER.create() if databases.SERVER is not None else None
    if database:
        settings["database__connection"] = database
    cloud = EmbeddedCloud(build_conf([], [str(config_file)], **settings), hosts=3)
    cloud.start()
    yield cloud
    cloud.stop()
    if database:
        databases.SERVER.drop(database)


def login(keystone, account) -> openstack.connection.Connection:
    return openstack.connect(**account.connect_args(keystone.auth_url))


@pytest.fixture(scope="module")
def admin(keystone, accounts, cloud):
    return login(keystone, accounts.admin)


@pytest.fixture(scope="module")
def member(keystone, accounts, cloud):
    return login(keystone, accounts.member)


@pytest.fixture(scope="module")
def other(keystone, accounts, cloud):
    return login(keystone, accounts.other)


def test_the_catalog_leads_clients_to_herder(cloud, member):
    assert member.compute.get_endpoint().rstrip("/") == f"{cloud.endpoint}/v2.1"
    assert member.image.find_image("herder-guest") is not None
    assert member.compute.find_flavor("m1.tiny") is not None


def test_server_belongs_to_the_user_and_project_of_the_token(cloud, member, accounts):
    server = create_server(member, "owned")
    shown = member.compute.get(f"/servers/{server.id}").json()["server"]
    assert (shown["user_id"], shown["tenant_id"]) == (accounts.member.user_id,
                                                     accounts.member.project_id)
    record = instance_record(cloud, server.id)
    assert (record.user_id, record.project_id) == (accounts.member.user_id,
                                                   accounts.member.project_id)


def test_admin_migrates_a_members_server_and_confirms(cloud, admin, member):
    server = create_server(member, "migrated")
    source = instance_record(cloud, server.id).host
    resp = action(admin, server.id, {"migrate": None})
    assert resp.status_code == 202, resp.text
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    assert action(admin, server.id, {"confirmResize": None}).status_code == 204
    wait_for_status(member, server.id, "ACTIVE")
    assert instance_record(cloud, server.id).host != source
    assert_consistent(cloud)


def test_member_resizes_their_own_server(cloud, member):
    server = create_server(member, "resized")
    resp = action(member, server.id, {"resize": {"flavorRef": "2"}})
    assert resp.status_code == 202, resp.text
    wait_for_status(member, server.id, "VERIFY_RESIZE")
    assert action(member, server.id, {"confirmResize": None}).status_code == 204
    assert wait_for_status(member, server.id, "ACTIVE").flavor["original_name"] == "m1.small"
    assert_consistent(cloud)


def test_member_may_not_migrate(cloud, member):
    server = create_server(member, "pinned")
    assert_error(action(member, server.id, {"migrate": None}), 403,
                 "Policy doesn't allow os_compute_api:os-migrate-server:migrate to be performed.")
    assert instance_record(cloud, server.id).task_state is None


def test_another_projects_member_finds_no_such_server(cloud, member, other):
    server = create_server(member, "private")
    missing = f"Instance {server.id} could not be found."
    assert_error(other.compute.get(f"/servers/{server.id}"), 404, missing)
    assert_error(action(other, server.id, {"resize": {"flavorRef": "2"}}), 404, missing)
    assert server.id not in {s.id for s in other.compute.servers()}


def test_bad_missing_and_noauth_tokens_are_401(cloud, member):
    server = create_server(member, "guarded")
    # the embedded admin token and noauth's user:project:roles mean nothing in keystone mode
    for token in (None, "not-a-keystone-token", cloud.conf.admin_token, "mallory:demo:admin"):
        resp = raw(cloud, "GET", f"/v2.1/servers/{server.id}", token)
        assert_error(resp, 401, UNAUTHORIZED)
        # where to get a token, as keystonemiddleware tells every refused client
        assert resp.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_identity_headers_from_the_client_are_not_believed(cloud, member, accounts):
    server = create_server(member, "spoofed")
    forged = {"X-Identity-Status": "Confirmed", "X-Roles": "admin",
              "X-User-Id": accounts.other.user_id, "X-Project-Id": accounts.other.project_id}
    resp = raw(cloud, "GET", f"/v2.1/servers/{server.id}", headers=forged)
    assert_error(resp, 401, UNAUTHORIZED)
    # with a real member token, forged role headers do not make an admin either
    token = member.session.get_token()
    resp = raw(cloud, "POST", f"/v2.1/servers/{server.id}/action", token,
               data='{"migrate": null}', headers={"X-Roles": "admin"})
    assert resp.status_code == 403, resp.text


def test_version_documents_need_no_token(cloud):
    for path in ("/", "/v2.1", "/v2.1/"):
        resp = requests.get(f"{cloud.endpoint}{path}", timeout=10)
        assert resp.status_code == 200, (path, resp.text)


def test_the_openstack_cli_logs_in_with_a_password_and_moves_a_server(cloud, keystone,
                                                                       accounts, tmp_path):
    """The unmodified CLI as an operator runs it against a real cloud: a clouds.yaml with a
    password and Keystone's URL, herder found through the service catalog."""
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(yaml.safe_dump({"clouds": {
        name: {key: value for key, value in account.connect_args(keystone.auth_url).items()
               if key not in ("load_yaml_config", "load_envvars")}
        for name, account in (("ks-admin", accounts.admin), ("ks-member", accounts.member))}}))
    served = {"clouds": str(clouds)}
    cli = openstack_cli.openstack_cli
    created = json.loads(cli(served, "server", "create", "--flavor", "m1.tiny", "--image",
                             "herder-guest", "--wait", "cli-vm", "-f", "json",
                             cloud="ks-member").stdout)
    server = created["id"]  # the admin works in another project: by id, not by name
    source = openstack_cli.show(served, server, cloud="ks-admin")["OS-EXT-SRV-ATTR:host"]
    refused = cli(served, "server", "migrate", "cli-vm", cloud="ks-member", check=False)
    assert refused.returncode != 0 and "os-migrate-server:migrate" in refused.stderr
    cli(served, "server", "migrate", "--wait", server, cloud="ks-admin")
    cli(served, "server", "migration", "confirm", server, cloud="ks-admin")
    moved = openstack_cli.wait_status(served, server, "ACTIVE", cloud="ks-admin")
    assert moved["OS-EXT-SRV-ATTR:host"] not in (source, None)
    cli(served, "server", "delete", "--wait", "cli-vm", cloud="ks-member")
    assert_consistent(cloud)


def test_the_dashboard_takes_keystone_tokens_and_their_roles(cloud, admin, member):
    """The dashboard's login keeps a Keystone token, which keystonemiddleware validates on
    every request as it does the API's; the token's roles decide what the page shows."""
    from tests.functional.browser import DashboardClient
    server = create_server(member, "on-the-dashboard")
    as_member = DashboardClient(cloud, member.auth_token)
    page = as_member.page()
    assert f'data-server="{server.id}"' in page and "<h2>Hosts" not in page
    as_admin = DashboardClient(cloud, admin.auth_token)
    assert "<h2>Hosts" in as_admin.page() and f'data-server="{server.id}"' in as_admin.page()
    forged = DashboardClient(cloud, "gAAAAABnot-a-keystone-token")
    refused = forged.request("GET", "/dashboard")
    assert refused.status == 401 and b"Your token was refused" in refused.body
    for client in (as_member, as_admin, forged):
        client.close()
