"""`openstack host drain ...` (herder/osc/drain.py), run as operators run it: the real
`openstack` binary of .venv against `herder serve`, whose guests take 2 s to power off, so that
a move lasts long enough for a pause to land while the drain runs (each `openstack` process
takes a second or more to start)."""
import json

import pytest

from tests.functional.host_drain_api import servers_on
from tests.functional.openstack_cli import cli_json, openstack_cli, serve

pytestmark = pytest.mark.cli


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from serve(str(tmp_path_factory.mktemp("serve")), "--hosts", "3",
                     env={"OS_CONDUCTOR__HOST_DRAIN_INTERVAL": "0.2",
                          "OS_COMPUTE__FAKE_POWER_OFF_SECONDS": "2"})


def test_drain_with_progress_then_restore_with_a_summary_table(served):
    servers = servers_on(served["sdk"], "compute1", 3)
    drained = openstack_cli(served, "host", "drain", "start", "compute1", "--reason", "bios",
                            "--max-per-source", "2", "--auto-confirm", "--wait", "-f", "json")
    job = json.loads(drained.stdout)
    assert (job["kind"], job["host"], job["status"]) == ("drain", "compute1", "completed")
    assert {s["server_id"] for s in job["servers"]} == set(servers)
    assert {s["state"] for s in job["servers"]} == {"moved"}
    # no terminal: plain progress lines, the last one the job's end
    lines = drained.stderr.strip().splitlines()
    assert lines and lines[-1] == ("host drain of compute1 completed: 3/3 done (3 moved, "
                                   "0 skipped), 0 moving, 0 waiting, 0 failed"), drained.stderr
    assert "\r" not in drained.stderr
    service = served["sdk"].compute.find_service("nova-compute", host="compute1")
    assert (service.status, service.disabled_reason) == ("disabled", "bios")

    listed = cli_json(served, "host", "drain", "list", "--host", "compute1")
    assert [(j["ID"], j["Status"], j["Moved"]) for j in listed] == [(job["id"], "completed", 3)]

    restored = openstack_cli(served, "host", "drain", "restore", job["id"], "--wait")
    first, *table = restored.stdout.splitlines()
    assert first.startswith("restore ") and first.endswith(
        "host restore of compute1 completed: 3/3 done (3 moved, 0 skipped), 0 moving, "
        "0 waiting, 0 failed")
    for server_id in servers:
        assert any(server_id in row and "moved to compute1" in row for row in table), \
            restored.stdout
    for server_id in servers:
        assert served["sdk"].compute.get_server(server_id).compute_host == "compute1"


def test_pause_cancel_and_refusals(served):
    servers_on(served["sdk"], "compute1", 2)
    on_compute1 = [s for s in served["sdk"].compute.servers(all_projects=True)
                   if s.compute_host == "compute1"]
    started = cli_json(served, "host", "drain", "start", "compute1", "--max-per-source", "1")
    assert (started["status"], started["servers_total"]) == ("running", len(on_compute1))
    job_id = started["id"]
    paused = json.loads(openstack_cli(served, "host", "drain", "pause", job_id, "-f",
                                      "json").stdout)
    assert paused["status"] == "paused"
    refused = openstack_cli(served, "host", "drain", "pause", job_id, check=False)
    assert refused.returncode != 0
    assert f"Cannot pause host drain {job_id} while it is paused." in refused.stderr
    # cancelled while paused: the servers that had not started stay where they are
    cancelled = json.loads(openstack_cli(served, "host", "drain", "cancel", job_id, "--wait",
                                         "-f", "json").stdout)
    by_state = cancelled["servers_by_state"]
    assert cancelled["status"] == "cancelled" and by_state["cancelled"] >= 1, cancelled
    assert by_state["moved"] + by_state["cancelled"] == cancelled["servers_total"]
    refused = openstack_cli(served, "host", "drain", "resume", job_id, check=False)
    assert f"Cannot resume host drain {job_id} while it is cancelled." in refused.stderr
