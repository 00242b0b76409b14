"""herder's `openstack server move ...` plugin (herder/osc), run as operators run it: the real
`openstack` binary of .venv against `herder serve`, its copies slowed down to about 16 s (64 KiB
chunks at 0.5 Mbit/s) so that the progress and an abort have time to be seen even on a busy
machine, where each `openstack` process takes seconds to start."""
import json
import os
import re
import subprocess

import pytest

from tests.functional.openstack_cli import (OPENSTACK, cli_json, create_server, delete_servers,
                                            openstack_cli, serve, server_with_status)

pytestmark = pytest.mark.cli


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from serve(str(tmp_path_factory.mktemp("serve")), "--hosts", "3",
                     env={"OS_TRANSFER__BANDWIDTH_LIMIT_MBPS": "0.5",
                          "OS_TRANSFER__CHUNK_SIZE_KB": "64"})


def host_of(served, server_id: str) -> str:
    return served["sdk"].compute.get_server(server_id).compute_host


def test_the_plugin_is_installed_with_herder():
    listed = subprocess.run([OPENSTACK, "help", "server", "move", "plan"], capture_output=True,
                            text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "--flavor <flavor>" in listed.stdout


def test_plan_migrate_and_watch_the_progress(served):
    server = create_server(served, "mover")
    source = host_of(served, server.id)

    plan = cli_json(served, "server", "move", "plan", "mover")
    assert plan["action"] == "migrate" and plan["source_host"] == source
    assert {c["host"] for c in plan["candidates"]} == {"compute1", "compute2", "compute3"} - {
        source}
    assert plan["candidates"][0]["rank"] == 1
    assert plan["candidates"][0]["bytes_to_move"] > 0
    assert plan["rejected"] == [{"host": source, "filter": None,
                                 "reason": "is the server's current host"}]
    table = openstack_cli(served, "server", "move", "plan", "mover").stdout
    assert "Candidates:" in table and "Rejected:" in table and "is the server's current host" in table

    moved = openstack_cli(served, "server", "move", "migrate", "mover", "--wait", "-f", "json")
    summary = json.loads(moved.stdout)
    assert summary["outcome"] == "VERIFY_RESIZE" and summary["server_status"] == "VERIFY_RESIZE"
    assert summary["source"] == source and summary["destination"] not in (None, source)
    assert summary["migration_status"] == "finished" and summary["type"] == "migration"
    assert summary["bytes"] == plan["candidates"][0]["bytes_to_move"]
    assert summary["duration_seconds"] > 4 and summary["average_rate_bytes_per_second"] > 0
    # no terminal: plain lines, at most one a second, the bytes copied growing
    copied = [int(n) for n in re.findall(r"copy (\d+)/\d+ bytes", moved.stderr)]
    assert len(copied) >= 3 and copied == sorted(copied) and copied[0] < copied[-1], moved.stderr
    assert "\r" not in moved.stderr
    assert host_of(served, server.id) == summary["destination"]
    openstack_cli(served, "server", "resize", "confirm", "mover")
    server_with_status(served, server.id, "ACTIVE")

    resized = cli_json(served, "server", "move", "resize", "mover", "--flavor", "m1.small",
                       "--wait")
    assert resized["outcome"] == "VERIFY_RESIZE" and resized["type"] == "resize"
    assert served["sdk"].compute.get_server(server.id).flavor.name == "m1.small"
    delete_servers(served, "mover")


def test_abort_waits_for_the_rollback(served):
    server = create_server(served, "aborted")
    source = host_of(served, server.id)
    openstack_cli(served, "server", "move", "migrate", "aborted")
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": served["clouds"], "no_proxy": "127.0.0.1"}
    watching = subprocess.Popen([OPENSTACK, "--os-cloud", "herder", "server", "move", "watch",
                                 "aborted", "-f", "json"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    assert "aborted: " in watching.stderr.readline()   # following it before the abort is sent

    aborted = cli_json(served, "server", "move", "abort", "aborted", "--wait")
    watched_out, watched_err = watching.communicate(timeout=60)

    assert aborted["outcome"] == "cancelled" and aborted["migration_status"] == "cancelled"
    assert aborted["server_status"] == "ACTIVE" and aborted["source"] == source
    back = served["sdk"].compute.get_server(server.id)
    assert back.compute_host == source and back.status == "ACTIVE" and back.task_state is None
    # the move did not reach VERIFY_RESIZE: `watch` shows its end, and fails
    assert watching.returncode != 0, watched_err
    assert json.loads(watched_out)["outcome"] == "cancelled"
    assert "ended cancelled" in watched_err

    nothing = openstack_cli(served, "server", "move", "abort", "aborted", check=False)
    assert nothing.returncode != 0
    assert "Server aborted has no move in progress." in nothing.stderr
    watched = openstack_cli(served, "server", "move", "watch", "aborted", check=False)
    assert watched.returncode != 0 and "has no move in progress" in watched.stderr
    delete_servers(served, "aborted")
