"""The states a cold migration passes through, observed at each step (docs/workflow.md).

Each step is held on the host that runs it (a fault-injector hold), so the test can look at the
server, the migration record and the allocations exactly while that step is in progress.
"""
from herder import states
from herder.db import placement
from herder.db.placement import Resources
from tests.functional.observe import (actual_allocations, assert_consistent, create_server,
                                      events_by_name, instance_record, migrated,
                                      migration_of, wait_for_status)

FLAVOR_TINY = Resources(1, 512, 1)
FLAVOR_SMALL = Resources(1, 2048, 20)


def _node(cloud, host: str) -> str:
    return placement.node_by_host(cloud.db, host).uuid


def _held_migrate(cloud, admin, server, *, source: str, dest: str, flavor: str | None):
    """Start a move to `dest` with its three compute steps held; yields at each one."""
    holds = {"prep_resize": cloud.computes[dest].driver.fault_points.hold("prep_resize"),
             "resize_instance": cloud.computes[source].driver.fault_points.hold("migrate_disk"),
             "finish_resize": cloud.computes[dest].driver.fault_points.hold("finish_migration")}
    if flavor is None:
        resp = admin.compute.post(f"/servers/{server.id}/action",
                                  json={"migrate": {"host": dest}}, microversion="2.56")
    else:
        resp = admin.compute.post(f"/servers/{server.id}/action",
                                  json={"resize": {"flavorRef": flavor}})
    assert resp.status_code == 202, resp.text
    for step in ("prep_resize", "resize_instance", "finish_resize"):
        holds[step].wait_reached()
        yield step
        holds[step].release()


