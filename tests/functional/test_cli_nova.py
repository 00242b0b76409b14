"""The move commands through the unmodified `nova` CLI (python-novaclient), against `herder serve`.

How an operator points novaclient at herder: novaclient has no `--os-cloud`, but it loads any
keystoneauth plugin, so the openrc below uses the same `admin_token` plugin and values as the
clouds.yaml `herder serve` writes (its `auth.token` and `auth.endpoint`):

    export OS_AUTH_TYPE=admin_token
    export OS_TOKEN=<auth.token>                 # the admin token, or user:project:roles
    export OS_ENDPOINT=http://127.0.0.1:8774/v2.1    # the versioned endpoint: novaclient needs it
    export OS_AUTH_URL=http://127.0.0.1:8774/identity   # required by the shell, never called
    export OS_PROJECT_ID=admin                   # required by the shell; the token's project

novaclient then negotiates min(2.96, herder's maximum) from `GET /v2.1`.

What novaclient cannot do this way, and how the tests go around it:
- with `admin_token` every service's endpoint is OS_ENDPOINT, so novaclient's image lookups
  (`nova boot --image NAME`, the image name in `nova show`) go to `/v2.1/v2/images`, which is
  not an image service: servers are created with the `openstack` CLI (clouds.yaml has an image
  endpoint), and `nova show` prints "Image not found" beside the image id;
- the token carries no scope, so `nova quota-show` needs `--tenant`.

One `herder serve` (three hosts) for the module. Each test reads what nova printed (its tables)
and checks the cloud's state through openstacksdk, configured from the same clouds.yaml.
"""
import ast
import os
import subprocess

import pytest

from tests.functional.openstack_cli import (HOSTS, create_server, delete_servers, newest_move,
                                            serve_three_hosts, server_with_status)
from tests.functional.serve_process import BIN_DIR

pytestmark = pytest.mark.cli

NOVA = os.path.join(BIN_DIR, "nova")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from serve_three_hosts(tmp_path_factory)


