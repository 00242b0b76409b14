"""Host filters: each says whether a host can take the request, and if not, why.

Pure functions of (request, host state), testable without any service running.
"""
from typing import Callable

from herder.db.placement import Resources
from herder.scheduler.host_state import HostState

Filter = Callable[[dict, HostState], str | None]


def compute_filter(request: dict, host: HostState) -> str | None:
    if not host.enabled:
        return "compute service is disabled"
    if not host.up:
        return "compute service is down"
    return None


def resource_filter(request: dict, host: HostState) -> str | None:
    wanted = Resources(**request["resources"])
    free = host.free
    for name in ("vcpus", "memory_mb", "disk_gb"):
        if getattr(wanted, name) > getattr(free, name):
            return f"insufficient {name}: requested {getattr(wanted, name)}, free {getattr(free, name)}"
    return None


def availability_zone_filter(request: dict, host: HostState) -> str | None:
    zone = request.get("availability_zone")
    if zone and zone != host.availability_zone:
        return f"in availability zone {host.availability_zone}, not {zone}"
    return None


def image_properties_filter(request: dict, host: HostState) -> str | None:
    wanted = (request.get("image_properties") or {}).get("hypervisor_type")
    if wanted and wanted != "fake":
        return f"hypervisor type fake does not match {wanted}"
    return None


FILTERS: dict[str, Filter] = {
    "ComputeFilter": compute_filter,
    "ResourceFilter": resource_filter,
    "AvailabilityZoneFilter": availability_zone_filter,
    "ImagePropertiesFilter": image_properties_filter,
}
