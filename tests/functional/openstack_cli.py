"""Running the unmodified `openstack` CLI against a herder, as an operator would, and what the
CLI test modules share: one `herder serve` with three hosts, openstacksdk configured from the
clouds.yaml it writes (to check the cloud's state: a CLI process costs 1-3 s, too slow to poll
with), servers made and removed through the CLI."""
import json
import os
import shutil
import subprocess
import time

import openstack
import yaml

from tests.functional.observe import wait_for_status, wait_until
from tests.functional.serve_process import BIN_DIR, ServeProcess, free_port

OPENSTACK = shutil.which("openstack", path=BIN_DIR)
HOSTS = ("compute1", "compute2", "compute3")


def serve_three_hosts(tmp_path_factory):
    """For a module fixture: yields {"clouds": its clouds.yaml, "settings": the admin cloud's
    entry, "sdk": an openstacksdk connection as the admin}, and stops the server after."""
    yield from serve(str(tmp_path_factory.mktemp("serve")), "--hosts", "3")


def serve(state_dir: str, *serve_args: str, env: dict[str, str] | None = None):
    """serve_three_hosts with other `herder serve` arguments and environment."""
    server = ServeProcess(state_dir, free_port(), *serve_args, env=env)
    clouds = os.path.join(server.state_dir, "clouds.yaml")
    try:
        yield {"clouds": clouds, "settings": cloud_settings(clouds, "herder"),
               "sdk": sdk_connection(clouds, "herder")}
    finally:
        server.stop()


def cloud_settings(clouds_file: str, cloud: str) -> dict:
    with open(clouds_file) as f:
        return yaml.safe_load(f)["clouds"][cloud]


def sdk_connection(clouds_file: str, cloud: str) -> openstack.connection.Connection:
    return openstack.connect(**cloud_settings(clouds_file, cloud), load_yaml_config=False,
                             load_envvars=False)


def openstack_cli(served, *args: str, cloud: str = "herder", check: bool = True):
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": served["clouds"], "no_proxy": "127.0.0.1"}
    for name in ("OS_CLOUD", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        env.pop(name, None)
    result = subprocess.run([OPENSTACK, "--os-cloud", cloud, *args], env=env,
                            capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"openstack {' '.join(args)} failed:\n{result.stderr}")
    return result


def cli_json(served, *args: str, cloud: str = "herder"):
    return json.loads(openstack_cli(served, *args, "-f", "json", cloud=cloud).stdout)


def show(served, name: str, cloud: str = "herder") -> dict:
    return cli_json(served, "server", "show", name, cloud=cloud)


def wait_status(served, name: str, status: str, timeout: float = 30,
                cloud: str = "herder") -> dict:
    """Polls through the CLI itself (for tests that run against another cloud than `served`'s
    sdk connection)."""
    deadline = time.monotonic() + timeout
    while True:
        server = show(served, name, cloud=cloud)
        if server["status"] == status:
            return server
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} is {server['status']}, wanted {status}")
        time.sleep(0.2)


def server_with_status(served, server_id: str, status: str):
    """The server through the API once it has that status (confirm and revert, and stop and
    start, finish after the CLI returns)."""
    return wait_for_status(served["sdk"], server_id, status, timeout=30)


def create_server(served, name: str, *extra: str, cloud: str = "herder"):
    """`server create`, then waits for ACTIVE through the API (the CLI's `--wait` polls every
    5 s); returns the openstacksdk server."""
    created = cli_json(served, "server", "create", "--flavor", "m1.tiny", "--image",
                       "herder-guest", *extra, name, cloud=cloud)
    assert created["name"] == name
    return server_with_status(served, created["id"], "ACTIVE")


def delete_servers(served, *names: str, cloud: str = "herder") -> None:
    found = [served["sdk"].compute.find_server(n, all_projects=True, ignore_missing=False)
             for n in names]
    openstack_cli(served, "server", "delete", *names, cloud=cloud)
    for each in found:
        served["sdk"].compute.wait_for_delete(each, interval=0.1, wait=30)


def newest_move(served, server_id: str, status: str):
    """The server's newest migration record, once it has that status."""
    def find():
        moves = list(served["sdk"].compute.migrations(server_id=server_id))
        newest = max(moves, key=lambda m: m.id)
        return newest if newest.status == status else None
    return wait_until(find, timeout=30, message=f"{server_id}'s newest move to be {status}")
