"""Real guests moving between hosts: QEMU domains through libvirt, booted from an image a user
uploaded, driven through the Compute API with openstacksdk.

Two compute hosts share this machine's libvirt daemon, each with its own instances directory
and its own loopback address: a move really carries the guest's disks from one host's files to
the other's, over the hosts' transfer agents. The guest writes random data on its first boot
and checks it on every later one, so its console tells whether its disk arrived intact.
Production defaults otherwise (shutdown_timeout 60 s, retry every 10 s).
"""
import os
import shutil
import uuid

import pytest

from herder import states
from herder.conductor import guest_image
from herder.db import instances, migrations
from herder.wire import instance_to_wire
from tests.conftest import connect, make_cloud
from tests.functional import real_guests
from tests.functional.observe import wait_for_status, wait_until
from tests.functional.real_guests import wait_for_boot

MOVE_TIMEOUT = 240.0
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def guest_cloud(tmp_path_factory):
    real_guests.require_hypervisor()
    image = real_guests.guest_image()
    state = real_guests.state_dir()
    cloud = make_cloud(tmp_path_factory.mktemp("real"), hosts=2, state_dir=state,
                       compute__compute_driver="libvirt")
    admin = connect(cloud, cloud.conf.admin_token)
    with open(image, "rb") as data:
        uploaded = admin.image.create_image(name="herder-real-guest", disk_format="qcow2",
                                            container_format="bare", visibility="public",
                                            data=data)
    assert admin.image.get_image(uploaded.id).status == "active"
    admin.compute.create_flavor(name="real.large", ram=768, vcpus=2, disk=2)
    yield cloud
    cloud.stop()
    real_guests.remove_domains_under(state)
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def admin(guest_cloud):
    return connect(guest_cloud, guest_cloud.conf.admin_token)


@pytest.fixture
def server(admin, guest_cloud):
    """A running guest of m1.tiny that has booted once and written its data."""
    image = admin.image.find_image("herder-real-guest")
    created = admin.compute.create_server(
        name="real", flavor_id=admin.compute.find_flavor("m1.tiny").id, image_id=image.id,
        networks="none")
    created = wait_for_status(admin, created.id, "ACTIVE", timeout=MOVE_TIMEOUT, interval=0.5)
    first = wait_for_boot(admin, created.id, 1)
    assert (first.data, first.vcpus) == ("written", 1)
    assert 400 <= first.ram_mb <= 512
    yield created
    admin.compute.delete_server(created.id)
    wait_until(lambda: admin.compute.find_server(created.id) is None, MOVE_TIMEOUT,
               f"server {created.id} to be deleted", interval=0.5)


def host_of(admin, server_id: str) -> str:
    return admin.compute.get_server(server_id).compute_host


def files_on(cloud, host: str, server_id: str) -> list[str]:
    instances = cloud.instances_dirs()[host]
    return sorted(name for name in os.listdir(instances) if name.startswith(server_id))


def test_a_migrated_guest_boots_on_its_new_host_with_its_data_intact(guest_cloud, admin,
                                                                     server):
    source = host_of(admin, server.id)
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=MOVE_TIMEOUT, interval=0.5)
    dest = host_of(admin, server.id)
    assert dest != source
    assert wait_for_boot(admin, server.id, 2).data == "verified"

    # what crossed is the overlay's data (the guest's 16 MiB and what its file system wrote),
    # not the disk's 1 GiB: the destination fetched its own copy of the image
    moved = migrations.latest_for(guest_cloud.db, server.id).disk_total_bytes
    assert 16 * MIB <= moved < 100 * MIB

    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE", timeout=MOVE_TIMEOUT, interval=0.5)
    assert files_on(guest_cloud, source, server.id) == []
    assert files_on(guest_cloud, dest, server.id) == [server.id]
    assert guest_cloud.computes[source].driver.power_state(server.id) == states.NOSTATE
    assert guest_cloud.computes[dest].driver.power_state(server.id) == states.RUNNING


