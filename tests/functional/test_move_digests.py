"""The conductor holds the destination's digest of each disk file against the source's.

Both sides digest the disk's content keyed with the grant's key (transfer protocol 3), which
only the two hosts and the conductor see; the source reports its digests with resize_instance,
the conductor asks the destination for its own before finish_resize. Equal: the move goes on.
Different (a disk changed on the way, or a destination whose copy never completed while the
source was told it had): the move rolls back, and says why.
"""
import logging

from herder import states
from tests.functional.observe import (assert_consistent, create_server, instance_record,
                                      migration_of, wait_for_status, wait_until)


def test_a_move_goes_on_when_both_sides_digests_match(cloud, admin, caplog):
    caplog.set_level(logging.INFO, logger="herder.conductor.workflows.migrate")
    server = create_server(admin)
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    assert "digests of 1 disk file(s) match the source's" in caplog.text


def test_a_destination_whose_digest_differs_rolls_the_move_back(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    disk = cloud.computes[source].driver.disk_path(server.id)
    with open(disk, "rb") as f:
        before = f.read(1 << 20)
    for host, compute in cloud.computes.items():
        if host == source:
            continue
        driver = compute.driver
        received = driver.arrived_digests

        def other_bytes(instance, migration_uuid, received=received):
            """What a destination that got other bytes than were sent would have computed."""
            digests = received(instance, migration_uuid)
            return {name: (digest or "")[::-1] or None for name, digest in digests.items()}
        driver.arrived_digests = other_bytes

    admin.compute.migrate_server(server)
    wait_until(lambda: migration_of(cloud, server.id) is not None and
               migration_of(cloud, server.id).status == "error", message="the move to fail")
    wait_for_status(admin, server.id, "ACTIVE")
    migration = migration_of(cloud, server.id)
    assert "is not the one sent" in migration.error_reason
    assert "disk" in migration.error_reason
    record = instance_record(cloud, server.id)
    assert (record.host, record.vm_state, record.task_state) == (source, states.ACTIVE, None)
    with open(disk, "rb") as f:
        assert f.read(1 << 20) == before
    assert_consistent(cloud)
