"""Microversions 2.81 to 2.104 (docs/microversions.md): at each boundary herder implements, the
shape or the validation just below it and at it."""
from herder import catalogue
from herder.db import images
from herder.db.models import Image
from tests.functional.api_reads import call, error, failed_migrate, ok
from tests.functional.contract import assert_echoes_version
from tests.functional.observe import create_server, instance_record, wait_for_status

USAGE = {"vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used",
         "free_ram_mb", "free_disk_gb", "current_workload", "running_vms",
         "disk_available_least", "cpu_info"}
HYPERVISOR_DETAIL = {"id", "hypervisor_hostname", "state", "status", "hypervisor_type",
                     "hypervisor_version", "host_ip", "service"}


def boot(conn, version: str, name: str = "vm", hints: dict | None = None,
         image_id: str = catalogue.IMAGE_ID, **server) -> str:
    """Create a server with a raw request at `version`; its id once it is ACTIVE."""
    body = {"server": {"name": name, "flavorRef": "1", "imageRef": image_id,
                       "networks": "none", **server}}
    if hints is not None:
        body["os:scheduler_hints"] = hints
    status, reply, _ = call(conn, "/servers", version, "POST", body)
    assert status == 202, reply
    wait_for_status(conn, reply["server"]["id"], "ACTIVE")
    return reply["server"]["id"]


def an_image_with_properties(cloud, properties: dict) -> str:
    """A copy of the catalogue's guest image that carries `properties`."""
    source = images.get(cloud.db, catalogue.IMAGE_ID)
    columns = {f: getattr(source, f) for f in ("status", "disk_format", "container_format",
                                                "size", "min_disk", "min_ram", "visibility",
                                                "owner", "checksum", "file_path")}
    images.add(cloud.db, Image(id="c0ffee00-0000-4000-8000-000000000098", name="with-props",
                               properties=properties, **columns))
    return "c0ffee00-0000-4000-8000-000000000098"


# -- servers ----------------------------------------------------------------------------------

def test_server_bodies_grow_hostname_pinned_zone_image_properties_and_hints(cloud, admin, demo):
    """2.90 hostname for everyone, 2.96 pinned_availability_zone, 2.98 the image's properties,
    2.100 the scheduler hints: absent just below each, present from it."""
    group = call(demo, "/os-server-groups", "2.64", "POST",
                 {"server_group": {"name": "g", "policy": "anti-affinity"}})[1]["server_group"]["id"]
    image = an_image_with_properties(cloud, {"os_distro": "debian", "hw_disk_bus": "virtio",
                                             "bad/name": "left out", "build": 7})
    zone = cloud.conf.default_availability_zone
    pinned = boot(demo, "2.64", name="Web Server_1", image_id=image, availability_zone=zone,
                  hints={"group": group})
    free = boot(demo, "2.1", name="free")
    path = f"/servers/{pinned}"

    below = ok(demo, path, "2.89")["server"]
    assert "OS-EXT-SRV-ATTR:hostname" not in below
    at_90 = ok(demo, path, "2.90")["server"]
    assert at_90["OS-EXT-SRV-ATTR:hostname"] == "web-server-1"   # derived from the name
    assert not {"OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:instance_name"} & set(at_90)
    # admins saw it from 2.3 already, the same value
    assert ok(admin, path, "2.3")["server"]["OS-EXT-SRV-ATTR:hostname"] == "web-server-1"

    assert "pinned_availability_zone" not in ok(demo, path, "2.95")["server"]
    assert ok(demo, path, "2.96")["server"]["pinned_availability_zone"] == zone
    assert ok(demo, f"/servers/{free}", "2.96")["server"]["pinned_availability_zone"] is None

    assert "properties" not in ok(demo, path, "2.97")["server"]["image"]
    image_body = ok(demo, path, "2.98")["server"]["image"]
    assert image_body["id"] == image
    assert image_body["properties"] == {"os_distro": "debian", "hw_disk_bus": "virtio",
                                        "build": "7"}

    assert "scheduler_hints" not in ok(demo, path, "2.99")["server"]
    assert ok(demo, path, "2.100")["server"]["scheduler_hints"] == {"group": group}
    assert ok(demo, f"/servers/{free}", "2.100")["server"]["scheduler_hints"] == {}

    # the detailed list shows the same, server by server
    detail = {s["id"]: s for s in ok(demo, "/servers/detail", "2.100")["servers"]}
    assert (detail[pinned]["pinned_availability_zone"], detail[pinned]["scheduler_hints"],
            detail[pinned]["image"]["properties"]["os_distro"]) == (zone, {"group": group},
                                                                     "debian")
    assert detail[free]["pinned_availability_zone"] is None
    # (a list shows no server_groups: 2.71 put them in show and update only)
    assert set(ok(demo, "/servers/detail", "2.95")["servers"][0]) == \
        set(below) - {"server_groups"} | {"OS-EXT-SRV-ATTR:hostname"}


