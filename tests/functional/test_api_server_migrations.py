"""GET /servers/{id}/migrations[/{id}]: a server's in-progress moves, cold ones included."""
from herder import states
from tests.functional.api_reads import error, ok
from tests.functional.observe import (create_server, instance_record, wait_for_status,
                                      wait_until)

FIELDS_223 = {"id", "server_uuid", "status", "created_at", "updated_at", "source_compute",
              "source_node", "dest_compute", "dest_node", "dest_host", "disk_total_bytes",
              "disk_processed_bytes", "disk_remaining_bytes", "memory_total_bytes",
              "memory_processed_bytes", "memory_remaining_bytes"}


def test_a_cold_migration_is_listed_while_it_runs_with_disk_progress(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    cloud.computes[source].driver.power_off_seconds = 1   # holds the move in `migrating`
    admin.compute.migrate_server(server)
    path = f"/servers/{server.id}/migrations"

    (running,) = wait_until(lambda: ok(admin, path, "2.23")["migrations"],
                            message="the move to be listed")
    assert admin.compute.get_server(server.id).status == "RESIZE"
    assert set(running) == FIELDS_223
    assert running["server_uuid"] == server.id and running["source_compute"] == source
    assert running["status"] in states.MIGRATION_IN_PROGRESS
    assert running["memory_total_bytes"] is None and running["memory_remaining_bytes"] is None
    shown = ok(admin, f"{path}/{running['id']}", "2.23")["migration"]
    assert set(shown) == FIELDS_223 and shown["id"] == running["id"]
    assert set(ok(admin, path, "2.59")["migrations"][0]) == FIELDS_223 | {"uuid"}
    latest = ok(admin, f"{path}/{running['id']}", "2.80")["migration"]
    assert set(latest) == FIELDS_223 | {"uuid", "user_id", "project_id"}
    assert (latest["user_id"], latest["project_id"]) == ("admin", "admin")

    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    (finished,) = ok(admin, path, "2.80")["migrations"]
    assert finished["status"] == "finished" and finished["dest_compute"] != source
    assert finished["disk_total_bytes"] > 0
    assert finished["disk_processed_bytes"] == finished["disk_total_bytes"]
    assert finished["disk_remaining_bytes"] == 0
    (listed,) = admin.compute.server_migrations(server)   # what the SDK and CLI read
    assert listed.uuid == finished["uuid"] and listed.disk_total_bytes > 0

    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    assert ok(admin, path, "2.23")["migrations"] == []
    assert error(admin, f"{path}/{running['id']}", "2.23") == \
        (404, f"Migration {running['id']} for server {server.id} is not in progress.")


def test_a_resize_is_listed_and_lookups_fail_as_nova_does(cloud, admin, demo, other_project):
    server = create_server(demo)
    demo.compute.resize_server(server, demo.compute.find_flavor("m1.small").id)
    wait_for_status(demo, server.id, "VERIFY_RESIZE")
    path = f"/servers/{server.id}/migrations"
    (resize,) = ok(admin, path, "2.80")["migrations"]
    assert resize["status"] == "finished" and resize["project_id"] == "demo"

    assert error(admin, path, "2.22") == (404, "The resource could not be found.")
    assert error(admin, f"{path}/{resize['id']}", "2.22")[0] == 404
    for missing in ("999999", "abc", "99999999999999999999999"):
        assert error(admin, f"{path}/{missing}", "2.23") == \
            (404, f"In-progress migration {missing} is not found for server {server.id}.")
    # the owner sees the server but not its moves (admin only by default); others see nothing
    assert error(demo, path, "2.23") == \
        (403, "Policy doesn't allow os_compute_api:servers:migrations:index to be performed.")
    assert error(demo, f"{path}/{resize['id']}", "2.23") == \
        (403, "Policy doesn't allow os_compute_api:servers:migrations:show to be performed.")
    assert error(other_project, path, "2.23") == \
        (404, f"Instance {server.id} could not be found.")
    assert error(admin, "/servers/nope/migrations", "2.23") == \
        (404, "Instance nope could not be found.")


def test_deleting_a_move_in_verify_resize_is_refused_and_leaves_it_alone(cloud, admin):
    """Nova's 2.24 DELETE aborts a live migration; herder has none, and aborts cold moves
    instead (test_move_abort.py), but only before VERIFY_RESIZE: there the DELETE is a 400
    and the move stays as if it had not come."""
    server = create_server(admin)
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    path = f"/servers/{server.id}/migrations"
    (move,) = ok(admin, path, "2.24")["migrations"]

    assert error(admin, f"{path}/{move['id']}", "2.24", method="DELETE")[0] == 400
    assert admin.compute.get_server(server.id).status == "VERIFY_RESIZE"
    assert [m["status"] for m in ok(admin, path, "2.24")["migrations"]] == ["finished"]
