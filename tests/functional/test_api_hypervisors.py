"""GET /os-hypervisors...: compute nodes with their usage, per microversion (2.88 and its
removals: tests/functional/test_api_microversions.py)."""
import json
import uuid

from tests.functional.api_reads import error, ok
from tests.functional.observe import create_server, instance_record

SUMMARY = {"id", "hypervisor_hostname", "state", "status"}
DETAIL = SUMMARY | {"hypervisor_type", "hypervisor_version", "host_ip", "service", "vcpus",
                    "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used",
                    "free_ram_mb", "free_disk_gb", "current_workload", "running_vms",
                    "disk_available_least", "cpu_info"}
HOSTS = ["compute1", "compute2", "compute3"]


def _by_name(hypervisors: list[dict]) -> dict[str, dict]:
    return {h["hypervisor_hostname"]: h for h in hypervisors}


def test_detail_reports_usage_from_what_servers_hold(cloud, admin, demo):
    server = create_server(admin)   # m1.tiny: 1 vCPU, 512 MB, 1 GB
    host = instance_record(cloud, server.id).host
    reserved = cloud.conf.compute.reserved_host_memory_mb

    old = _by_name(ok(admin, "/os-hypervisors/detail", "2.1")["hypervisors"])
    assert sorted(old) == HOSTS and all(set(h) == DETAIL for h in old.values())
    assert isinstance(old[host]["id"], int) and isinstance(old[host]["cpu_info"], str)
    assert json.loads(old[host]["cpu_info"])["topology"]["cores"] == old[host]["vcpus"]
    busy = old[host]
    assert (busy["vcpus_used"], busy["memory_mb_used"], busy["local_gb_used"],
            busy["running_vms"]) == (1, 512 + reserved, 1, 1)
    assert busy["free_ram_mb"] == busy["memory_mb"] - busy["memory_mb_used"]
    assert busy["free_disk_gb"] == busy["local_gb"] - 1
    assert (busy["state"], busy["status"], busy["hypervisor_type"]) == ("up", "enabled", "fake")
    assert busy["host_ip"] == cloud.computes[host].host_ip
    assert set(busy["service"]) == {"id", "host", "disabled_reason"}
    assert busy["service"]["host"] == host and isinstance(busy["service"]["id"], int)
    idle = [h for name, h in old.items() if name != host]
    assert all((h["vcpus_used"], h["running_vms"], h["memory_mb_used"]) == (0, 0, reserved)
               for h in idle)

    assert isinstance(ok(admin, "/os-hypervisors/detail", "2.28")["hypervisors"][0]["cpu_info"],
                      dict)
    new = _by_name(ok(admin, "/os-hypervisors/detail", "2.53")["hypervisors"])
    assert all(set(h) == DETAIL for h in new.values())
    assert uuid.UUID(new[host]["id"]) and uuid.UUID(new[host]["service"]["id"])
    totals = ok(admin, "/os-hypervisors/statistics", "2.1")["hypervisor_statistics"]
    assert (totals["count"], totals["running_vms"], totals["vcpus_used"]) == (3, 1, 1)
    assert totals["memory_mb"] == sum(h["memory_mb"] for h in old.values())

    # what `openstack hypervisor list/show` reads: the SDK speaks 2.88, which has no usage
    # figures but the uptime
    sdk = {h.name: h for h in admin.compute.hypervisors(details=True)}
    assert sorted(sdk) == HOSTS and sdk[host].service_details["host"] == host
    assert sdk[host].running_vms is None and " up " in sdk[host].uptime
    assert error(demo, "/os-hypervisors", "2.1") == \
        (403, "Policy doesn't allow os_compute_api:os-hypervisors:list to be performed.")
    assert error(demo, "/os-hypervisors/detail", "2.1")[0] == 403