def test_hostname_is_chosen_at_create_and_update_from_2_90_and_may_be_a_fqdn_from_2_94(cloud,
                                                                                       demo):
    body = {"server": {"name": "n", "flavorRef": "1", "imageRef": catalogue.IMAGE_ID,
                       "networks": "none", "hostname": "db-1"}}
    status, reply, _ = call(demo, "/servers", "2.89", "POST", body)
    assert status == 400 and "'hostname' was unexpected" in reply["badRequest"]["message"]
    server = boot(demo, "2.90", name="n", hostname="db-1")
    assert instance_record(cloud, server).hostname == "db-1"
    assert ok(demo, f"/servers/{server}", "2.90")["server"]["OS-EXT-SRV-ATTR:hostname"] == "db-1"

    path = f"/servers/{server}"
    assert error(demo, path, "2.89", "PUT", {"server": {"hostname": "db-2"}})[0] == 400
    status, reply, _ = call(demo, path, "2.90", "PUT", {"server": {"hostname": "db-2"}})
    assert status == 200 and reply["server"]["OS-EXT-SRV-ATTR:hostname"] == "db-2"
    fqdn = {"server": {"hostname": "db-2.example.org"}}
    code, message = error(demo, path, "2.93", "PUT", fqdn)
    assert code == 400 and message.startswith("Invalid input for field/attribute hostname.")
    status, reply, _ = call(demo, path, "2.94", "PUT", fqdn)
    assert status == 200 and reply["server"]["OS-EXT-SRV-ATTR:hostname"] == "db-2.example.org"
    for bad in ("-db", "db_1", "a" * 64):
        assert error(demo, path, "2.90", "PUT", {"server": {"hostname": bad}})[0] == 400
    # renaming the server leaves its hostname alone, as in Nova
    call(demo, path, "2.90", "PUT", {"server": {"name": "renamed"}})
    assert instance_record(cloud, server).hostname == "db-2.example.org"


def test_pinned_zone_can_be_dropped_or_set_to_the_current_zone_from_2_104(cloud, demo):
    zone = cloud.conf.default_availability_zone
    server = boot(demo, "2.1", availability_zone=zone)
    path = f"/servers/{server}"
    unpin = {"server": {"pinned_availability_zone": None}}
    code, message = error(demo, path, "2.103", "PUT", unpin)
    assert code == 400 and "'pinned_availability_zone' was unexpected" in message

    status, reply, response = call(demo, path, "2.104", "PUT", unpin)
    assert status == 200 and reply["server"]["pinned_availability_zone"] is None
    assert_echoes_version(response, "2.104")
    assert ok(demo, path, "2.96")["server"]["pinned_availability_zone"] is None

    assert error(demo, path, "2.104", "PUT",
                 {"server": {"pinned_availability_zone": "elsewhere"}}) == \
        (400, f"Server {server} is in availability zone {zone}: it can only be pinned to "
              "that zone.")
    assert ok(demo, path, "2.96")["server"]["pinned_availability_zone"] is None
    status, reply, _ = call(demo, path, "2.104", "PUT",
                            {"server": {"pinned_availability_zone": zone}})
    assert status == 200 and reply["server"]["pinned_availability_zone"] == zone


def test_project_members_filter_servers_by_state_from_2_83(cloud, admin, demo):
    running = boot(demo, "2.1", name="running", key_name="k1")
    stopped = create_server(demo, name="stopped", stopped=True).id
    both = {running, stopped}

    def listed(conn, query: str, version: str) -> set[str]:
        return {s["id"] for s in ok(conn, f"/servers/detail?{query}", version)["servers"]}

    # before 2.83 a member's state filters are ignored, as Nova ignores them
    assert listed(demo, "vm_state=stopped", "2.82") == both
    assert listed(demo, "vm_state=stopped", "2.83") == {stopped}
    assert listed(demo, "vm_state=stopped&vm_state=active", "2.83") == both
    assert listed(demo, "key_name=k1", "2.83") == {running}
    assert listed(demo, "power_state=4", "2.83") == {stopped}   # shutdown
    assert listed(demo, "user_id=demo&availability_zone=elsewhere", "2.83") == set()
    assert listed(demo, "user_id=demo&availability_zone=no", "2.83") == both  # "nova" has it
    launched = instance_record(cloud, running).launched_at.isoformat()
    assert running in listed(demo, f"launched_at={launched}", "2.83")
    assert listed(demo, "launched_at=2001-01-01T00:00:00Z", "2.83") == set()
    # admins could always filter by state
    assert listed(admin, "all_tenants=1&vm_state=stopped", "2.1") == {stopped}
    assert error(demo, "/servers?launched_at=yesterday", "2.83")[0] == 400


