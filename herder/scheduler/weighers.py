"""Host weighers: spread by default, by free RAM, vCPU and disk, each normalized to [0, 1];
soft server-group policies pull members together or push them apart.

A weigher is a pure function of (request, host state); `weigh` normalizes each one across the
candidates and adds them up, each times its multiplier (1.0 unless configured).
"""
from typing import Callable

from herder.scheduler import group_policy
from herder.scheduler.host_state import HostState

Weigher = Callable[[dict, HostState], float]


def _soft_affinity(request: dict, host: HostState) -> float:
    """More members of a soft-affinity group already there is better."""
    group = request.get("server_group")
    if not group or group["policy"] != group_policy.SOFT_AFFINITY:
        return 0.0
    return float(group_policy.members_on(group, host.host))


def _soft_anti_affinity(request: dict, host: HostState) -> float:
    """Fewer members of a soft-anti-affinity group already there is better."""
    group = request.get("server_group")
    if not group or group["policy"] != group_policy.SOFT_ANTI_AFFINITY:
        return 0.0
    return -float(group_policy.members_on(group, host.host))


WEIGHERS: dict[str, Weigher] = {
    "RAMWeigher": lambda request, h: h.free.memory_mb,
    "CPUWeigher": lambda request, h: h.free.vcpus,
    "DiskWeigher": lambda request, h: h.free.disk_gb,
    "ServerGroupSoftAffinityWeigher": _soft_affinity,
    "ServerGroupSoftAntiAffinityWeigher": _soft_anti_affinity,
}


def weigh(hosts: list[HostState], names: list[str], request: dict | None = None,
          multipliers: dict[str, float] | None = None) -> list[HostState]:
    """Hosts best first: the sum of each weigher's value normalized across the candidates."""
    if not hosts:
        return []
    request = request or {}
    multipliers = multipliers or {}
    totals = {h.node_uuid: 0.0 for h in hosts}
    for name in names:
        weigher = WEIGHERS[name]
        multiplier = multipliers.get(name, 1.0)
        values = {h.node_uuid: float(weigher(request, h)) for h in hosts}
        low, high = min(values.values()), max(values.values())
        for node_uuid, value in values.items():
            normalized = 0.0 if high == low else (value - low) / (high - low)
            totals[node_uuid] += multiplier * normalized
    return sorted(hosts, key=lambda h: (-totals[h.node_uuid], h.host))