def test_migrate_state_sequence_matches_the_documented_one(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    dest = next(h for h in cloud.computes if h != source)
    observed = {}
    for step in _held_migrate(cloud, admin, server, source=source, dest=dest, flavor=None):
        record, migration = instance_record(cloud, server.id), migration_of(cloud, server.id)
        status = admin.compute.get_server(server.id).status
        observed[step] = (status, record.vm_state, record.task_state, migration.status,
                          record.host, migration.dest_compute)
        if step == "prep_resize":
            # conductor moved the source allocation to the migration; scheduler claimed dest
            allocations = actual_allocations(cloud)
            assert allocations[(migration.uuid, _node(cloud, source))] == FLAVOR_TINY
            assert allocations[(server.id, _node(cloud, dest))] == FLAVOR_TINY
            assert (server.id, _node(cloud, source)) not in allocations
    assert observed == {
        "prep_resize": ("RESIZE", "active", "resize_prep", "pre-migrating", source, dest),
        "resize_instance": ("RESIZE", "active", "resize_migrating", "migrating", source, dest),
        "finish_resize": ("RESIZE", "active", "resize_finish", "post-migrating", dest, dest),
    }
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    record, migration = instance_record(cloud, server.id), migration_of(cloud, server.id)
    assert (record.vm_state, record.task_state, migration.status, record.host) == \
        (states.RESIZED, None, "finished", dest)
    assert record.progress == 100
    assert migration.migration_type == "migration"
    assert migration.disk_total_bytes > 0 and migration.disk_remaining_bytes == 0
    assert_consistent(cloud)


def test_resize_accounts_new_flavor_on_destination_and_old_on_migration(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    dest = next(h for h in cloud.computes if h != source)
    cloud.computes[source].tracker.inventory["local_gb"] = 0  # steer the scheduler away
    for step in _held_migrate(cloud, admin, server, source=source, dest=dest, flavor="2"):
        pass
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    migration = migration_of(cloud, server.id)
    allocations = actual_allocations(cloud)
    assert allocations[(server.id, _node(cloud, migration.dest_compute))] == FLAVOR_SMALL
    assert allocations[(migration.uuid, _node(cloud, source))] == FLAVOR_TINY
    assert migration.migration_type == "resize"
    assert (migration.old_instance_type_id, migration.new_instance_type_id) == (1, 2)

    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    assert migration_of(cloud, server.id).status == "confirmed"
    assert actual_allocations(cloud) == {(server.id, _node(cloud, migration.dest_compute)):
                                         FLAVOR_SMALL}
    assert_consistent(cloud)


def test_revert_passes_through_revert_resize_and_returns_allocations(cloud, admin):
    server, source, dest = migrated(cloud, admin)
    hold = cloud.computes[source].driver.fault_points.hold("finish_revert_migration")
    admin.compute.revert_server_resize(server)
    hold.wait_reached()
    record, migration = instance_record(cloud, server.id), migration_of(cloud, server.id)
    assert admin.compute.get_server(server.id).status == "REVERT_RESIZE"
    assert (record.task_state, migration.status, record.host) == \
        ("resize_reverting", "reverting", dest)
    hold.release()
    wait_for_status(admin, server.id, "ACTIVE")
    record, migration = instance_record(cloud, server.id), migration_of(cloud, server.id)
    assert (record.host, migration.status, record.power_state) == \
        (source, "reverted", states.RUNNING)
    assert actual_allocations(cloud) == {(server.id, _node(cloud, source)): FLAVOR_TINY}
    assert_consistent(cloud)


def test_migrate_events_are_recorded_on_the_hosts_that_ran_them(cloud, admin):
    server, source, dest = migrated(cloud, admin)
    events = events_by_name(admin, server.id, "migrate")
    assert {name: (e["host"], e["result"]) for name, e in events.items()} == {
        "conductor_migrate_server": (cloud.host_name, "Success"),
        "cold_migrate": (cloud.host_name, "Success"),
        "compute_prep_resize": (dest, "Success"),
        "compute_resize_instance": (source, "Success"),
        "compute_finish_resize": (dest, "Success"),
    }
    admin.compute.revert_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    events = events_by_name(admin, server.id, "revertResize")
    assert {name: (e["host"], e["result"]) for name, e in events.items()} == {
        "compute_revert_resize": (dest, "Success"),
        "compute_finish_revert_resize": (source, "Success"),
    }
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    events = events_by_name(admin, server.id, "confirmResize")
    assert {name: e["result"] for name, e in events.items()} == \
        {"compute_confirm_resize": "Success"}


def test_notifications_arrive_in_the_documented_order_from_the_right_hosts(cloud, admin,
                                                                          notifications):
    server, source, dest = migrated(cloud, admin)
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    admin.compute.revert_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")

    moves = [(n["event_type"], n["publisher_id"]) for n in notifications.received
             if n["event_type"].startswith("instance.resize")
             and n["payload"]["nova_object.data"]["uuid"] == server.id]
    second_dest = moves[8][1].split(":", 1)[1]
    assert moves == [
        ("instance.resize_prep.start", f"herder-compute:{dest}"),
        ("instance.resize_prep.end", f"herder-compute:{dest}"),
        ("instance.resize.start", f"herder-compute:{source}"),
        ("instance.resize.end", f"herder-compute:{source}"),
        ("instance.resize_finish.start", f"herder-compute:{dest}"),
        ("instance.resize_finish.end", f"herder-compute:{dest}"),
        ("instance.resize_confirm.start", f"herder-compute:{source}"),
        ("instance.resize_confirm.end", f"herder-compute:{source}"),
        ("instance.resize_prep.start", f"herder-compute:{second_dest}"),
        ("instance.resize_prep.end", f"herder-compute:{second_dest}"),
        ("instance.resize.start", f"herder-compute:{dest}"),
        ("instance.resize.end", f"herder-compute:{dest}"),
        ("instance.resize_finish.start", f"herder-compute:{second_dest}"),
        ("instance.resize_finish.end", f"herder-compute:{second_dest}"),
        ("instance.resize_revert.start", f"herder-compute:{dest}"),
        ("instance.resize_revert.end", f"herder-compute:{dest}"),
    ]
    every = [n["event_type"] for n in notifications.received]
    first_move = every.index("instance.resize_prep.start")
    assert every[first_move - 3:first_move] == [
        "scheduler.select_destinations.start", "scheduler.select_destinations.end",
        "instance.exists"]
    finish_end = next(n for n in notifications.received
                      if n["event_type"] == "instance.resize_finish.end")
    data = finish_end["payload"]["nova_object.data"]
    assert (data["host"], data["action_initiator_user"]) == (dest, "admin")
    assert data["request_id"].startswith("req-")
    prep = next(n for n in notifications.received if n["event_type"] == "instance.resize_prep.start")
    assert prep["payload"]["nova_object.data"]["new_flavor"]["nova_object.data"]["name"] == \
        "m1.tiny"
