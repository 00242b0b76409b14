"""GET /servers/{id}/os-instance-actions[/{request_id}] per microversion, with Nova's events."""
import hashlib

from tests.functional.api_reads import call, error, failed_migrate, ok
from tests.functional.observe import (create_server, instance_record, wait_for_status,
                                      wait_until)

ACTION_FIELDS = {"action", "instance_uuid", "request_id", "user_id", "project_id",
                 "start_time", "message"}
EVENT_FIELDS = {"event", "start_time", "finish_time", "result"}
MOVE_EVENTS = {"conductor_migrate_server", "compute_prep_resize", "compute_resize_instance",
               "compute_finish_resize"}


def _host_id(project_id: str, host: str) -> str:
    return hashlib.sha224((project_id + host).encode()).hexdigest()


def test_admin_sees_the_move_under_the_request_id_it_was_given(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    status, _, response = call(admin, f"/servers/{server.id}/action", "2.56", "POST",
                               {"migrate": None})
    assert status == 202
    request_id = response.headers["x-openstack-request-id"]
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    dest = instance_record(cloud, server.id).host
    base = f"/servers/{server.id}/os-instance-actions"

    listed = ok(admin, base, "2.1")["instanceActions"]
    assert [(a["action"], a["request_id"]) for a in listed][0] == ("migrate", request_id)
    assert [a["action"] for a in listed] == ["migrate", "create"]
    assert all(set(a) == ACTION_FIELDS for a in listed)
    assert all(set(a) == ACTION_FIELDS | {"updated_at"}
               for a in ok(admin, base, "2.58")["instanceActions"])

    old = ok(admin, f"{base}/{request_id}", "2.1")["instanceAction"]
    assert set(old) == ACTION_FIELDS | {"events"} and old["message"] is None
    assert {e["event"] for e in old["events"]} >= MOVE_EVENTS
    assert all(set(e) == EVENT_FIELDS | {"traceback"} and e["result"] == "Success"
               for e in old["events"])
    starts = [e["start_time"] for e in old["events"]]
    assert starts == sorted(starts, reverse=True)   # newest first, as Nova lists them
    order = [e["event"] for e in old["events"] if e["event"] in MOVE_EVENTS]
    assert order == ["compute_finish_resize", "compute_resize_instance", "compute_prep_resize",
                     "conductor_migrate_server"]

    new = ok(admin, f"{base}/{request_id}", "2.62")["instanceAction"]
    assert set(new) == ACTION_FIELDS | {"events", "updated_at"}
    by_name = {e["event"]: e for e in new["events"]}
    assert all(set(e) == EVENT_FIELDS | {"traceback", "host", "hostId"}
               for e in new["events"])
    assert by_name["compute_prep_resize"]["host"] == dest
    assert by_name["compute_resize_instance"]["host"] == source
    assert by_name["compute_resize_instance"]["hostId"] == _host_id("admin", source)

    # what the SDK and `openstack server event list/show` read
    assert [a.action for a in admin.compute.server_actions(server)] == ["migrate", "create"]
    action = admin.compute.get_server_action(request_id, server)
    assert {e.event for e in action.events} >= MOVE_EVENTS
    assert error(admin, f"{base}/req-nope", "2.1") == (404, "Action req-nope not found")


def test_project_members_see_events_from_2_51_without_traceback_or_host(cloud, admin, demo,
                                                                         other_project):
    server = create_server(demo)
    demo.compute.resize_server(server, demo.compute.find_flavor("m1.small").id)
    wait_for_status(demo, server.id, "VERIFY_RESIZE")
    base = f"/servers/{server.id}/os-instance-actions"
    resize = ok(demo, base, "2.1")["instanceActions"][0]
    assert (resize["action"], resize["user_id"], resize["project_id"]) == \
        ("resize", "demo", "demo")
    path = f"{base}/{resize['request_id']}"

    # Nova leaves `events` out before 2.51 for them; herder says [] (clients need the key)
    assert ok(demo, path, "2.50")["instanceAction"]["events"] == []
    events = ok(demo, path, "2.51")["instanceAction"]["events"]
    assert {e["event"] for e in events} >= {"compute_prep_resize", "compute_finish_resize"}
    assert all(set(e) == EVENT_FIELDS for e in events)
    with_ids = ok(demo, path, "2.62")["instanceAction"]["events"]
    assert all(set(e) == EVENT_FIELDS | {"hostId"} for e in with_ids)
    admin_view = ok(admin, path, "2.62")["instanceAction"]["events"]
    assert [e["hostId"] for e in with_ids] == [_host_id("demo", e["host"]) for e in admin_view]

    assert error(other_project, base, "2.62") == \
        (404, f"Instance {server.id} could not be found.")
    assert error(other_project, path, "2.62")[0] == 404


def test_a_failed_move_marks_its_action_and_event_as_error(cloud, admin, demo):
    server = create_server(admin)
    failed = failed_migrate(cloud, admin, server)
    base = f"/servers/{server.id}/os-instance-actions"
    assert failed["action"] == "migrate"
    events = {e["event"]: e for e in
              ok(admin, f"{base}/{failed['request_id']}", "2.1")["instanceAction"]["events"]}
    broken = events["compute_resize_instance"]
    assert broken["result"] == "Error" and "injected fault" in broken["traceback"]
    wait_for_status(admin, server.id, "ACTIVE")


def test_paging_filters_and_deleted_servers(cloud, admin):
    server = create_server(admin)
    admin.compute.lock_server(server)
    admin.compute.unlock_server(server)
    base = f"/servers/{server.id}/os-instance-actions"
    newest_first = [a["request_id"] for a in ok(admin, base, "2.58")["instanceActions"]]
    names = [a["action"] for a in ok(admin, base, "2.58")["instanceActions"]]
    assert names == ["unlock", "lock", "create"]

    page = ok(admin, f"{base}?limit=2", "2.58")
    assert [a["request_id"] for a in page["instanceActions"]] == newest_first[:2]
    (link,) = page["links"]
    assert link["href"].endswith(f"/v2.1{base}?limit=2&marker={newest_first[1]}")
    rest = ok(admin, f"{base}?limit=2&marker={newest_first[1]}", "2.58")
    assert [a["request_id"] for a in rest["instanceActions"]] == newest_first[2:]
    assert "links" not in rest
    assert ok(admin, f"{base}?changes-since=2099-01-01T00:00:00Z",
              "2.58")["instanceActions"] == []
    assert len(ok(admin, f"{base}?changes-before=2099-01-01T00:00:00Z",
                  "2.66")["instanceActions"]) == 3
    # before 2.58 the list is not paged and ignores parameters
    old = ok(admin, f"{base}?limit=1&bogus=1", "2.57")
    assert len(old["instanceActions"]) == 3 and "links" not in old
    assert error(admin, f"{base}?marker=req-nope", "2.58") == \
        (400, "Marker req-nope could not be found.")
    assert error(admin, f"{base}?changes-before=2030-01-01T00:00:00Z", "2.65") == \
        (400, "Additional properties are not allowed ('changes-before' was unexpected)")
    assert error(admin, f"{base}?changes-since=2030-01-02T00:00:00Z"
                 "&changes-before=2030-01-01T00:00:00Z", "2.66")[0] == 400
    assert error(admin, f"{base}?limit=x", "2.58")[0] == 400

    admin.compute.delete_server(server)
    wait_until(lambda: call(admin, f"/servers/{server.id}", "2.1")[0] == 404,
               message="the server to be deleted")
    # from 2.21 the actions of a deleted server stay readable
    assert ok(admin, base, "2.21")["instanceActions"][0]["action"] == "delete"
    assert error(admin, base, "2.20") == (404, f"Instance {server.id} could not be found.")