# -- instance actions -------------------------------------------------------------------------

def test_event_details_say_why_an_event_failed_from_2_84_to_those_the_policy_allows(cloud,
                                                                                    admin,
                                                                                    demo):
    server = create_server(demo)
    failed = failed_migrate(cloud, admin, server)
    base = f"/servers/{server.id}/os-instance-actions"
    path = f"{base}/{failed['request_id']}"

    def broken(version: str, conn=admin) -> dict:
        events = ok(conn, path, version)["instanceAction"]["events"]
        return next(e for e in events if e["event"] == "compute_resize_instance")

    assert "details" not in broken("2.83")
    assert "injected fault" in broken("2.84")["details"]
    # the server's own project sees the events (2.51) but not their details (admin only)
    assert "details" not in broken("2.84", demo) and broken("2.84", demo)["result"] == "Error"
    ok_event = next(e for e in ok(admin, path, "2.84")["instanceAction"]["events"]
                    if e["result"] == "Success")
    assert ok_event["details"] is None
    wait_for_status(admin, server.id, "ACTIVE")


# -- flavors ----------------------------------------------------------------------------------

def test_extra_specs_are_validated_from_2_86(cloud, admin):
    path = "/flavors/1/os-extra_specs"

    def put(specs: dict, version: str):
        return call(admin, path, version, "POST", {"extra_specs": specs})

    status, reply, _ = put({"hw:cpu_policy": "sometimes"}, "2.85")
    assert status == 200 and reply["extra_specs"] == {"hw:cpu_policy": "sometimes"}
    refused = [({"hw:cpu_policy": "sometimes"}, "is not one of dedicated, shared, mixed"),
               ({"hw:numa_nodes": "0"}, "0 is less than 1"),
               ({"hw:cpu_cores": "two"}, "'two' is not an integer"),
               ({"hw:boot_menu": "maybe"}, "is not a boolean"),
               ({"hw:mem_page_size": "huge"}, "does not match"),
               ({"hw_rng:speed": "1"}, "is not a known key of the hw_rng namespace"),
               ({"resources:VCPU": "-1"}, "-1 is less than 0"),
               ({"resources1:vcpu": "1"}, "is not a known key of the resources1 namespace"),
               ({"trait:HW_CPU_X86_AVX2": "wanted"}, "is not one of required, forbidden"),
               ({"group_policy": "spread"}, "is not one of none, isolate")]
    for specs, reason in refused:
        code, message = error(admin, path, "2.86", "POST", {"extra_specs": specs})
        assert code == 400 and message.startswith("Validation failed;") and reason in message, \
            (specs, message)
    # a refused key leaves the flavor's specs as they were: nothing is half set
    mixed = {"hw:numa_nodes": "1", "hw:cpu_policy": "sometimes-not"}
    assert put(mixed, "2.86")[0] == 400
    assert ok(admin, path, "2.86")["extra_specs"] == {"hw:cpu_policy": "sometimes"}

    accepted = {"hw:cpu_policy": "dedicated", "hw:numa_nodes": 2, "hw:numa_cpus.0": "0-1,^1",
                "hw:mem_page_size": "2MiB", "hw:boot_menu": True, "hw_rng:allowed": "yes",
                "resources:CUSTOM_GPU": "1", "trait1:HW_CPU_X86_AVX2": "required",
                # an hw: key herder has no rule for, a namespace nobody owns, no namespace
                "hw:some_future_knob": "x", "aggregate_instance_extra_specs:ssd": "true",
                "my_own_key": "anything"}
    status, reply, _ = put(accepted, "2.86")
    assert status == 200, reply
    assert reply["extra_specs"]["hw:numa_nodes"] == "2"


