"""Filters and weighers: pure functions of (request, HostState), no service or database."""
import pytest

from herder.conf import build_conf
from herder.db.placement import Resources
from herder.scheduler import filters
from herder.scheduler.host_state import HostState
from herder.scheduler.weighers import WEIGHERS, weigh


def host(name="compute1", *, capacity=(8, 16384, 100), used=(0, 0, 0), zone="nova",
         enabled=True, up=True) -> HostState:
    return HostState(host=name, node=name, node_uuid=f"uuid-{name}", availability_zone=zone,
                     enabled=enabled, up=up, capacity=Resources(*capacity),
                     used=Resources(*used), hypervisor_type="fake")


def request(vcpus=1, memory_mb=512, disk_gb=10, **extra) -> dict:
    return {"resources": {"vcpus": vcpus, "memory_mb": memory_mb, "disk_gb": disk_gb}, **extra}


# -- host state ---------------------------------------------------------------------------------

def test_host_free_resources_are_capacity_minus_usage():
    state = host(capacity=(16, 8192, 200), used=(3, 1024, 25))
    assert state.free == Resources(13, 7168, 175)


# -- compute filter ------------------------------------------------------------------------------

def test_compute_filter_accepts_enabled_host_that_is_up():
    assert filters.compute_filter(request(), host()) is None


def test_compute_filter_rejects_disabled_host():
    assert filters.compute_filter(request(), host(enabled=False)) == "compute service is disabled"


def test_compute_filter_rejects_host_whose_service_is_down():
    assert filters.compute_filter(request(), host(up=False)) == "compute service is down"


# -- resource filter -----------------------------------------------------------------------------

def test_resource_filter_rejects_host_without_enough_ram():
    state = host(capacity=(8, 4096, 100), used=(0, 2048, 0))
    assert filters.resource_filter(request(memory_mb=4096), state) == \
        "RAM 2048 MB free, 4096 MB needed"


def test_resource_filter_rejects_host_without_enough_vcpus():
    state = host(capacity=(4, 16384, 100), used=(3, 0, 0))
    assert filters.resource_filter(request(vcpus=2), state) == \
        "vCPUs 1 free, 2 needed"


def test_resource_filter_rejects_host_without_enough_disk():
    state = host(capacity=(8, 16384, 40), used=(0, 0, 35))
    assert filters.resource_filter(request(disk_gb=10), state) == \
        "disk 5 GB free, 10 GB needed"


def test_resource_filter_names_every_resource_the_host_lacks():
    state = host(capacity=(2, 1024, 20), used=(2, 512, 0))
    assert filters.resource_filter(request(vcpus=1, memory_mb=2048, disk_gb=10), state) == \
        "vCPUs 0 free, 1 needed and RAM 512 MB free, 2048 MB needed"


def test_resource_filter_accepts_request_that_exactly_fills_the_host():
    state = host(capacity=(4, 4096, 40), used=(2, 2048, 20))
    assert filters.resource_filter(request(vcpus=2, memory_mb=2048, disk_gb=20), state) is None


# -- availability zone filter ---------------------------------------------------------------------

def test_availability_zone_filter_rejects_host_in_another_zone():
    assert filters.availability_zone_filter(request(availability_zone="az2"), host(zone="nova")) \
        == "in availability zone nova, not az2"


def test_availability_zone_filter_accepts_host_in_requested_zone():
    assert filters.availability_zone_filter(request(availability_zone="az2"),
                                            host(zone="az2")) is None


@pytest.mark.parametrize("zone", [None, ""])
def test_availability_zone_filter_accepts_any_host_when_no_zone_requested(zone):
    assert filters.availability_zone_filter(request(availability_zone=zone),
                                            host(zone="elsewhere")) is None


# -- image properties filter ----------------------------------------------------------------------

def test_image_properties_filter_rejects_image_for_another_hypervisor_type():
    assert filters.image_properties_filter(
        request(image_properties={"hypervisor_type": "qemu"}), host()) == \
        "hypervisor type fake does not match qemu"


@pytest.mark.parametrize("properties", [None, {}, {"hypervisor_type": "fake"},
                                        {"os_distro": "debian"}])
def test_image_properties_filter_accepts_images_the_fake_hypervisor_can_run(properties):
    assert filters.image_properties_filter(request(image_properties=properties), host()) is None


def test_every_default_filter_and_weigher_name_is_known():
    conf = build_conf()
    assert conf.filter_scheduler.enabled_filters
    assert set(conf.filter_scheduler.enabled_filters) <= set(filters.FILTERS)
    assert set(conf.filter_scheduler.weighers) <= set(WEIGHERS)


# -- weighers ------------------------------------------------------------------------------------

ALL_WEIGHERS = ["RAMWeigher", "CPUWeigher", "DiskWeigher"]


def names(hosts: list[HostState]) -> list[str]:
    return [h.host for h in hosts]


def test_weigh_of_no_candidates_is_empty():
    assert weigh([], ALL_WEIGHERS) == []


def test_ram_weigher_spreads_to_the_host_with_most_free_ram():
    hosts = [host("compute1", used=(0, 8192, 0)), host("compute2", used=(0, 1024, 0)),
             host("compute3", used=(0, 4096, 0))]
    assert names(weigh(hosts, ["RAMWeigher"])) == ["compute2", "compute3", "compute1"]


def test_weighers_are_normalized_so_megabytes_do_not_outweigh_vcpus_and_gigabytes():
    # compute1 has the most free RAM by a few MB but the least free vCPU and disk; raw sums
    # would let RAM (thousands of MB) dominate, normalized spread must not.
    hosts = [host("compute1", capacity=(8, 16384, 100), used=(7, 0, 90)),
             host("compute2", capacity=(8, 16384, 100), used=(0, 10, 0))]
    assert names(weigh(hosts, ["RAMWeigher"])) == ["compute1", "compute2"]
    assert names(weigh(hosts, ALL_WEIGHERS)) == ["compute2", "compute1"]


def test_weigher_scores_are_relative_to_the_candidates_not_absolute():
    # free RAM: a 16384, b 4096, c 384; free vCPU: a 4, b 8, c 4
    hosts = [host("a", used=(4, 0, 0)), host("b", used=(0, 12288, 0)),
             host("c", used=(4, 16000, 0))]
    # normalized: a = 1 + 0, b = (4096-384)/(16384-384) + 1 = 1.232, c = 0 + 0
    assert names(weigh(hosts, ["RAMWeigher", "CPUWeigher"])) == ["b", "a", "c"]


def test_equal_hosts_are_ordered_by_host_name():
    hosts = [host("compute3"), host("compute1"), host("compute2")]
    assert names(weigh(hosts, ALL_WEIGHERS)) == ["compute1", "compute2", "compute3"]


def test_tie_on_weight_is_broken_by_host_name_even_among_unequal_hosts():
    # b and a tie (1 + 0 each: b best in RAM, a best in CPU); c is worst in both
    hosts = [host("b", used=(4, 0, 0)), host("a", used=(0, 8192, 0)),
             host("c", used=(4, 8192, 0))]
    assert names(weigh(hosts, ["RAMWeigher", "CPUWeigher"])) == ["a", "b", "c"]
