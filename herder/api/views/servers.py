"""Server bodies, as Nova renders them up to herder's maximum microversion."""
import hashlib
import json
import re

from herder import states
from herder.api import hostnames
from herder.api.microversion import Version
from herder.api.views.common import iso, iso_micro, links
from herder.db.models import Instance, InstanceFault

_PROGRESS_STATUSES = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")
# the image property names a 2.98 body can carry (the API's own rule for such keys)
_IMAGE_PROPERTY_NAME = re.compile(r"[a-zA-Z0-9_:. ]{1,255}")


def host_id(instance: Instance) -> str:
    """Opaque per-project host identity (users see that two servers share a host, not which)."""
    if not instance.host:
        return ""
    return hashlib.sha224((instance.project_id + instance.host).encode()).hexdigest()


def summary(instance: Instance, base_url: str) -> dict:
    return {"id": instance.uuid, "name": instance.display_name,
            "links": links(base_url, "servers", instance.uuid)}


def _flavor(instance: Instance, base_url: str, version: Version, show_extra_specs: bool) -> dict:
    flavor = instance.flavor
    root = base_url.rsplit("/v2.1", 1)[0]
    if not version.at_least("2.47"):
        return {"id": flavor["flavorid"],
                "links": [{"rel": "bookmark", "href": f"{root}/flavors/{flavor['flavorid']}"}]}
    body = {"vcpus": flavor["vcpus"], "ram": flavor["memory_mb"], "disk": flavor["root_gb"],
            "ephemeral": flavor.get("ephemeral_gb", 0), "swap": flavor.get("swap", 0),
            "original_name": flavor["name"]}
    if show_extra_specs:
        body["extra_specs"] = dict(flavor.get("extra_specs") or {})
    return body


def _image(instance: Instance, base_url: str, version: Version, spec: dict):
    if not instance.image_ref:
        return ""  # booted from volume: clients expect "", never null
    root = base_url.rsplit("/v2.1", 1)[0]
    image = {"id": instance.image_ref,
             "links": [{"rel": "bookmark", "href": f"{root}/images/{instance.image_ref}"}]}
    if version.at_least("2.98"):
        image["properties"] = _image_properties(spec.get("image_properties") or {})
    return image


def _image_properties(properties: dict) -> dict:
    """2.98: the properties of the image as the server was booted from it, as text of at most
    255 characters; a name the API cannot carry is left out."""
    shown = {}
    for name, value in properties.items():
        if not isinstance(name, str) or not _IMAGE_PROPERTY_NAME.fullmatch(name):
            continue
        if value is not None and not isinstance(value, str):
            value = json.dumps(value)
        shown[name] = None if value is None else value[:255]
    return shown


def _fault(fault: InstanceFault | None, is_admin: bool) -> dict | None:
    if fault is None:
        return None
    body = {"code": fault.code, "created": iso(fault.created_at), "message": fault.message}
    if fault.details and (is_admin or fault.code != 500):
        body["details"] = fault.details
    return body


def show(instance: Instance, base_url: str, version: Version, *, is_admin: bool,
         fault: InstanceFault | None = None, host_status: str | None = None,
         basic: bool = False, server_groups: list[str] | None = None,
         flavor_extra_specs: bool = False, spec: dict | None = None) -> dict:
    """The server body of show and detail (`basic` for the short body of update before 2.75);
    `flavor_extra_specs` when the policy lets the caller see them (2.47); `server_groups`, the
    uuids of the server's groups, for the bodies that show them (show and update, 2.71);
    `spec`, the server's request spec, for what 2.96, 2.98 and 2.100 show of it."""
    spec = spec or {}
    status = states.server_status(instance.vm_state, instance.task_state)
    server = {
        "id": instance.uuid, "name": instance.display_name, "status": status,
        "tenant_id": instance.project_id, "user_id": instance.user_id,
        "metadata": dict(instance.metadata_ or {}), "hostId": host_id(instance),
        "image": _image(instance, base_url, version, spec),
        "flavor": _flavor(instance, base_url, version, flavor_extra_specs),
        "created": iso(instance.created_at), "updated": iso(instance.updated_at or
                                                             instance.created_at),
        "addresses": instance.addresses or {}, "accessIPv4": "", "accessIPv6": "",
        "links": links(base_url, "servers", instance.uuid),
        "OS-DCF:diskConfig": instance.disk_config,
    }
    if status in _PROGRESS_STATUSES:
        server["progress"] = instance.progress or 0
    if version.at_least("2.9"):
        server["locked"] = bool(instance.locked)
    if version.at_least("2.19"):
        server["description"] = instance.description
    if version.at_least("2.26"):
        server["tags"] = []
    if version.at_least("2.71") and server_groups is not None:  # update's short body too
        server["server_groups"] = list(server_groups)
    if basic and not version.at_least("2.75"):
        return server
    server.update({
        "OS-EXT-AZ:availability_zone": instance.availability_zone or "",
        "config_drive": instance.config_drive, "key_name": instance.key_name,
        "OS-SRV-USG:launched_at": iso_micro(instance.launched_at),
        "OS-SRV-USG:terminated_at": iso_micro(instance.terminated_at),
        "OS-EXT-STS:task_state": instance.task_state, "OS-EXT-STS:vm_state": instance.vm_state,
        "OS-EXT-STS:power_state": instance.power_state,
        "os-extended-volumes:volumes_attached": [],
    })
    if instance.addresses:
        server["security_groups"] = [{"name": "default"}]
    if is_admin:
        server.update({"OS-EXT-SRV-ATTR:host": instance.host,
                       "OS-EXT-SRV-ATTR:instance_name": f"instance-{instance.id:08x}",
                       "OS-EXT-SRV-ATTR:hypervisor_hostname": instance.node})
        if version.at_least("2.3"):
            server.update({"OS-EXT-SRV-ATTR:reservation_id": f"r-{instance.uuid[:8]}",
                           "OS-EXT-SRV-ATTR:launch_index": instance.launch_index,
                           "OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:ramdisk_id": "",
                           "OS-EXT-SRV-ATTR:hostname": _hostname(instance),
                           "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                           "OS-EXT-SRV-ATTR:user_data": None})
    if fault is not None:  # the caller passes only a current fault (instances.current_fault)
        server["fault"] = _fault(fault, is_admin)
    if version.at_least("2.16") and host_status is not None:
        server["host_status"] = host_status
    if version.at_least("2.63"):
        server["trusted_image_certificates"] = None
    if version.at_least("2.73"):
        server["locked_reason"] = instance.locked_reason
    if version.at_least("2.90"):  # the hostname alone is everyone's from 2.90
        server["OS-EXT-SRV-ATTR:hostname"] = _hostname(instance)
    if version.at_least("2.96"):  # the zone moves keep it in; null: any zone
        server["pinned_availability_zone"] = spec.get("availability_zone")
    if version.at_least("2.100"):
        server["scheduler_hints"] = dict(spec.get("scheduler_hints") or {})
    return server


def _hostname(instance: Instance) -> str:
    return instance.hostname or hostnames.from_name(instance.display_name, instance.uuid)
