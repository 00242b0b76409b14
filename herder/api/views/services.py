"""Service bodies of /os-services, per microversion (2.11 forced_down, 2.53 uuid ids)."""
from herder.api.microversion import Version
from herder.api.views.common import iso_micro
from herder.db.models import Service


def status(service: Service) -> str:
    return "disabled" if service.disabled else "enabled"


def service_id(service: Service, version: Version):
    """The integer id before 2.53, the uuid from 2.53 (Nova's UUID_FOR_ID_MIN_VERSION)."""
    return service.uuid if version.at_least("2.53") else service.id


def show(service: Service, version: Version, up: bool) -> dict:
    body = {"id": service_id(service, version), "binary": service.binary, "host": service.host,
            "zone": service.zone, "status": status(service), "state": "up" if up else "down",
            "updated_at": iso_micro(service.updated_at),
            "disabled_reason": service.disabled_reason}
    if version.at_least("2.11"):
        body["forced_down"] = bool(service.forced_down)
    return body
