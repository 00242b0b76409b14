"""Quota sets and absolute limits by microversion: 2.36 drops the nova-network quotas, 2.39
maxImageMeta, 2.57 the injected-file quotas."""
from herder.api.microversion import Version
from herder.api.schemas.quota_sets import INJECTED_FILE_QUOTAS, NETWORK_QUOTAS
from herder.db.quotas import RESOURCES

# resource -> the absolute limits that show it, and the usage figure that counts it
_LIMIT_NAMES = {
    "ram": ("maxTotalRAMSize",), "instances": ("maxTotalInstances",),
    "cores": ("maxTotalCores",), "key_pairs": ("maxTotalKeypairs",),
    "floating_ips": ("maxTotalFloatingIps",), "metadata_items": ("maxServerMeta", "maxImageMeta"),
    "injected_files": ("maxPersonality",), "injected_file_content_bytes": ("maxPersonalitySize",),
    "security_groups": ("maxSecurityGroups",), "security_group_rules": ("maxSecurityGroupRules",),
    "server_groups": ("maxServerGroups",), "server_group_members": ("maxServerGroupMembers",),
}
_USED_NAMES = {"ram": "totalRAMUsed", "cores": "totalCoresUsed",
               "instances": "totalInstancesUsed", "floating_ips": "totalFloatingIpsUsed",
               "security_groups": "totalSecurityGroupsUsed",
               "server_groups": "totalServerGroupsUsed"}


def shown(version: Version) -> tuple[str, ...]:
    """The quotas a microversion knows."""
    hidden: tuple[str, ...] = ()
    if version.at_least("2.36"):
        hidden += NETWORK_QUOTAS
    if version.at_least("2.57"):
        hidden += INJECTED_FILE_QUOTAS
    return tuple(name for name in RESOURCES if name not in hidden)


def quota_set(limits: dict[str, int], version: Version, project_id: str | None) -> dict:
    """`{"quota_set": {...}}`; an update's answer has no `id` (as in Nova)."""
    body = {name: limits[name] for name in shown(version)}
    if project_id is not None:
        body["id"] = project_id
    return {"quota_set": body}


def quota_set_detail(limits: dict[str, int], used: dict[str, int], version: Version,
                     project_id: str) -> dict:
    body = {name: {"in_use": used[name], "limit": limits[name], "reserved": 0}
            for name in shown(version)}
    return {"quota_set": {**body, "id": project_id}}


def absolute_limits(limits: dict[str, int], used: dict[str, int], version: Version) -> dict:
    """`{"limits": {"rate": [], "absolute": {...}}}`: each limit, and the usage Nova counts."""
    absolute = {}
    for resource in shown(version):
        for name in _LIMIT_NAMES.get(resource, ()):
            if name == "maxImageMeta" and version.at_least("2.39"):
                continue  # the image proxy's metadata limit went with the proxy
            absolute[name] = limits[resource]
        if resource in _USED_NAMES:
            absolute[_USED_NAMES[resource]] = used[resource]
    return {"limits": {"rate": [], "absolute": absolute}}