def nova(served, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The nova CLI as the admin, configured as the module docstring says."""
    settings = served["settings"]
    # nothing of the caller's own openrc or proxies: only what the docstring sets
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("OS_") and name.lower() not in ("http_proxy", "https_proxy")}
    env.update({"OS_AUTH_TYPE": "admin_token", "OS_TOKEN": settings["auth"]["token"],
                "OS_ENDPOINT": settings["auth"]["endpoint"],
                "OS_AUTH_URL": settings["identity_endpoint_override"], "OS_PROJECT_ID": "admin",
                "no_proxy": "127.0.0.1"})
    result = subprocess.run([NOVA, *args], env=env, capture_output=True, text=True,
                            timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"nova {' '.join(args)} failed:\n{result.stderr}")
    return result


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip()[1:-1].split("|")]


def table(output: str) -> list[dict[str, str]]:
    """The rows of the table nova printed, as column -> text."""
    lines = [line for line in output.splitlines() if line.startswith("|")]
    if not lines:
        return []
    header = _cells(lines[0])
    return [dict(zip(header, _cells(line))) for line in lines[1:]]


def properties(output: str) -> dict[str, str]:
    """A `Property | Value` table; a value nova spreads over several lines is joined."""
    found: dict[str, str] = {}
    key = None
    for row in table(output):
        if row["Property"]:
            key = row["Property"]
            found[key] = row["Value"]
        else:
            found[key] += " " + row["Value"]
    return found


def test_nova_list_and_show_a_server(served):
    made = create_server(served, "nlisted")
    try:
        row = next(r for r in table(nova(served, "list").stdout) if r["Name"] == "nlisted")
        assert (row["ID"], row["Status"], row["Power State"]) == (made.id, "ACTIVE", "Running")
        shown = properties(nova(served, "show", "nlisted").stdout)
        assert (shown["id"], shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == \
            (made.id, "ACTIVE", made.compute_host)
        assert (shown["flavor:original_name"], shown["tenant_id"]) == ("m1.tiny", "admin")
    finally:
        delete_servers(served, made.name)


def test_nova_migrate_then_resize_confirm(served):
    made = create_server(served, "nmover")
    try:
        polled = nova(served, "migrate", "--poll", "nmover")
        assert "Finished" in polled.stdout
        moved = server_with_status(served, made.id, "VERIFY_RESIZE")
        assert moved.compute_host != made.compute_host

        [listed] = table(nova(served, "server-migration-list", "nmover").stdout)
        assert (listed["Status"], listed["Source Compute"], listed["Dest Compute"]) == \
            ("finished", made.compute_host, moved.compute_host)
        shown = properties(nova(served, "server-migration-show", "nmover", listed["Id"]).stdout)
        assert (shown["server_uuid"], shown["status"], shown["dest_compute"]) == \
            (made.id, "finished", moved.compute_host)
        assert shown["disk_total_bytes"] == shown["disk_processed_bytes"] != "0"

        nova(served, "resize-confirm", "nmover")
        assert server_with_status(served, made.id, "ACTIVE").compute_host == moved.compute_host
        confirmed = newest_move(served, made.id, "confirmed")
        [row] = table(nova(served, "migration-list", "--instance-uuid", made.id).stdout)
        assert (row["Id"], row["Status"], row["Type"], row["Dest Compute"]) == \
            (str(confirmed.id), "confirmed", "migration", moved.compute_host)
        assert table(nova(served, "server-migration-list", "nmover").stdout) == []
    finally:
        delete_servers(served, made.name)


def test_nova_migrate_to_a_named_host_then_resize_revert(served):
    made = create_server(served, "nreturner")
    target = next(h for h in HOSTS if h != made.compute_host)
    try:
        nova(served, "migrate", "--host", target, "nreturner")
        assert server_with_status(served, made.id, "VERIFY_RESIZE").compute_host == target
        nova(served, "resize-revert", "nreturner")
        assert server_with_status(served, made.id, "ACTIVE").compute_host == made.compute_host
        reverted = newest_move(served, made.id, "reverted")
        assert reverted.dest_compute == target
        rows = table(nova(served, "migration-list", "--instance-uuid", made.id,
                          "--migration-type", "migration").stdout)
        assert [(r["Status"], r["Source Compute"], r["Dest Compute"]) for r in rows] == \
            [("reverted", made.compute_host, target)]
        refused = nova(served, "migrate", "--host", made.compute_host, "nreturner", check=False)
        assert "Cannot migrate to the host where the server exists" in refused.stderr
        assert server_with_status(served, made.id, "ACTIVE").compute_host == made.compute_host
    finally:
        delete_servers(served, made.name)


def test_nova_resize_then_resize_confirm(served):
    made = create_server(served, "ngrower")
    try:
        assert "Finished" in nova(served, "resize", "--poll", "ngrower", "m1.small").stdout
        resized = server_with_status(served, made.id, "VERIFY_RESIZE")
        assert resized.flavor.original_name == "m1.small"
        nova(served, "resize-confirm", "ngrower")
        assert server_with_status(served, made.id, "ACTIVE").flavor.original_name == "m1.small"
        done = newest_move(served, made.id, "confirmed")
        [row] = table(nova(served, "migration-list", "--instance-uuid", made.id,
                           "--migration-type", "resize").stdout)
        assert (row["Id"], row["Old Flavor"], row["New Flavor"]) == (str(done.id), "1", "2")
        assert properties(nova(served, "show", "ngrower").stdout)["flavor:original_name"] == \
            "m1.small"
    finally:
        delete_servers(served, made.name)


def test_nova_instance_action_list_and_instance_action(served):
    made = create_server(served, "njournaled")
    try:
        nova(served, "migrate", "njournaled")
        dest = server_with_status(served, made.id, "VERIFY_RESIZE").compute_host
        nova(served, "resize-confirm", "njournaled")
        newest_move(served, made.id, "confirmed")

        actions = table(nova(served, "instance-action-list", "njournaled").stdout)
        assert [a["Action"] for a in actions] == ["create", "migrate", "confirmResize"]
        assert {a["Action"]: a["Request_ID"] for a in actions} == {
            a.action: a.request_id for a in served["sdk"].compute.server_actions(made.id)}
        request_id = next(a["Request_ID"] for a in actions if a["Action"] == "migrate")
        shown = properties(nova(served, "instance-action", "njournaled", request_id).stdout)
        assert (shown["action"], shown["instance_uuid"], shown["request_id"]) == \
            ("migrate", made.id, request_id)
        events = {e["event"]: e for e in ast.literal_eval(shown["events"])}
        assert events["compute_prep_resize"]["host"] == dest
        assert events["compute_resize_instance"]["host"] == made.compute_host
        assert {e["result"] for e in events.values()} == {"Success"}
    finally:
        delete_servers(served, made.name)


def test_nova_flavor_hypervisor_and_service_lists(served):
    flavors = {f["Name"]: f for f in table(nova(served, "flavor-list").stdout)}
    assert {n: (f["Memory_MiB"], f["VCPUs"]) for n, f in flavors.items()} == {
        f.name: (str(f.ram), str(f.vcpus)) for f in served["sdk"].compute.flavors()}

    hypervisors = table(nova(served, "hypervisor-list").stdout)
    assert sorted(h["Hypervisor hostname"] for h in hypervisors) == list(HOSTS)
    assert {(h["ID"], h["State"], h["Status"]) for h in hypervisors} == {
        (h.id, h.state, h.status) for h in served["sdk"].compute.hypervisors()}

    services = table(nova(served, "service-list").stdout)
    computes = {s["Host"]: s for s in services if s["Binary"] == "nova-compute"}
    assert sorted(computes) == list(HOSTS)
    assert {(s["Status"], s["State"], s["Zone"]) for s in computes.values()} == \
        {("enabled", "up", "nova")}
    served["sdk"].compute.disable_service(computes["compute2"]["Id"], "compute2",
                                          "nova-compute", disabled_reason="fan noise")
    try:
        [shown] = table(nova(served, "service-list", "--host", "compute2").stdout)
        assert (shown["Status"], shown["Disabled Reason"]) == ("disabled", "fan noise")
    finally:
        served["sdk"].compute.enable_service(computes["compute2"]["Id"], "compute2",
                                             "nova-compute")


def test_nova_server_group_create(served):
    [made] = table(nova(served, "server-group-create", "ntogether", "affinity").stdout)
    assert (made["Name"], made["Policy"], made["Members"], made["Project Id"]) == \
        ("ntogether", "affinity", "[]", "admin")
    group = served["sdk"].compute.get_server_group(made["Id"])
    try:
        assert (group.name, group.policy, group.member_ids) == ("ntogether", "affinity", [])
    finally:
        served["sdk"].compute.delete_server_group(group)


def test_nova_quota_update_and_quota_show(served):
    nova(served, "quota-update", "--instances", "4", "--cores", "6", "nova-quota")
    try:
        shown = {q["Quota"]: q["Limit"]
                 for q in table(nova(served, "quota-show", "--tenant", "nova-quota").stdout)}
        assert (shown["instances"], shown["cores"], shown["ram"]) == ("4", "6", "51200")
        stored = served["sdk"].compute.get_quota_set("nova-quota")
        assert (stored.instances, stored.cores) == (4, 6)
        detail = {q["Quota"]: ast.literal_eval(q["Limit"]) for q in table(
            nova(served, "quota-show", "--tenant", "nova-quota", "--detail").stdout)}
        assert detail["instances"] == {"in_use": 0, "limit": 4, "reserved": 0}
    finally:
        served["sdk"].compute.revert_quota_set("nova-quota")
    assert served["sdk"].compute.get_quota_set("nova-quota").instances == 10
