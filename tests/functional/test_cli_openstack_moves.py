"""Every move command, and the commands around them, through the unmodified `openstack` CLI.

One `herder serve` process (three hosts) for the module, used with the clouds.yaml it writes,
as the README's quickstart does. Each test reads what the CLI printed (`-f json`) and checks the
cloud's state through openstacksdk, configured from the same clouds.yaml (a CLI process costs
1-3 s, so waiting and checking through it would make the module too slow).

What the CLI cannot do against a cloud without Keystone, and how these tests go around it as an
operator would:
- `quota show` and `quota set` look the project up in the identity service first: herder
  answers `GET /identity/v3/projects/{id}` for that (herder/api/handlers/identity.py). Without
  a Keystone catalog the CLI assumes a network and a volume service exist, so `quota show`
  needs `--compute`; without a token scope it needs the project named.
- `server migration show <server> <integer id>` sends the two ids swapped in the path
  (python-openstackclient 10.5 calls openstacksdk 4.22's `get_server_migration(server,
  migration)`, whose parameters are `(migration, server)`), against any cloud; the migration's
  UUID works (the CLI then finds it in `GET /servers/{id}/migrations`), so the test uses that.
"""
import pytest

from tests.functional.openstack_cli import (HOSTS, cli_json, create_server, delete_servers,
                                            newest_move, serve_three_hosts, server_with_status)
from tests.functional.openstack_cli import openstack_cli as cli

pytestmark = pytest.mark.cli


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from serve_three_hosts(tmp_path_factory)


def flavor_name(found) -> str:
    return found.flavor.original_name or found.flavor.name


def test_server_create_list_show_stop_start_delete(served):
    created = cli_json(served, "server", "create", "--flavor", "m1.tiny", "--image",
                       "herder-guest", "--wait", "life")
    assert (created["name"], created["status"]) == ("life", "ACTIVE")
    listed = {s["Name"]: s for s in cli_json(served, "server", "list")}
    assert (listed["life"]["ID"], listed["life"]["Status"], listed["life"]["Flavor"]) == \
        (created["id"], "ACTIVE", "m1.tiny")
    shown = cli_json(served, "server", "show", "life")
    assert shown["OS-EXT-SRV-ATTR:host"] == \
        server_with_status(served, created["id"], "ACTIVE").compute_host

    cli(served, "server", "stop", "life")
    assert server_with_status(served, created["id"], "SHUTOFF").vm_state == "stopped"
    cli(served, "server", "start", "life")
    assert server_with_status(served, created["id"], "ACTIVE").power_state == 1
    console = cli(served, "console", "log", "show", "--lines", "1", "life").stdout
    assert console.startswith(f"fake guest {created['id']} running on") and \
        console.count("running on") == 1

    cli(served, "server", "delete", "--wait", "life")
    assert served["sdk"].compute.find_server(created["id"]) is None
    assert "life" not in {s["Name"] for s in cli_json(served, "server", "list")}
    gone = cli(served, "server", "show", "life", check=False)
    assert gone.returncode != 0 and "No Server found for life" in gone.stderr


def test_migrate_then_confirm_with_server_migration_confirm_and_server_migrate_confirm(served):
    created = create_server(served, "mover")
    first, uuid = created.compute_host, created.id
    try:
        cli(served, "server", "migrate", "--wait", "mover")
        shown = cli_json(served, "server", "show", "mover")
        second = shown["OS-EXT-SRV-ATTR:host"]
        assert shown["status"] == "VERIFY_RESIZE" and second != first
        cli(served, "server", "migration", "confirm", "mover")
        assert server_with_status(served, uuid, "ACTIVE").compute_host == second
        confirmed = newest_move(served, uuid, "confirmed")
        assert (confirmed.source_compute, confirmed.dest_compute) == (first, second)

        # the older spelling, deprecated in the CLI but still what many runbooks say
        cli(served, "server", "migrate", "mover")
        third = server_with_status(served, uuid, "VERIFY_RESIZE").compute_host
        said = cli(served, "server", "migrate", "confirm", "mover")
        assert "deprecated in favour of the 'server migration confirm'" in said.stderr
        assert server_with_status(served, uuid, "ACTIVE").compute_host == third != second
        assert newest_move(served, uuid, "confirmed").source_compute == second
        moves = cli_json(served, "server", "migration", "list", "--server", "mover")
        assert [(m["Status"], m["Type"], m["Source Compute"]) for m in moves] == \
            [("confirmed", "migration", second), ("confirmed", "migration", first)]
    finally:
        delete_servers(served, "mover")