def test_list_show_and_servers_per_microversion(cloud, admin):
    server = create_server(admin, name="web")
    host = instance_record(cloud, server.id).host
    listed = _by_name(ok(admin, "/os-hypervisors", "2.1")["hypervisors"])
    assert all(set(h) == SUMMARY for h in listed.values())
    int_id = listed[host]["id"]
    new = _by_name(ok(admin, "/os-hypervisors?with_servers=true", "2.53")["hypervisors"])
    assert new[host]["servers"] == [{"name": "web", "uuid": server.id}]
    assert all("servers" not in h for name, h in new.items() if name != host)
    empty = _by_name(ok(admin, "/os-hypervisors?with_servers=1", "2.75")["hypervisors"])
    assert all(h["servers"] == [] for name, h in empty.items() if name != host)
    assert "servers" not in ok(admin, "/os-hypervisors", "2.75")["hypervisors"][0]
    uuid_id = new[host]["id"]

    shown = ok(admin, f"/os-hypervisors/{int_id}", "2.1")["hypervisor"]
    assert set(shown) == DETAIL and shown["hypervisor_hostname"] == host
    shown = ok(admin, f"/os-hypervisors/{uuid_id}?with_servers=true", "2.53")["hypervisor"]
    assert shown["id"] == uuid_id and shown["servers"] == [{"name": "web", "uuid": server.id}]
    assert error(admin, f"/os-hypervisors/{int_id}", "2.53") == \
        (400, f"Invalid uuid {int_id}")
    assert error(admin, f"/os-hypervisors/{uuid_id}", "2.52") == \
        (404, f"Hypervisor with ID '{uuid_id}' could not be found.")
    assert error(admin, "/os-hypervisors/987654", "2.1")[0] == 404
    assert error(admin, f"/os-hypervisors/{uuid.uuid4()}", "2.53")[0] == 404
    assert error(admin, f"/os-hypervisors/{uuid_id}?with_servers=maybe", "2.53")[0] == 400
    assert admin.compute.get_hypervisor(uuid_id).name == host

    # before 2.53: search and servers by hostname pattern; from 2.53: query parameters
    found = ok(admin, f"/os-hypervisors/{host}/search", "2.52")["hypervisors"]
    assert [h["hypervisor_hostname"] for h in found] == [host] and set(found[0]) == SUMMARY
    (with_servers,) = ok(admin, f"/os-hypervisors/{host}/servers", "2.1")["hypervisors"]
    assert with_servers["servers"] == [{"name": "web", "uuid": server.id}]
    assert len(ok(admin, "/os-hypervisors/compute/search", "2.1")["hypervisors"]) == 3
    assert error(admin, "/os-hypervisors/nomatch/search", "2.1") == \
        (404, "No hypervisor matching 'nomatch' could be found.")
    assert error(admin, f"/os-hypervisors/{host}/search", "2.53") == \
        (404, "The resource could not be found.")
    matching = ok(admin, f"/os-hypervisors?hypervisor_hostname_pattern={host}", "2.53")
    assert [h["hypervisor_hostname"] for h in matching["hypervisors"]] == [host]
    assert "hypervisors_links" not in matching
    assert error(admin, "/os-hypervisors?hypervisor_hostname_pattern=nomatch", "2.53")[0] == 404
    assert error(admin, f"/os-hypervisors?hypervisor_hostname_pattern={host}&limit=1",
                 "2.53") == (400, "Paging over hypervisors with the hypervisor_hostname_pattern"
                                  " query parameter is not supported.")


def test_paging_from_2_33(cloud, admin):
    everything = ok(admin, "/os-hypervisors", "2.33")["hypervisors"]
    page = ok(admin, "/os-hypervisors/detail?limit=2", "2.33")
    assert [h["id"] for h in page["hypervisors"]] == [h["id"] for h in everything[:2]]
    (link,) = page["hypervisors_links"]
    marker = everything[1]["id"]
    assert link["href"].endswith(f"/v2.1/os-hypervisors/detail?limit=2&marker={marker}")
    rest = ok(admin, f"/os-hypervisors?limit=2&marker={marker}", "2.33")
    assert [h["id"] for h in rest["hypervisors"]] == [everything[2]["id"]]
    assert "hypervisors_links" not in rest
    assert error(admin, "/os-hypervisors?marker=424242", "2.33") == \
        (400, "marker [424242] not found")
    by_uuid = ok(admin, "/os-hypervisors?limit=1", "2.53")
    assert by_uuid["hypervisors_links"][0]["href"].endswith(
        f"marker={by_uuid['hypervisors'][0]['id']}")
    # paging is ignored before 2.33, and unknown parameters before 2.53
    assert "hypervisors_links" not in ok(admin, "/os-hypervisors?limit=1", "2.32")
    assert len(ok(admin, "/os-hypervisors?limit=1", "2.32")["hypervisors"]) == 3
    assert len(ok(admin, "/os-hypervisors?bogus=1", "2.52")["hypervisors"]) == 3
    assert error(admin, "/os-hypervisors?bogus=1", "2.53") == \
        (400, "Additional properties are not allowed ('bogus' was unexpected)")
