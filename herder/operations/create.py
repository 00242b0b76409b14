"""Creating a server: the checks of what the request asks for, the row and its request spec
written under the project's quota, the action recorded, and the build handed to the conductor.

The checks run in this order, so that a request wrong in several ways gets the same refusal
every time: flavor, block devices and image, networks, availability zone, count, metadata, server
group, quota.
"""
import itertools
import uuid
from datetime import datetime

from herder import exception, quota, states
from herder.api import hostnames
from herder.db import actions, flavors, images, instances, quotas, server_groups
from herder.db.models import Image, Instance
from herder.operations.checks import Services
from herder.operations.handover import handing_over, send
from herder.uuids import is_uuid_like

_CREATE = states.ACCEPTED["create"]


def create(svc: Services, context, server: dict, hints: dict, *, networks_required: bool,
           host_requestable: bool) -> Instance:
    """The new server, building and scheduling, from the body's `server` object and its
    scheduler `hints`. `networks_required`: the caller must say which networks (2.37);
    `host_requestable`: the body's `host` asks for a host (2.74)."""
    try:
        flavor = flavors.get(svc.db, server["flavorRef"],
                             None if context.is_admin else context.project_id)
    except exception.FlavorNotFound as error:
        raise exception.Invalid(str(error)) from None
    image = _image(svc, context, server)
    addresses = _addresses(server, networks_required)
    zone = server.get("availability_zone")
    if zone and zone != svc.conf.default_availability_zone:
        raise exception.Invalid("The requested availability zone is not available")
    for name in ("min_count", "max_count"):  # an integer or a string of digits
        if str(server.get(name, 1)).lstrip("0") != "1":
            raise exception.Invalid("herder creates one server per request.")
    metadata = server.get("metadata", {})
    if metadata:   # no quota read for the many creates that bring none
        allowed = quotas.limits(svc.db, svc.conf, context.project_id)["metadata_items"]
        if 0 <= allowed < len(metadata):
            raise exception.MetadataLimitExceeded(allowed=allowed)
    group_uuid = _server_group(svc, context, hints)
    if group_uuid:  # the spec keeps the group as its canonical uuid, however it was spelt
        hints = {**hints, "group": group_uuid}
    server_uuid = str(uuid.uuid4())
    instance = Instance(
        uuid=server_uuid, display_name=server["name"],
        hostname=server.get("hostname") or hostnames.from_name(server["name"], server_uuid),
        description=server.get("description"), project_id=context.project_id,
        user_id=context.user_id, image_ref=image.id if image else "",
        flavor=flavors.as_dict(flavor), vm_state=states.BUILDING, task_state=_CREATE.task_state,
        power_state=states.NOSTATE,
        availability_zone=zone or svc.conf.default_availability_zone,
        metadata_=metadata, system_metadata={}, addresses=addresses,
        key_name=server.get("key_name"),
        disk_config=server.get("OS-DCF:diskConfig", "MANUAL"),
        created_at=datetime.utcnow())
    spec = {"flavor": flavors.as_dict(flavor), "availability_zone": zone,
            "image_properties": image.properties if image else {},
            "requested_host": server.get("host") if host_requestable else None,
            "scheduler_hints": hints}
    try:  # checked and created in one transaction: concurrent creates cannot overrun it
        with quota.admitted(svc.db, svc.conf, context.project_id,
                            {"instances": 1, "cores": flavor.vcpus,
                             "ram": flavor.memory_mb}) as session:
            instances.add(session, instance, spec)
            if group_uuid:
                server_groups.add_member(session, svc.conf, group_uuid, instance.uuid)
            handover = handing_over(context, "build_instance",
                                    instance_uuid=instance.uuid)(session)
    except exception.InstanceGroupNotFound as error:  # the group was deleted meanwhile
        raise exception.Invalid(str(error)) from None
    actions.start(svc.db, context, instance.uuid, _CREATE.action)
    send(svc, context, handover)
    return instance


def _image(svc: Services, context, server: dict) -> Image:
    image_ref = server.get("imageRef")
    for bdm in server.get("block_device_mapping_v2", []):
        if bdm.get("destination_type") == "volume" or bdm.get("source_type") in (
                "volume", "snapshot"):
            raise exception.Invalid("Booting from volumes is not supported yet.")
        if str(bdm.get("boot_index")) == "0" and bdm.get("source_type") == "image":
            image_ref = image_ref or bdm.get("uuid")
    if not image_ref:
        raise exception.Invalid("Missing imageRef attribute")
    try:   # only an image the caller may see (a member: public, or their project's)
        image = images.get_visible(svc.db, image_ref.rsplit("/", 1)[-1],
                                   None if context.is_admin else context.project_id)
    except exception.ImageNotFound:
        raise exception.Invalid(f"Image {image_ref} could not be found.") from None
    if image.status != "active":   # queued or saving: no data to boot from yet
        raise exception.Invalid(f"Image {image.id} is not active.")
    return image


def _addresses(server: dict, networks_required: bool) -> dict:
    networks = server.get("networks")
    if networks is None and networks_required:
        raise exception.Invalid("Invalid input for field/attribute server. Value: "
                                f"{server}. 'networks' is a required property")
    if networks == "none" or networks == []:
        return {}
    if isinstance(networks, list):
        raise exception.Invalid("herder has one network, 'private': request networks "
                                "\"auto\" or \"none\".")
    return {"private": [{"version": 4, "addr": _fake_address(), "OS-EXT-IPS:type": "fixed",
                         "OS-EXT-IPS-MAC:mac_addr": _fake_mac()}]}


def _server_group(svc: Services, context, hints: dict) -> str | None:
    """The uuid of the group the `group` hint names, if the caller's project owns it (admins:
    any); an unknown group is a bad request, as in Nova."""
    if "group" not in hints:
        return None
    wanted = hints["group"]
    if not isinstance(wanted, str) or not is_uuid_like(wanted):
        raise exception.Invalid(f"Invalid input for field/attribute group. Value: {wanted}. "
                                f"'{wanted}' is not a 'uuid'")
    try:
        return server_groups.get(svc.db, str(uuid.UUID(wanted)),
                                 None if context.is_admin else context.project_id).uuid
    except exception.InstanceGroupNotFound as error:
        raise exception.Invalid(str(error)) from None


_address_counter = itertools.count()


def _fake_address() -> str:
    """An address in TEST-NET-2 (198.51.100.0/24, for documentation): shown, never a target."""
    return f"198.51.100.{next(_address_counter) % 254 + 1}"


def _fake_mac() -> str:
    raw = uuid.uuid4().bytes
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in raw[:3])
