"""Real guests in the distributed deployment: api, conductor, scheduler and three libvirt
compute hosts (127.0.1.1-3) as separate processes on RabbitMQ, production defaults.

A guest boots from an uploaded image, migrates, and then migrates again while its source
compute is killed with SIGKILL in the middle of the disk copy: after the restart, the move
settles by itself and the guest boots with its data intact.
"""
import shutil
from pathlib import Path

import pytest

from tests.functional import real_guests
from tests.functional.observe import assert_consistent, wait_for_status
from tests.functional.real_guests import wait_for_boot
from tests.integration.deployment import Deployment

TIMEOUT = 300.0


@pytest.fixture
def guest_deployment(rabbitmq):
    real_guests.require_hypervisor()
    image = real_guests.guest_image()
    root = real_guests.state_dir()
    deployment = Deployment(Path(root), compute={"compute_driver": "libvirt"})
    try:
        deployment.start_all()
        conn = deployment.connect()
        with open(image, "rb") as data:
            conn.image.create_image(name="real-guest", disk_format="qcow2",
                                    container_format="bare", visibility="public", data=data)
        yield deployment
    finally:
        deployment.close()
        real_guests.remove_domains_under(root)
        shutil.rmtree(root, ignore_errors=True)


def test_a_guest_moves_between_processes_and_survives_its_source_killed_mid_copy(
        guest_deployment):
    conn = guest_deployment.connect()
    server = conn.compute.create_server(
        name="real", flavor_id=conn.compute.find_flavor("m1.tiny").id,
        image_id=conn.image.find_image("real-guest").id, networks="none")
    wait_for_status(conn, server.id, "ACTIVE", timeout=TIMEOUT, interval=0.5)
    assert wait_for_boot(conn, server.id, 1).data == "written"

    conn.compute.migrate_server(server)
    wait_for_status(conn, server.id, "VERIFY_RESIZE", timeout=TIMEOUT, interval=0.5)
    assert wait_for_boot(conn, server.id, 2).data == "verified"
    conn.compute.confirm_server_resize(server)
    wait_for_status(conn, server.id, "ACTIVE", timeout=TIMEOUT, interval=0.5)

    source = conn.compute.get_server(server.id).compute_host
    guest_deployment.hold("*", "receive_chunk")   # the destination, once data flows
    conn.compute.migrate_server(server)
    owner, _pid = guest_deployment.wait_reached("receive_chunk", timeout=TIMEOUT)
    assert owner != source
    guest_deployment.kill(source)
    guest_deployment.release(owner, "receive_chunk")
    guest_deployment.restart(source)

    settled = wait_for_status(conn, server.id, "VERIFY_RESIZE", timeout=TIMEOUT, interval=0.5)
    assert settled.compute_host == owner
    assert wait_for_boot(conn, server.id, 3).data == "verified"
    conn.compute.confirm_server_resize(server)
    wait_for_status(conn, server.id, "ACTIVE", timeout=TIMEOUT, interval=0.5)
    assert_consistent(guest_deployment)
