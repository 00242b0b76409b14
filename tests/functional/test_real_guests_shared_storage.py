"""Real guests moving between two hosts that share one instances directory.

Both libvirt hosts keep their guests in the same directory (`[compute] instances_dir`), as
hosts on one NFS export would. A move finds that out with the destination's probe and copies
the guest's disks locally, beside the kept copy: both hosts' transfer agents refuse every
chunk here, so a move that sent anything over the network would fail. The guest's console
shows its data verified after the move and again after the revert, which boots the source's
untouched copy.
"""
import os
import shutil

import pytest

from herder.db import migrations
from tests.conftest import connect, make_cloud
from tests.functional import real_guests
from tests.functional.observe import wait_for_status, wait_until
from tests.functional.real_guests import wait_for_boot

MOVE_TIMEOUT = 240.0


@pytest.fixture(scope="module")
def shared_cloud(tmp_path_factory):
    real_guests.require_hypervisor()
    image = real_guests.guest_image()
    state = real_guests.state_dir()
    cloud = make_cloud(tmp_path_factory.mktemp("shared"), hosts=2, state_dir=state,
                       compute__compute_driver="libvirt",
                       compute__instances_dir=os.path.join(state, "shared-instances"))
    for compute in cloud.computes.values():
        compute.driver.fault_points.arm("receive_chunk", times=1000)
    admin = connect(cloud, cloud.conf.admin_token)
    with open(image, "rb") as data:
        admin.image.create_image(name="herder-real-guest", disk_format="qcow2",
                                 container_format="bare", visibility="public", data=data)
    yield cloud
    cloud.stop()
    real_guests.remove_domains_under(state)
    shutil.rmtree(state, ignore_errors=True)


def test_a_guest_moves_and_reverts_on_shared_storage_with_its_data_intact(shared_cloud):
    admin = connect(shared_cloud, shared_cloud.conf.admin_token)
    created = admin.compute.create_server(
        name="shared", flavor_id=admin.compute.find_flavor("m1.tiny").id,
        image_id=admin.image.find_image("herder-real-guest").id, networks="none")
    server = wait_for_status(admin, created.id, "ACTIVE", timeout=MOVE_TIMEOUT, interval=0.5)
    assert wait_for_boot(admin, server.id, 1).data == "written"
    source = server.compute_host

    admin.compute.migrate_server(server)
    server = wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=MOVE_TIMEOUT,
                             interval=0.5)
    assert server.compute_host != source
    assert wait_for_boot(admin, server.id, 2).data == "verified"
    assert migrations.latest_for(shared_cloud.db, server.id).disk_total_bytes > 0
    directory = next(iter(shared_cloud.instances_dirs().values()))
    assert sorted(n for n in os.listdir(directory) if n.startswith(server.id)) == \
        [server.id, server.id + "_resize"]

    admin.compute.revert_server_resize(server)
    server = wait_for_status(admin, server.id, "ACTIVE", timeout=MOVE_TIMEOUT, interval=0.5)
    assert server.compute_host == source
    # the kept copy as it was before the move: its second boot, not a third
    assert wait_for_boot(admin, server.id, 2).data == "verified"
    assert sorted(n for n in os.listdir(directory) if n.startswith(server.id)) == [server.id]

    admin.compute.delete_server(server.id)
    wait_until(lambda: admin.compute.find_server(server.id) is None, MOVE_TIMEOUT,
               f"server {server.id} to be deleted", interval=0.5)
    assert not [n for n in os.listdir(directory) if n.startswith(server.id)]
