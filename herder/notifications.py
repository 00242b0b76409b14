"""Versioned notification payloads about servers, as Nova's InstanceActionPayload lays them out."""
from herder import states


def _flavor_payload(flavor: dict | None) -> dict | None:
    if not flavor:
        return None
    return {"nova_object.name": "FlavorPayload", "nova_object.version": "1.4",
            "nova_object.data": {"flavorid": flavor["flavorid"], "name": flavor["name"],
                                 "vcpus": flavor["vcpus"], "memory_mb": flavor["memory_mb"],
                                 "root_gb": flavor["root_gb"],
                                 "ephemeral_gb": flavor.get("ephemeral_gb", 0),
                                 "swap": flavor.get("swap", 0),
                                 "extra_specs": flavor.get("extra_specs", {})}}


def instance_payload(instance: dict, context=None, fault: dict | None = None,
                     new_flavor: dict | None = None, name: str = "InstanceActionPayload") -> dict:
    """`instance` is the wire form of a server (see herder.wire.instance_to_wire)."""
    data = {
        "uuid": instance["uuid"],
        "display_name": instance["display_name"],
        "host": instance.get("host"),
        "node": instance.get("node"),
        "state": instance["vm_state"],
        "task_state": instance.get("task_state"),
        "power_state": _power_name(instance.get("power_state", 0)),
        "tenant_id": instance["project_id"],
        "user_id": instance["user_id"],
        "flavor": _flavor_payload(instance.get("flavor")),
        "image_uuid": instance.get("image_ref"),
        "availability_zone": instance.get("availability_zone"),
        "ip_addresses": [{"address": a["addr"], "version": a["version"], "label": net}
                         for net, addrs in (instance.get("addresses") or {}).items()
                         for a in addrs],
        "block_devices": [],
        "action_initiator_user": context.user_id if context else None,
        "action_initiator_project": context.project_id if context else None,
        "request_id": context.request_id if context else None,
        "fault": fault,
    }
    if new_flavor is not None:
        data["new_flavor"] = _flavor_payload(new_flavor)
        name = "InstanceActionResizePrepPayload"
    return {"nova_object.name": name, "nova_object.namespace": "nova",
            "nova_object.version": "1.0", "nova_object.data": data}


_POWER_NAMES = {states.NOSTATE: "pending", states.RUNNING: "running", states.PAUSED_POWER: "paused",
                states.SHUTDOWN: "shutdown", states.CRASHED: "crashed",
                states.SUSPENDED_POWER: "suspended"}


def _power_name(power_state: int) -> str:
    return _POWER_NAMES.get(power_state, "pending")


def fault_payload(error: BaseException) -> dict:
    return {"nova_object.name": "ExceptionPayload", "nova_object.namespace": "nova",
            "nova_object.version": "1.1",
            "nova_object.data": {"exception": type(error).__name__,
                                 "exception_message": str(error)}}
