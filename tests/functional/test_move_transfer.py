"""A moving server's disk crosses a TCP socket, from the source host's own address to
the destination's transfer agent, and a copy cut off midway resumes instead of starting over."""
from herder.transfer import sparse
from tests.conftest import connect, make_cloud
from tests.functional.observe import (assert_consistent, create_server, events_by_name,
                                      instance_record, migration_of, wait_for_status,
                                      wait_until)

KIB = 1024


def test_migrate_sends_the_disk_over_tcp_between_the_two_hosts_addresses(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    digest_before = sparse.digest(cloud.computes[source].driver.disk_path(server.id))

    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    dest = instance_record(cloud, server.id).host
    migration = migration_of(cloud, server.id)
    seen = cloud.computes[dest].transfers.receiver.last_transfer

    assert (seen.migration_uuid, seen.instance_uuid, seen.completed) == \
        (migration.uuid, server.id, True)
    assert seen.peer[0] == cloud.computes[source].host_ip
    assert seen.local[0] == cloud.computes[dest].host_ip == migration.dest_host
    assert seen.peer[0] != seen.local[0]
    assert seen.bytes_received == migration.disk_total_bytes > 0
    assert sparse.digest(cloud.computes[dest].driver.disk_path(server.id)) == digest_before
    assert_consistent(cloud)


def test_a_copy_cut_off_midway_resumes_where_the_destination_stopped(tmp_path):
    # small chunks at 1 MB/s: the guest's 1 MiB of data takes about a second to send
    cloud = make_cloud(tmp_path, transfer__chunk_size_kb=64, transfer__bandwidth_limit_mbps=8)
    try:
        admin = connect(cloud, cloud.conf.admin_token)
        server = create_server(admin)
        source = instance_record(cloud, server.id).host
        digest_before = sparse.digest(cloud.computes[source].driver.disk_path(server.id))
        admin.compute.migrate_server(server)
        dest = wait_until(lambda: migration_of(cloud, server.id) and
                          migration_of(cloud, server.id).dest_compute, message="a destination")
        receiver = cloud.computes[dest].transfers.receiver
        first = wait_until(lambda: (t := receiver.last_transfer) and
                           t.bytes_received >= 256 * KIB and t, message="a quarter sent")

        receiver.stop()    # the destination's transfer agent restarts: the connection drops
        receiver.start()   # and the agent comes back on another port

        wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=30)
        total = migration_of(cloud, server.id).disk_total_bytes
        resumed = receiver.last_transfer
        assert resumed is not first and resumed.completed
        assert resumed.resumed_from >= 256 * KIB
        assert 0 < resumed.bytes_received <= total - 256 * KIB
        assert sparse.digest(cloud.computes[dest].driver.disk_path(server.id)) == digest_before
        assert_consistent(cloud)
    finally:
        cloud.stop()


def test_a_transfer_the_destination_drops_is_retried_with_a_fresh_grant(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    for host, compute in cloud.computes.items():
        if host != source:   # whichever is chosen fails the first chunk it receives, once
            compute.driver.fault_points.arm("receive_chunk")

    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    dest = instance_record(cloud, server.id).host
    seen = cloud.computes[dest].transfers.receiver.last_transfer
    assert seen.completed and seen.migration_uuid == migration_of(cloud, server.id).uuid
    assert events_by_name(admin, server.id, "migrate")["compute_resize_instance"]["result"] \
        == "Success"
    assert_consistent(cloud)
