"""The README's quickstart, for real: `herder serve` as a process, the unmodified `openstack` CLI.

This is the issue's "done when": create a server, migrate it (RESIZE then VERIFY_RESIZE, the move
in `server migration list`), confirm it and find it ACTIVE on another host; migrate it with
`--host` and revert it back; resize it; see each step in `server event list`.
"""
import json
import os
import re
import urllib.request

import pytest

from tests.functional.openstack_cli import openstack_cli as openstack, show, wait_status
from tests.functional.serve_process import ServeProcess, free_port

pytestmark = pytest.mark.cli


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    server = ServeProcess(str(tmp_path_factory.mktemp("serve")), free_port(), "--hosts", "3")
    yield {"clouds": os.path.join(server.state_dir, "clouds.yaml"), "banner": server.banner}
    server.stop()


def test_serve_prints_how_to_use_the_openstack_cli(served):
    assert "export OS_CLIENT_CONFIG_FILE=" in served["banner"]
    assert "openstack --os-cloud herder server migrate" in served["banner"]


def test_serve_prints_the_dashboards_address_next_to_the_apis(served):
    address = re.search(r"The dashboard is at (http://\S+) ", served["banner"]).group(1)
    with urllib.request.urlopen(f"{address}/login", timeout=10) as page:
        assert page.status == 200 and b'<input id="token"' in page.read()


def test_quickstart_migrate_confirm_revert_resize_with_the_openstack_cli(served):
    openstack(served, "server", "create", "--flavor", "m1.tiny", "--image", "herder-guest",
              "--wait", "vm1")
    first_host = show(served, "vm1")["OS-EXT-SRV-ATTR:host"]

    openstack(served, "server", "migrate", "--wait", "vm1")
    moved = wait_status(served, "vm1", "VERIFY_RESIZE")
    migrations = json.loads(openstack(served, "server", "migration", "list", "--server", "vm1",
                                      "-f", "json").stdout)
    assert [(m["Status"], m["Source Compute"]) for m in migrations] == \
        [("finished", first_host)]
    openstack(served, "server", "migration", "confirm", "vm1")
    confirmed = wait_status(served, "vm1", "ACTIVE")
    assert confirmed["OS-EXT-SRV-ATTR:host"] == moved["OS-EXT-SRV-ATTR:host"] != first_host

    here = confirmed["OS-EXT-SRV-ATTR:host"]
    target = next(h for h in ("compute1", "compute2", "compute3") if h != here)
    openstack(served, "server", "migrate", "--host", target, "--wait", "vm1")
    assert wait_status(served, "vm1", "VERIFY_RESIZE")["OS-EXT-SRV-ATTR:host"] == target
    openstack(served, "server", "migration", "revert", "vm1")
    assert wait_status(served, "vm1", "ACTIVE")["OS-EXT-SRV-ATTR:host"] == here

    openstack(served, "server", "resize", "--flavor", "m1.small", "--wait", "vm1")
    resized = wait_status(served, "vm1", "VERIFY_RESIZE")
    assert resized["flavor"]["name"] == "m1.small"
    openstack(served, "server", "resize", "confirm", "vm1")
    wait_status(served, "vm1", "ACTIVE")

    actions = json.loads(openstack(served, "server", "event", "list", "vm1", "-f",
                                   "json").stdout)
    assert [a["Action"] for a in actions][:7] == [
        "confirmResize", "resize", "revertResize", "migrate", "confirmResize", "migrate",
        "create"]
    migrate_request = next(a["Request ID"] for a in actions if a["Action"] == "migrate")
    detail = json.loads(openstack(served, "server", "event", "show", "vm1", migrate_request,
                                  "-f", "json").stdout)
    assert {e["event"] for e in detail["events"]} >= {
        "conductor_migrate_server", "compute_prep_resize", "compute_resize_instance",
        "compute_finish_resize"}


def test_operators_see_hosts_and_services(served):
    hypervisors = json.loads(openstack(served, "hypervisor", "list", "-f", "json").stdout)
    assert sorted(h["Hypervisor Hostname"] for h in hypervisors) == \
        ["compute1", "compute2", "compute3"]
    shown = json.loads(openstack(served, "hypervisor", "show", "compute2", "-f", "json").stdout)
    assert (shown["hypervisor_hostname"], shown["state"], shown["aggregates"]) == \
        ("compute2", "up", [])
    services = json.loads(openstack(served, "compute", "service", "list", "-f", "json").stdout)
    computes = [s for s in services if s["Binary"] == "nova-compute"]
    assert len(computes) == 3 and all(s["State"] == "up" for s in computes)


def test_non_admin_cannot_migrate(served):
    openstack(served, "server", "create", "--flavor", "m1.tiny", "--image", "herder-guest",
              "--wait", "demo-vm", cloud="herder-demo")
    result = openstack(served, "server", "migrate", "demo-vm", cloud="herder-demo", check=False)
    assert result.returncode != 0
    assert "os_compute_api:os-migrate-server:migrate" in result.stderr