def test_flavor_swap_is_0_from_2_75_and_rxtx_factor_goes_at_2_102(cloud, admin):
    assert ok(admin, "/flavors/1", "2.74")["flavor"]["swap"] == ""
    assert ok(admin, "/flavors/1", "2.75")["flavor"]["swap"] == 0
    assert ok(admin, "/flavors/1", "2.101")["flavor"]["rxtx_factor"] == 1.0
    assert "rxtx_factor" not in ok(admin, "/flavors/1", "2.102")["flavor"]
    assert all("rxtx_factor" not in f
               for f in ok(admin, "/flavors/detail", "2.102")["flavors"])

    def create(version: str, flavor_id: str):
        return call(admin, "/flavors", version, "POST", {"flavor": {
            "name": f"f{flavor_id}", "id": flavor_id, "ram": 64, "vcpus": 1, "disk": 0,
            "rxtx_factor": 2.0}})

    status, reply, _ = create("2.101", "101")
    assert status == 200 and reply["flavor"]["rxtx_factor"] == 2.0
    status, reply, _ = create("2.102", "102")
    assert status == 400 and reply["badRequest"]["message"].endswith(
        "Additional properties are not allowed ('rxtx_factor' was unexpected)")
    assert error(admin, "/flavors/102", "2.102")[0] == 404   # nothing was created


def test_flavor_disabled_goes_at_2_102_with_rxtx_factor(cloud, admin):
    """Nova 2.102 drops OS-FLV-DISABLED:disabled from every flavor body (show, detail and
    create's answer); a server's embedded flavor never had it."""
    assert ok(admin, "/flavors/1", "2.101")["flavor"]["OS-FLV-DISABLED:disabled"] is False
    assert all(f["OS-FLV-DISABLED:disabled"] is False
               for f in ok(admin, "/flavors/detail", "2.101")["flavors"])
    shown = ok(admin, "/flavors/1", "2.102")["flavor"]
    assert "OS-FLV-DISABLED:disabled" not in shown and "rxtx_factor" not in shown
    assert all("OS-FLV-DISABLED:disabled" not in f
               for f in ok(admin, "/flavors/detail", "2.102")["flavors"])
    for version, flavor_id in (("2.101", "201"), ("2.102", "202")):
        status, reply, _ = call(admin, "/flavors", version, "POST", {"flavor": {
            "name": f"f{flavor_id}", "id": flavor_id, "ram": 64, "vcpus": 1, "disk": 0}})
        assert status == 200, reply
        assert ("OS-FLV-DISABLED:disabled" in reply["flavor"]) == (version == "2.101")
    server = create_server(admin)
    for version in ("2.46", "2.101", "2.102"):
        embedded = ok(admin, f"/servers/{server.id}", version)["server"]["flavor"]
        assert "OS-FLV-DISABLED:disabled" not in embedded and "rxtx_factor" not in embedded


# -- hypervisors ------------------------------------------------------------------------------

def test_hypervisors_drop_usage_for_uptime_at_2_88(cloud, admin):
    server = create_server(admin)
    host = instance_record(cloud, server.id).host

    def by_name(version: str) -> dict[str, dict]:
        return {h["hypervisor_hostname"]: h
                for h in ok(admin, "/os-hypervisors/detail", version)["hypervisors"]}

    old = by_name("2.87")
    assert set(old[host]) == HYPERVISOR_DETAIL | USAGE and old[host]["running_vms"] == 1
    new = by_name("2.88")
    assert all(set(h) == HYPERVISOR_DETAIL | {"uptime"} for h in new.values())
    assert " up " in new[host]["uptime"]
    hypervisor_id = new[host]["id"]
    shown = ok(admin, f"/os-hypervisors/{hypervisor_id}", "2.88")["hypervisor"]
    assert set(shown) == HYPERVISOR_DETAIL | {"uptime"}
    assert set(ok(admin, f"/os-hypervisors/{hypervisor_id}", "2.87")["hypervisor"]) == \
        HYPERVISOR_DETAIL | USAGE
    assert set(ok(admin, "/os-hypervisors", "2.88")["hypervisors"][0]) == \
        {"id", "hypervisor_hostname", "state", "status"}

    # the statistics and uptime routes end at 2.87
    assert ok(admin, "/os-hypervisors/statistics", "2.87")["hypervisor_statistics"][
        "running_vms"] == 1
    assert ok(admin, f"/os-hypervisors/{hypervisor_id}/uptime", "2.87")["hypervisor"]["uptime"]
    for gone in ("/os-hypervisors/statistics", f"/os-hypervisors/{hypervisor_id}/uptime"):
        assert error(admin, gone, "2.88") == (404, "The resource could not be found.")


# -- versions ---------------------------------------------------------------------------------

def test_the_version_document_and_latest_say_2_104(cloud, admin):
    status, _, response = call(admin, "/servers", "latest")
    assert status == 200
    assert_echoes_version(response, "2.104")
    assert error(admin, "/servers", "2.105")[0] == 406
