"""Host filters: each says whether a host can take the request, and if not, why.

Pure functions of (request, host state), testable without any service running.
"""
from typing import Callable

from herder.db.placement import Resources
from herder.scheduler import group_policy
from herder.scheduler.host_state import HostState

Filter = Callable[[dict, HostState], str | None]


def compute_filter(request: dict, host: HostState) -> str | None:
    if not host.enabled:
        return "compute service is disabled"
    if not host.up:
        return "compute service is down"
    return None


def resource_filter(request: dict, host: HostState) -> str | None:
    """Each resource the host lacks, as an operator reads it: "RAM 512 MB free, 2048 MB
    needed" (the reason a dry run shows, and a NoValidHost's message)."""
    wanted = Resources(**request["resources"])
    free = host.free
    short = [f"{label} {free_amount}{unit} free, {wanted_amount}{unit} needed"
             for label, free_amount, wanted_amount, unit in (
                 ("vCPUs", free.vcpus, wanted.vcpus, ""),
                 ("RAM", free.memory_mb, wanted.memory_mb, " MB"),
                 ("disk", free.disk_gb, wanted.disk_gb, " GB"))
             if wanted_amount > free_amount]
    return " and ".join(short) or None


def availability_zone_filter(request: dict, host: HostState) -> str | None:
    zone = request.get("availability_zone")
    if zone and zone != host.availability_zone:
        return f"in availability zone {host.availability_zone}, not {zone}"
    return None


def image_properties_filter(request: dict, host: HostState) -> str | None:
    wanted = (request.get("image_properties") or {}).get("hypervisor_type")
    if wanted and wanted.lower() != host.hypervisor_type.lower():
        return f"hypervisor type {host.hypervisor_type} does not match {wanted}"
    return None


def server_group_affinity_filter(request: dict, host: HostState) -> str | None:
    group = request.get("server_group")
    if not group or group["policy"] != group_policy.AFFINITY:
        return None
    return group_policy.violation(group, host.host)


def server_group_anti_affinity_filter(request: dict, host: HostState) -> str | None:
    group = request.get("server_group")
    if not group or group["policy"] != group_policy.ANTI_AFFINITY:
        return None
    return group_policy.violation(group, host.host)


FILTERS: dict[str, Filter] = {
    "ComputeFilter": compute_filter,
    "ResourceFilter": resource_filter,
    "AvailabilityZoneFilter": availability_zone_filter,
    "ImagePropertiesFilter": image_properties_filter,
    "ServerGroupAffinityFilter": server_group_affinity_filter,
    "ServerGroupAntiAffinityFilter": server_group_anti_affinity_filter,
}