def test_a_reverted_guest_boots_on_its_source_with_its_data_intact(guest_cloud, admin,
                                                                   server):
    source = host_of(admin, server.id)
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=MOVE_TIMEOUT, interval=0.5)
    dest = host_of(admin, server.id)
    assert wait_for_boot(admin, server.id, 2).data == "verified"

    admin.compute.revert_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE", timeout=MOVE_TIMEOUT, interval=0.5)
    assert host_of(admin, server.id) == source
    # the source's own copy, as it was before the move: its second boot
    assert wait_for_boot(admin, server.id, 2).data == "verified"
    assert files_on(guest_cloud, dest, server.id) == []
    assert guest_cloud.computes[dest].driver.power_state(server.id) == states.NOSTATE


def test_a_resized_guest_sees_its_new_memory_cpus_and_disk(guest_cloud, admin, server):
    admin.compute.resize_server(server, admin.compute.find_flavor("real.large").id)
    wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=MOVE_TIMEOUT, interval=0.5)
    resized = wait_for_boot(admin, server.id, 2)
    assert resized.data == "verified"
    assert resized.vcpus == 2
    assert 640 <= resized.ram_mb <= 768
    assert resized.disk_mb == 2048
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE", timeout=MOVE_TIMEOUT, interval=0.5)


def test_a_stopped_guest_moves_stopped_and_starts_with_its_data(guest_cloud, admin, server):
    admin.compute.stop_server(server)
    wait_for_status(admin, server.id, "SHUTOFF", timeout=MOVE_TIMEOUT, interval=0.5)
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=MOVE_TIMEOUT, interval=0.5)
    dest = host_of(admin, server.id)
    assert guest_cloud.computes[dest].driver.power_state(server.id) == states.SHUTDOWN
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "SHUTOFF", timeout=MOVE_TIMEOUT, interval=0.5)
    admin.compute.start_server(server)
    wait_for_status(admin, server.id, "ACTIVE", timeout=MOVE_TIMEOUT, interval=0.5)
    assert wait_for_boot(admin, server.id, 2).data == "verified"


def test_a_failure_after_power_off_rolls_back_and_the_guest_boots_on_its_source(
        guest_cloud, admin, server):
    source = host_of(admin, server.id)
    dest = next(host for host in guest_cloud.computes if host != source)
    guest_cloud.computes[dest].driver.fault_points.arm("finish_migration")
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "ACTIVE", timeout=MOVE_TIMEOUT, interval=0.5)
    assert host_of(admin, server.id) == source
    assert wait_for_boot(admin, server.id, 2).data == "verified"
    assert files_on(guest_cloud, dest, server.id) == []
    assert files_on(guest_cloud, source, server.id) == [server.id]



def test_a_starting_host_removes_what_a_move_left_and_stops_what_should_be_off(
        guest_cloud, admin, server):
    home = host_of(admin, server.id)
    other = next(host for host in guest_cloud.computes if host != home)
    stray = guest_cloud.computes[other]
    as_sent = {**instance_to_wire(instances.get(guest_cloud.db, server.id)),
               "image": guest_image.image_meta(guest_cloud.db, guest_cloud.conf,
                                               instances.get(guest_cloud.db, server.id)
                                               .image_ref)}
    # what a move rolled back behind herder's back would leave: the server defined elsewhere
    stray.driver.spawn(as_sent, power_on=False)
    # and a guest no server of herder's owns
    unknown = {**as_sent, "uuid": str(uuid.uuid4())}
    stray.driver.spawn(unknown, power_on=False)
    # the server stopped through the API, its guest started again outside herder
    admin.compute.stop_server(server)
    wait_for_status(admin, server.id, "SHUTOFF", timeout=MOVE_TIMEOUT, interval=0.5)
    guest_cloud.computes[home].driver.power_on(as_sent)

    stray.reconcile()
    guest_cloud.computes[home].reconcile()

    assert stray.driver.power_state(server.id) == states.NOSTATE
    assert files_on(guest_cloud, other, server.id) == []
    assert stray.driver.power_state(unknown["uuid"]) == states.SHUTDOWN   # left alone
    assert guest_cloud.computes[home].driver.power_state(server.id) == states.SHUTDOWN
    assert files_on(guest_cloud, home, server.id) == [server.id]
    stray.driver.destroy(unknown)
