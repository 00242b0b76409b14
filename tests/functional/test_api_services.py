"""GET /os-services and PUT /os-services/...: list, disable with a reason, force down."""
import time
import uuid

from tests.conftest import connect, make_cloud
from tests.functional.api_reads import call, error, microsecond_time, ok
from tests.functional.observe import create_server, instance_record, wait_for_status

FIELDS = {"id", "binary", "host", "zone", "status", "state", "updated_at", "disabled_reason"}
HOSTS = {"compute1", "compute2", "compute3"}


def _compute(conn, host: str, version: str) -> dict:
    return next(s for s in ok(conn, f"/os-services?host={host}", version)["services"]
                if s["binary"] == "nova-compute")


def test_list_per_microversion_and_filters(cloud, admin, demo):
    for version, fields, id_type in (("2.1", FIELDS, int), ("2.10", FIELDS, int),
                                     ("2.11", FIELDS | {"forced_down"}, int),
                                     ("2.52", FIELDS | {"forced_down"}, int),
                                     ("2.53", FIELDS | {"forced_down"}, str),
                                     ("2.80", FIELDS | {"forced_down"}, str)):
        listed = ok(admin, "/os-services", version)["services"]
        assert all(set(s) == fields and isinstance(s["id"], id_type) for s in listed), version
    computes = [s for s in listed if s["binary"] == "nova-compute"]
    assert {s["host"] for s in computes} == HOSTS
    assert all((s["zone"], s["status"], s["state"], s["forced_down"]) ==
               ("nova", "enabled", "up", False) for s in computes)
    assert {s["binary"] for s in listed} >= {"nova-conductor", "nova-scheduler"}
    assert all(s["zone"] == "internal" for s in listed if s["binary"] != "nova-compute")
    assert uuid.UUID(computes[0]["id"]) and microsecond_time(computes[0]["updated_at"])

    only = ok(admin, "/os-services?host=compute2&binary=nova-compute", "2.1")["services"]
    assert [(s["host"], s["binary"]) for s in only] == [("compute2", "nova-compute")]
    assert len(ok(admin, "/os-services?binary=nova-compute", "2.1")["services"]) == 3
    assert len(ok(admin, "/os-services?bogus=1", "2.74")["services"]) == len(listed)
    assert error(admin, "/os-services?bogus=1", "2.75") == \
        (400, "Additional properties are not allowed ('bogus' was unexpected)")
    assert {s.host for s in admin.compute.services(binary="nova-compute")} == HOSTS
    assert error(demo, "/os-services", "2.1") == \
        (403, "Policy doesn't allow os_compute_api:os-services:list to be performed.")


def test_legacy_actions_name_the_service_by_host_and_binary(cloud, admin):
    host = {"host": "compute2", "binary": "nova-compute"}
    status, reply, _ = call(admin, "/os-services/disable-log-reason", "2.1", "PUT",
                            {**host, "disabled_reason": "new disks"})
    assert (status, reply) == (200, {"service": {**host, "status": "disabled",
                                                 "disabled_reason": "new disks"}})
    shown = _compute(admin, "compute2", "2.1")
    assert (shown["status"], shown["disabled_reason"]) == ("disabled", "new disks")
    hypervisor = next(h for h in ok(admin, "/os-hypervisors/detail", "2.1")["hypervisors"]
                      if h["hypervisor_hostname"] == "compute2")
    assert hypervisor["status"] == "disabled"
    assert hypervisor["service"]["disabled_reason"] == "new disks"

    status, reply, _ = call(admin, "/os-services/enable", "2.1", "PUT", host)
    assert (status, reply) == (200, {"service": {**host, "status": "enabled"}})
    assert _compute(admin, "compute2", "2.1")["disabled_reason"] is None
    status, reply, _ = call(admin, "/os-services/disable", "2.52", "PUT", host)
    assert reply == {"service": {**host, "status": "disabled"}}

    assert error(admin, "/os-services/force-down", "2.10", "PUT", host) == \
        (404, "Unknown action")
    status, reply, _ = call(admin, "/os-services/force-down", "2.11", "PUT",
                            {**host, "forced_down": True})
    assert reply == {"service": {**host, "forced_down": True}}
    forced = _compute(admin, "compute2", "2.11")
    assert (forced["state"], forced["forced_down"]) == ("down", True)

    assert error(admin, "/os-services/disable", "2.1", "PUT",
                 {"host": "vm", "binary": "nova-scheduler"}) == \
        (400, "Updating a nova-scheduler service is not supported. Only nova-compute "
              "services can be updated.")
    assert error(admin, "/os-services/disable", "2.1", "PUT",
                 {"host": "nowhere", "binary": "nova-compute"}) == \
        (404, "Compute host nowhere with binary nova-compute could not be found.")
    assert error(admin, "/os-services/disable-log-reason", "2.1", "PUT", host) == \
        (400, "Missing disabled reason field")
    assert error(admin, "/os-services/force-down", "2.11", "PUT", host) == \
        (400, "Missing forced_down field")
    assert error(admin, "/os-services/disable", "2.10", "PUT",
                 {**host, "forced_down": True})[0] == 400   # not in the body before 2.11
    assert error(admin, "/os-services/reboot", "2.1", "PUT", host) == (404, "Unknown action")


