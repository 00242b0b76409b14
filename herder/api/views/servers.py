"""Server bodies, as Nova renders them up to herder's maximum microversion."""
import hashlib

from herder import states
from herder.api.microversion import Version
from herder.api.views.common import iso, iso_micro, links
from herder.db.models import Instance, InstanceFault

_PROGRESS_STATUSES = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")


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


def _image(instance: Instance, base_url: str):
    if not instance.image_ref:
        return ""  # booted from volume: clients expect "", never null
    root = base_url.rsplit("/v2.1", 1)[0]
    return {"id": instance.image_ref,
            "links": [{"rel": "bookmark", "href": f"{root}/images/{instance.image_ref}"}]}


def _fault(fault: InstanceFault | None, is_admin: bool) -> dict | None:
    if fault is None:
        return None
    body = {"code": fault.code, "created": iso(fault.created_at), "message": fault.message}
    if fault.details and (is_admin or fault.code != 500):
        body["details"] = fault.details
    return body


def show(instance: Instance, base_url: str, version: Version, *, is_admin: bool,
         fault: InstanceFault | None = None, host_status: str | None = None,
         basic: bool = False, with_server_groups: bool = False,
         flavor_extra_specs: bool = False) -> dict:
    """The server body of show and detail (`basic` for the short body of update before 2.75);
    `flavor_extra_specs` when the policy lets the caller see them (2.47)."""
    status = states.server_status(instance.vm_state, instance.task_state)
    server = {
        "id": instance.uuid, "name": instance.display_name, "status": status,
        "tenant_id": instance.project_id, "user_id": instance.user_id,
        "metadata": dict(instance.metadata_ or {}), "hostId": host_id(instance),
        "image": _image(instance, base_url),
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
                           "OS-EXT-SRV-ATTR:hostname": instance.display_name,
                           "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                           "OS-EXT-SRV-ATTR:user_data": None})
    if fault is not None:  # the caller passes only a current fault (instances.current_fault)
        server["fault"] = _fault(fault, is_admin)
    if version.at_least("2.16") and host_status is not None:
        server["host_status"] = host_status
    if version.at_least("2.63"):
        server["trusted_image_certificates"] = None
    if version.at_least("2.71") and with_server_groups:
        server["server_groups"] = []
    if version.at_least("2.73"):
        server["locked_reason"] = instance.locked_reason
    return server