def test_migrate_to_named_hosts_then_revert_with_both_spellings(served):
    created = create_server(served, "returner")
    home, uuid = created.compute_host, created.id
    targets = [h for h in HOSTS if h != home]
    try:
        for target, revert in zip(targets, (("server", "migration", "revert"),
                                            ("server", "migrate", "revert"))):
            cli(served, "server", "migrate", "--host", target, "returner")
            assert server_with_status(served, uuid, "VERIFY_RESIZE").compute_host == target
            cli(served, *revert, "returner")
            assert server_with_status(served, uuid, "ACTIVE").compute_host == home
            reverted = newest_move(served, uuid, "reverted")
            assert (reverted.source_compute, reverted.dest_compute) == (home, target)
        moves = cli_json(served, "server", "migration", "list", "--server", "returner")
        assert [(m["Status"], m["Dest Compute"]) for m in moves] == \
            [("reverted", targets[1]), ("reverted", targets[0])]
    finally:
        delete_servers(served, "returner")


def test_resize_then_confirm_and_resize_then_revert(served):
    uuid = create_server(served, "grower").id
    try:
        said = cli(served, "server", "resize", "--flavor", "m1.small", "--wait", "grower")
        assert "Complete" in said.stdout
        resized = server_with_status(served, uuid, "VERIFY_RESIZE")
        assert flavor_name(resized) == "m1.small"
        cli(served, "server", "resize", "confirm", "grower")
        confirmed = server_with_status(served, uuid, "ACTIVE")
        assert (flavor_name(confirmed), confirmed.compute_host) == \
            ("m1.small", resized.compute_host)
        done = newest_move(served, uuid, "confirmed")
        assert (done.migration_type, done.old_flavor_id, done.new_flavor_id) == ("resize", 1, 2)

        cli(served, "server", "resize", "--flavor", "m1.medium", "grower")
        assert flavor_name(server_with_status(served, uuid, "VERIFY_RESIZE")) == "m1.medium"
        cli(served, "server", "resize", "revert", "grower")
        reverted = server_with_status(served, uuid, "ACTIVE")
        assert (flavor_name(reverted), reverted.compute_host) == \
            ("m1.small", confirmed.compute_host)
        assert newest_move(served, uuid, "reverted").new_flavor_id == 3
        shown = cli_json(served, "server", "show", "grower")
        assert (shown["status"], shown["flavor"]["name"]) == ("ACTIVE", "m1.small")
    finally:
        delete_servers(served, "grower")


def test_server_migration_list_and_show_follow_a_move(served):
    created = create_server(served, "watched")
    source, uuid = created.compute_host, created.id
    try:
        cli(served, "server", "migrate", "watched")
        dest = server_with_status(served, uuid, "VERIFY_RESIZE").compute_host
        [listed] = cli_json(served, "server", "migration", "list", "--server", "watched",
                            "--type", "cold-migration", "--status", "finished")
        assert (listed["Source Compute"], listed["Dest Compute"], listed["Type"]) == \
            (source, dest, "migration")
        shown = cli_json(served, "server", "migration", "show", "watched", listed["UUID"])
        assert (shown["ID"], shown["Status"], shown["Source Compute"], shown["Dest Compute"]) \
            == (listed["Id"], "finished", source, dest)
        assert shown["Disk Total Bytes"] == shown["Disk Processed Bytes"] > 0
        assert shown["Disk Remaining Bytes"] == 0

        served["sdk"].compute.confirm_server_resize(uuid)
        newest_move(served, uuid, "confirmed")
        # a confirmed move is no longer in progress: the server's migrations no longer have it
        gone = cli(served, "server", "migration", "show", "watched", listed["UUID"],
                   check=False)
        assert gone.returncode != 0 and listed["UUID"] in gone.stderr
        confirmed = cli_json(served, "server", "migration", "list", "--host", source,
                             "--status", "confirmed")
        assert listed["UUID"] in {m["UUID"] for m in confirmed}
    finally:
        delete_servers(served, "watched")