def test_update_by_uuid_from_2_53_steers_the_scheduler(cloud, admin, demo):
    services = {s["host"]: s for s in ok(admin, "/os-services?binary=nova-compute",
                                         "2.53")["services"]}
    for host in ("compute2", "compute3"):
        status, reply, _ = call(admin, f"/os-services/{services[host]['id']}", "2.53", "PUT",
                                {"status": "disabled", "disabled_reason": "drain"})
        assert status == 200
        assert set(reply["service"]) == FIELDS | {"forced_down"}
        assert (reply["service"]["status"], reply["service"]["disabled_reason"],
                reply["service"]["id"]) == ("disabled", "drain", services[host]["id"])
    server = create_server(admin)   # only compute1 may take it now
    assert instance_record(cloud, server.id).host == "compute1"

    compute3 = f"/os-services/{services['compute3']['id']}"
    assert error(admin, compute3, "2.53", "PUT",
                 {"status": "enabled", "disabled_reason": "x"}) == \
        (400, "Specifying 'disabled_reason' with status 'enabled' is invalid.")
    assert error(admin, compute3, "2.53", "PUT", {}) == \
        (400, "No updates were requested. Fields 'status' or 'forced_down' should be "
              "specified.")
    assert error(admin, compute3, "2.53", "PUT", {"status": "paused"})[0] == 400
    status, reply, _ = call(admin, compute3, "2.80", "PUT", {"forced_down": "yes"})
    assert (reply["service"]["state"], reply["service"]["forced_down"]) == ("down", True)
    status, reply, _ = call(admin, compute3, "2.80", "PUT",
                            {"status": "enabled", "forced_down": False})
    assert (reply["service"]["status"], reply["service"]["state"],
            reply["service"]["disabled_reason"]) == ("enabled", "up", None)

    admin.compute.enable_service(services["compute2"]["id"])   # the SDK's 2.53 path
    assert _compute(admin, "compute2", "2.53")["status"] == "enabled"

    assert error(admin, "/os-services/enable", "2.53", "PUT", {"status": "enabled"}) == \
        (400, "Invalid uuid enable")
    unknown = str(uuid.uuid4())
    assert error(admin, f"/os-services/{unknown}", "2.53", "PUT", {"status": "enabled"}) == \
        (404, f"Service {unknown} could not be found.")
    scheduler = next(s for s in ok(admin, "/os-services", "2.53")["services"]
                     if s["binary"] == "nova-scheduler")
    assert error(admin, f"/os-services/{scheduler['id']}", "2.53", "PUT",
                 {"status": "disabled"})[0] == 400
    assert error(demo, compute3, "2.53", "PUT", {"status": "disabled"}) == \
        (403, "Policy doesn't allow os_compute_api:os-services:update to be performed.")


def test_hosts_stay_up_while_the_conductor_is_busy_with_moves(tmp_path):
    """Heartbeats have a lane of their own to the conductor: with its only workflow worker held
    in a move for longer than service_down_time, every compute host still shows `up`."""
    cloud = make_cloud(tmp_path, conductor__workers=1, service_down_time=3)
    try:
        admin = connect(cloud, cloud.conf.admin_token)
        server = create_server(admin)
        source = instance_record(cloud, server.id).host
        held = cloud.computes[source].driver.fault_points.hold("migrate_disk")
        admin.compute.migrate_server(server)
        held.wait_reached()
        time.sleep(4)                       # > service_down_time, the worker busy all along
        states = {s["host"]: s["state"] for s in ok(admin, "/os-services", "2.53")["services"]
                  if s["binary"] == "nova-compute"}
        held.release()
        assert states == dict.fromkeys(HOSTS, "up")
        wait_for_status(admin, server.id, "VERIFY_RESIZE")
    finally:
        cloud.stop()
