"""A real guest driven by the unmodified `openstack` CLI, as the README's real-guest command
sets it up: `herder serve --compute-driver libvirt`, its clouds.yaml, and the guest image it
registers as `herder-guest`.

The guest writes random data on its first boot and checks it on every later one;
`openstack console log show` shows each boot's line. Create, migrate and confirm, resize and
revert: after each the guest boots where it should with its data verified. The CLI's `--wait`
waits for the moves; openstacksdk (from the same clouds.yaml) waits for the boots, because a
CLI process costs 1-3 s.
"""
import os
import shutil

import pytest

from tests.functional import real_guests
from tests.functional.openstack_cli import cli_json, serve, server_with_status
from tests.functional.openstack_cli import openstack_cli as cli
from tests.functional.real_guests import boots, wait_for_boot

pytestmark = pytest.mark.cli


@pytest.fixture(scope="module")
def served():
    real_guests.require_hypervisor()
    image = real_guests.guest_image()
    state = real_guests.state_dir()   # QEMU must reach it: not under pytest's /tmp/pytest-*
    try:
        yield from serve(state, "--hosts", "2", "--compute-driver", "libvirt",
                         env={**os.environ, "OS_LIBVIRT__GUEST_IMAGE_FILE": image})
    finally:
        real_guests.remove_domains_under(state)
        shutil.rmtree(state, ignore_errors=True)


def console_boots(served, name: str) -> list:
    return boots(cli(served, "console", "log", "show", name).stdout)


def test_a_real_guest_created_migrated_resized_and_reverted_through_the_cli(served):
    sdk = served["sdk"]
    created = cli_json(served, "server", "create", "--flavor", "m1.tiny", "--image",
                       "herder-guest", "--wait", "real")
    assert created["status"] == "ACTIVE"
    server_id = created["id"]
    wait_for_boot(sdk, server_id, 1)
    [first] = console_boots(served, "real")
    assert (first.count, first.data, first.vcpus) == (1, "written", 1)
    home = sdk.compute.get_server(server_id).compute_host

    cli(served, "server", "migrate", "--wait", "real")
    moved = server_with_status(served, server_id, "VERIFY_RESIZE")
    assert moved.compute_host != home
    wait_for_boot(sdk, server_id, 2)
    assert console_boots(served, "real")[-1].data == "verified"
    cli(served, "server", "resize", "confirm", "real")
    assert server_with_status(served, server_id, "ACTIVE").compute_host == moved.compute_host

    cli(served, "flavor", "create", "--vcpus", "2", "--ram", "768", "--disk", "2", "real.large")
    cli(served, "server", "resize", "--flavor", "real.large", "--wait", "real")
    server_with_status(served, server_id, "VERIFY_RESIZE")
    resized = wait_for_boot(sdk, server_id, 3)
    assert (resized.data, resized.vcpus, resized.disk_mb) == ("verified", 2, 2048)
    assert 640 <= resized.ram_mb <= 768

    cli(served, "server", "resize", "revert", "real")
    reverted = server_with_status(served, server_id, "ACTIVE")
    assert reverted.compute_host == moved.compute_host
    assert reverted.flavor.original_name == "m1.tiny"
    # the copy kept before the resize: its third boot, with the old flavor's resources
    back = wait_for_boot(sdk, server_id, 3)
    assert (back.data, back.vcpus, back.disk_mb) == ("verified", 1, 1024)

    cli(served, "server", "delete", "--wait", "real")
    assert sdk.compute.find_server(server_id) is None
