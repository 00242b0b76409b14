"""The move workflow through the real API with openstacksdk, polled the way a user polls."""
from herder import states
from tests.functional.observe import (assert_consistent, create_server, instance_record,
                                      wait_for_status)


def test_migrate_then_confirm_moves_the_server_to_another_host(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    assert_consistent(cloud)

    seen: list[str] = []
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE", seen=seen)
    assert seen[-1] == "VERIFY_RESIZE" and set(seen) <= {"RESIZE", "VERIFY_RESIZE"}
    moved = instance_record(cloud, server.id)
    assert moved.host != source and moved.vm_state == states.RESIZED
    assert_consistent(cloud)

    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    assert instance_record(cloud, server.id).host == moved.host
    assert_consistent(cloud)


def test_revert_restores_source_host_and_flavor(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    admin.compute.resize_server(server, admin.compute.find_flavor("m1.small").id)
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    assert instance_record(cloud, server.id).flavor["name"] == "m1.small"
    assert_consistent(cloud)

    admin.compute.revert_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    record = instance_record(cloud, server.id)
    assert record.host == source and record.flavor["name"] == "m1.tiny"
    assert_consistent(cloud)


def test_stopped_server_stays_stopped_through_migrate_and_confirm(cloud, admin):
    server = create_server(admin, stopped=True)
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    assert instance_record(cloud, server.id).power_state == states.SHUTDOWN
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "SHUTOFF")
    assert_consistent(cloud)
