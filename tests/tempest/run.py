"""Run tempest's move tests against herder, with a real Keystone in front of it.

    .venv/bin/python -m tests.tempest.run [--workspace DIR] [--concurrency N] [--regex R]

What an operator's cloud has, on loopback: Keystone (tests/keystone/server.py) with herder in its
catalog as compute, image and network service; `herder serve --hosts 3` in keystone mode; the two
small flavors tempest resizes between; a tempest.conf saying what herder can do. Then tempest runs
the tests of include-list.txt and the exit status is tempest's. Everything lives in the workspace
directory (a temporary one unless given), logs included, and is kept when a test fails.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from herder.api import microversion
from herder.catalogue import IMAGE_ID
from tests.keystone import server as keystone_server

REPO = keystone_server.REPO
TEMPEST_VENV = os.environ.get("HERDER_TEMPEST_VENV", os.path.join(REPO, ".venv-tempest"))
INCLUDE_LIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "include-list.txt")
HOSTS = 3
# Tempest resizes between these two and back: same disk, so neither direction shrinks a disk
# (which herder refuses up front, docs/api-contract.md). Devstack's names and sizes.
FLAVORS = [("42", "m1.nano", 1, 128, 1), ("84", "m1.micro", 1, 192, 1)]


def tempest_conf(keystone: keystone_server.KeystoneServer, admin: keystone_server.Account,
                 workspace: str) -> str:
    """What herder is and can do, in tempest's words. Features herder does not have are off, so
    their tests skip with tempest's own reason rather than fail."""
    return f"""[DEFAULT]
log_dir = {workspace}
log_file = tempest.log

[auth]
use_dynamic_credentials = True
create_isolated_networks = False
admin_username = {admin.username}
admin_password = {admin.password}
admin_project_name = {admin.project_name}
admin_domain_name = Default
default_credentials_domain_name = Default

[identity]
uri_v3 = {keystone.auth_url}
auth_version = v3
region = {keystone_server.REGION}

[identity-feature-enabled]
api_v2 = False
api_v3 = True

[compute]
image_ref = {IMAGE_ID}
image_ref_alt = {IMAGE_ID}
flavor_ref = {FLAVORS[0][0]}
flavor_ref_alt = {FLAVORS[1][0]}
min_compute_nodes = 2
min_microversion = 2.1
max_microversion = {microversion.max_version()}
build_timeout = 60
region = {keystone_server.REGION}

[compute-feature-enabled]
resize = True
cold_migration = True
live_migration = False
block_migration_for_live_migration = False
disk_config = True
pause = True
suspend = True
shelve = False
shelve_migrate = False
rescue = False
snapshot = False
console_output = False
vnc_console = False
spice_console = False
serial_console = False
interface_attach = False
change_password = False
personality = False
config_drive = False
metadata_service = False
attach_encrypted_volume = False
swap_volume = False
volume_multiattach = False

[service_available]
nova = True
glance = True
neutron = True
cinder = False
swift = False
horizon = False

[validation]
run_validation = False
"""


def start_herder(workspace: str, port: int, config_file: str) -> subprocess.Popen:
    log = open(os.path.join(workspace, "herder.log"), "w")
    process = subprocess.Popen(
        [os.path.join(REPO, ".venv", "bin", "herder"), "--config-file", config_file, "serve",
         "--hosts", str(HOSTS), "--state-dir", os.path.join(workspace, "herder"),
         "--port", str(port)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"herder serve exited ({process.returncode}), see {log.name}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2.1", timeout=5):
                return process
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"herder serve did not answer on port {port}, see {log.name}")


def create_flavors(keystone: keystone_server.KeystoneServer,
                   admin: keystone_server.Account) -> None:
    import openstack
    conn = openstack.connect(**admin.connect_args(keystone.auth_url))
    try:
        for flavorid, name, vcpus, ram, disk in FLAVORS:
            resp = conn.compute.post("/flavors", json={"flavor": {
                "id": flavorid, "name": name, "vcpus": vcpus, "ram": ram, "disk": disk}})
            if resp.status_code != 200:
                raise RuntimeError(f"creating flavor {name}: {resp.status_code} {resp.text}")
    finally:
        conn.close()


def run_tempest(workspace: str, concurrency: int, regex: str | None) -> int:
    selection = ["--regex", regex] if regex else ["--include-list", INCLUDE_LIST]
    command = [os.path.join(TEMPEST_VENV, "bin", "tempest"), "run",
               "--config-file", os.path.join(workspace, "etc", "tempest.conf"),
               "--concurrency", str(concurrency), *selection]
    return subprocess.run(command, cwd=workspace).returncode


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for what, present in (("Keystone", keystone_server.installed()),
                          ("tempest", os.access(os.path.join(TEMPEST_VENV, "bin", "tempest"),
                                                os.X_OK))):
        if not present:
            print(f"{what} is not installed: run scripts/{what.lower()}/install.sh",
                  file=sys.stderr)
            return 2
    workspace = os.path.abspath(args.workspace or tempfile.mkdtemp(prefix="herder-tempest-"))
    os.makedirs(os.path.join(workspace, "etc"), exist_ok=True)
    started = time.monotonic()
    keystone = keystone_server.KeystoneServer(os.path.join(workspace, "keystone"))
    herder = None
    status = 1
    try:
        keystone.start()
        herder_port = keystone_server.free_port()
        accounts = keystone_server.register_herder(keystone, f"http://127.0.0.1:{herder_port}")
        herder_conf = os.path.join(workspace, "herder.conf")
        with open(herder_conf, "w") as f:
            f.write(keystone_server.herder_keystone_config(keystone, accounts.service))
        herder = start_herder(workspace, herder_port, herder_conf)
        create_flavors(keystone, accounts.admin)
        with open(os.path.join(workspace, "etc", "tempest.conf"), "w") as f:
            f.write(tempest_conf(keystone, accounts.admin, workspace))
        print(f"Keystone at {keystone.auth_url}, herder at http://127.0.0.1:{herder_port}, "
              f"ready in {time.monotonic() - started:.0f} s; workspace {workspace}", flush=True)
        status = run_tempest(workspace, args.concurrency, args.regex)
    finally:
        if herder is not None:
            herder.terminate()
            try:
                herder.wait(30)
            except subprocess.TimeoutExpired:
                herder.kill()
        keystone.stop()
    print(f"tempest step took {time.monotonic() - started:.0f} s", flush=True)
    if status == 0 and not args.workspace and not args.keep:
        shutil.rmtree(workspace, ignore_errors=True)
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.tempest.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", help="directory for configs, state and logs "
                                            "(default: a new temporary one, removed on success)")
    parser.add_argument("--concurrency", type=int, default=2, help="tempest workers")
    parser.add_argument("--regex", help="run these tests instead of include-list.txt")
    parser.add_argument("--keep", action="store_true", help="keep the workspace on success")
    return parser


if __name__ == "__main__":
    sys.exit(main())
