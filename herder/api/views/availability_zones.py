"""Availability zone bodies: a zone per name, available while any of its services is enabled;
the admin's detail adds each host's services (as Nova's os-availability-zone/detail)."""
from herder.api.views.common import iso_micro
from herder.db.models import Service

INTERNAL_ZONE = "internal"  # where the control services live; only the detail shows it


def zones(services: list[Service]) -> tuple[list[str], list[str]]:
    """(available, not available) zone names: a zone is available if one of its services is
    enabled; a zone whose services are all disabled is not."""
    available = sorted({s.zone for s in services if not s.disabled})
    unavailable = sorted({s.zone for s in services if s.disabled} - set(available))
    return available, unavailable


def summary(services: list[Service]) -> dict:
    available, unavailable = zones(services)
    return {"availabilityZoneInfo": [
        {"zoneName": zone, "zoneState": {"available": zone in available}, "hosts": None}
        for zone in available + unavailable if zone != INTERNAL_ZONE]}


def detail(services: list[Service], is_up) -> dict:
    """`is_up(service)` says whether a service is alive; disabled services are not listed."""
    available, unavailable = zones(services)
    hosts: dict[str, dict] = {}
    for service in services:
        if service.disabled:
            continue
        hosts.setdefault(service.zone, {}).setdefault(service.host, {})[service.binary] = {
            "available": is_up(service), "active": True,
            "updated_at": iso_micro(service.updated_at)}
    return {"availabilityZoneInfo": [
        {"zoneName": zone, "zoneState": {"available": True}, "hosts": hosts.get(zone, {})}
        for zone in available] + [
        {"zoneName": zone, "zoneState": {"available": False}, "hosts": None}
        for zone in unavailable]}