def test_server_event_list_and_show_name_each_step_and_host(served):
    created = create_server(served, "journaled")
    source, uuid = created.compute_host, created.id
    try:
        cli(served, "server", "migrate", "journaled")
        dest = server_with_status(served, uuid, "VERIFY_RESIZE").compute_host
        served["sdk"].compute.revert_server_resize(uuid)
        server_with_status(served, uuid, "ACTIVE")

        actions = cli_json(served, "server", "event", "list", "journaled")
        assert [a["Action"] for a in actions] == ["revertResize", "migrate", "create"]
        assert {a["Server ID"] for a in actions} == {uuid}
        by_action = {a["Action"]: a["Request ID"] for a in actions}
        assert by_action == {a.action: a.request_id
                             for a in served["sdk"].compute.server_actions(uuid)}
        migrate = cli_json(served, "server", "event", "show", "journaled", by_action["migrate"])
        assert (migrate["action"], migrate["request_id"]) == ("migrate", by_action["migrate"])
        hosts = {e["event"]: e["host"] for e in migrate["events"]}
        assert hosts["compute_prep_resize"] == hosts["compute_finish_resize"] == dest
        assert hosts["compute_resize_instance"] == source
        assert {e["result"] for e in migrate["events"]} == {"Success"}
        revert = cli_json(served, "server", "event", "show", "journaled",
                          by_action["revertResize"])
        assert {e["event"] for e in revert["events"]} >= {
            "compute_revert_resize", "compute_finish_revert_resize"}
    finally:
        delete_servers(served, "journaled")


def test_flavor_create_list_delete_and_a_resize_to_the_new_flavor(served):
    made = cli_json(served, "flavor", "create", "--ram", "1024", "--disk", "2", "--vcpus", "2",
                    "m1.cli")
    assert (made["name"], made["ram"], made["disk"], made["vcpus"]) == ("m1.cli", 1024, 2, 2)
    assert {"Name": "m1.cli", "RAM": 1024, "Disk": 2, "VCPUs": 2}.items() <= \
        next(f for f in cli_json(served, "flavor", "list") if f["Name"] == "m1.cli").items()
    uuid = create_server(served, "fitted").id
    try:
        cli(served, "server", "resize", "--flavor", "m1.cli", "fitted")
        resized = server_with_status(served, uuid, "VERIFY_RESIZE")
        assert (resized.flavor.vcpus, resized.flavor.ram) == (2, 1024)
    finally:
        delete_servers(served, "fitted")
    cli(served, "flavor", "delete", "m1.cli")
    assert served["sdk"].compute.find_flavor("m1.cli") is None
    assert "m1.cli" not in {f["Name"] for f in cli_json(served, "flavor", "list")}


def test_hypervisor_list_and_show_count_the_servers_on_each_host(served):
    created = create_server(served, "counted")
    host = created.compute_host
    try:
        listed = cli_json(served, "hypervisor", "list")
        assert sorted(h["Hypervisor Hostname"] for h in listed) == list(HOSTS)
        assert {h["State"] for h in listed} == {"up"}
        shown = cli_json(served, "hypervisor", "show", host)
        assert (shown["hypervisor_hostname"], shown["state"], shown["status"]) == \
            (host, "up", "enabled")
        # usage left the hypervisor body in 2.88; an operator who wants it asks for less
        usage = cli_json(served, "--os-compute-api-version", "2.53", "hypervisor", "show", host)
        on_host = list(served["sdk"].compute.servers(all_projects=True, compute_host=host))
        assert created.id in {s.id for s in on_host}
        assert usage["running_vms"] == usage["vcpus_used"] == len(on_host)
    finally:
        delete_servers(served, "counted")


