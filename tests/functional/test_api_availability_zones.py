"""os-availability-zone: the zones compute services are in; the admin's detail with each host's
services."""
from tests.functional.api_reads import error, microsecond_time, ok
from tests.functional.contract import set_compute_service

HOSTS = {"compute1", "compute2", "compute3"}


def test_members_see_the_available_zones(cloud, demo):
    assert ok(demo, "/os-availability-zone", "2.1") == {"availabilityZoneInfo": [
        {"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}]}
    assert [z.name for z in demo.compute.availability_zones()] == ["nova"]


def test_admins_see_hosts_and_services_in_the_detail(cloud, admin, demo):
    zones = {z["zoneName"]: z for z in
             ok(admin, "/os-availability-zone/detail", "2.1")["availabilityZoneInfo"]}
    assert set(zones) == {"nova", "internal"}
    assert zones["nova"]["zoneState"] == {"available": True}
    assert set(zones["nova"]["hosts"]) == HOSTS
    service = zones["nova"]["hosts"]["compute1"]["nova-compute"]
    assert (service["available"], service["active"]) == (True, True)
    assert microsecond_time(service["updated_at"])
    internal = {binary for host in zones["internal"]["hosts"].values() for binary in host}
    assert internal >= {"nova-conductor", "nova-scheduler"}
    assert [z.name for z in admin.compute.availability_zones(details=True)] == \
        ["internal", "nova"]
    assert error(demo, "/os-availability-zone/detail", "2.1") == \
        (403, "Policy doesn't allow os_compute_api:os-availability-zone:detail to be "
              "performed.")


def test_a_zone_whose_hosts_are_all_disabled_is_not_available(cloud, admin, demo):
    set_compute_service(cloud, "compute1", disabled=True)
    detail = {z["zoneName"]: z for z in
              ok(admin, "/os-availability-zone/detail", "2.1")["availabilityZoneInfo"]}
    assert set(detail["nova"]["hosts"]) == HOSTS - {"compute1"}   # disabled: not listed
    for host in HOSTS - {"compute1"}:
        set_compute_service(cloud, host, disabled=True)
    assert ok(demo, "/os-availability-zone", "2.1") == {"availabilityZoneInfo": [
        {"zoneName": "nova", "zoneState": {"available": False}, "hosts": None}]}
    detail = {z["zoneName"]: z for z in
              ok(admin, "/os-availability-zone/detail", "2.1")["availabilityZoneInfo"]}
    assert detail["nova"] == {"zoneName": "nova", "zoneState": {"available": False},
                              "hosts": None}