def test_disabled_compute_service_is_skipped_by_migrate_until_enabled(served):
    created = create_server(served, "steered")
    uuid = created.id
    closed, open_ = [h for h in HOSTS if h != created.compute_host]
    try:
        cli(served, "compute", "service", "set", "--disable", "--disable-reason", "disk swap",
            closed, "nova-compute")
        [service] = cli_json(served, "compute", "service", "list", "--host", closed,
                             "--service", "nova-compute", "--long")
        assert (service["Status"], service["Disabled Reason"]) == ("disabled", "disk swap")
        [api_view] = served["sdk"].compute.services(host=closed, binary="nova-compute")
        assert (api_view.status, api_view.disabled_reason) == ("disabled", "disk swap")

        # the scheduler has one enabled host left to choose
        served["sdk"].compute.migrate_server(uuid)
        assert server_with_status(served, uuid, "VERIFY_RESIZE").compute_host == open_
        served["sdk"].compute.revert_server_resize(uuid)
        server_with_status(served, uuid, "ACTIVE")
    finally:
        cli(served, "compute", "service", "set", "--enable", closed, "nova-compute")
        delete_servers(served, "steered")
    [service] = cli_json(served, "compute", "service", "list", "--host", closed, "--long")
    assert (service["Status"], service["Disabled Reason"]) == ("enabled", None)
    [api_view] = served["sdk"].compute.services(host=closed, binary="nova-compute")
    assert (api_view.status, api_view.disabled_reason) == ("enabled", None)


def test_server_group_create_list_show_delete_with_anti_affine_members(served):
    group = cli_json(served, "server", "group", "create", "--policy", "anti-affinity",
                     "apart")
    assert (group["name"], group["policy"], group["members"]) == ("apart", "anti-affinity", [])
    assert {"ID": group["id"], "Name": "apart", "Policy": "anti-affinity"} in \
        cli_json(served, "server", "group", "list")
    first = create_server(served, "apart-1", "--hint", f"group={group['id']}")
    second = create_server(served, "apart-2", "--hint", f"group={group['id']}")
    try:
        shown = cli_json(served, "server", "group", "show", "apart")
        assert sorted(shown["members"]) == sorted([first.id, second.id])
        assert first.compute_host != second.compute_host
    finally:
        delete_servers(served, "apart-1", "apart-2")
    cli(served, "server", "group", "delete", "apart")
    assert served["sdk"].compute.find_server_group(group["id"]) is None
    assert "apart" not in {g["Name"] for g in cli_json(served, "server", "group", "list")}


def test_quota_set_and_show_limit_what_a_project_may_create(served):
    cli(served, "quota", "set", "--instances", "1", "--cores", "3", "demo")
    try:
        limits = {q["Resource"]: q["Limit"]
                  for q in cli_json(served, "quota", "show", "--compute", "demo")}
        assert (limits["instances"], limits["cores"]) == (1, 3)
        create_server(served, "quota-1", cloud="herder-demo")
        refused = cli(served, "server", "create", "--flavor", "m1.tiny", "--image",
                      "herder-guest", "quota-2", cloud="herder-demo", check=False)
        assert refused.returncode != 0
        assert "Quota exceeded for instances: Requested 1, but already used 1 of 1 instances" \
            in refused.stderr
        usage = {q["Resource"]: q for q in cli_json(served, "quota", "show", "--compute",
                                                     "--usage", "demo", cloud="herder-demo")}
        assert (usage["instances"]["In Use"], usage["cores"]["In Use"]) == (1, 1)
        assert [s.name for s in served["sdk"].compute.servers(all_projects=True,
                                                              project_id="demo")] == ["quota-1"]
        denied = cli(served, "quota", "set", "--instances", "5", "demo", cloud="herder-demo",
                     check=False)
        assert "os_compute_api:os-quota-sets:update" in denied.stderr
    finally:
        cli(served, "quota", "delete", "--compute", "demo")
        delete_servers(served, "quota-1", cloud="herder-demo")
    quotas = served["sdk"].compute.get_quota_set("demo")
    assert (quotas.instances, quotas.cores) == (10, 20)
