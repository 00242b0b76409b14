"""Host weighers: spread by default, by free RAM, vCPU and disk, each normalized to [0, 1];
soft server-group policies pull members together or push them apart.

A weigher is a pure function of (request, host state); `weigh` normalizes each one across the
candidates and adds them up, each times its multiplier (1.0 unless configured).
"""
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Weighed:
    """A candidate with its weight: the sum of `by_weigher`, each weigher's normalized value
    times its multiplier (what a dry run shows, so an operator sees why one host beat another)."""
    host: HostState
    weight: float
    by_weigher: dict[str, float]


def weights(hosts: list[HostState], names: list[str], request: dict | None = None,
            multipliers: dict[str, float] | None = None) -> list[Weighed]:
    """Hosts best first, with their weights; ties go to the host whose name sorts first."""
    request = request or {}
    multipliers = multipliers or {}
    parts: dict[str, dict[str, float]] = {h.node_uuid: {} for h in hosts}
    for name in names:
        weigher = WEIGHERS[name]
        multiplier = multipliers.get(name, 1.0)
        values = {h.node_uuid: float(weigher(request, h)) for h in hosts}
        low, high = min(values.values(), default=0.0), max(values.values(), default=0.0)
        for node_uuid, value in values.items():
            normalized = 0.0 if high == low else (value - low) / (high - low)
            parts[node_uuid][name] = multiplier * normalized
    weighed = [Weighed(h, sum(parts[h.node_uuid].values()), parts[h.node_uuid]) for h in hosts]
    return sorted(weighed, key=lambda w: (-w.weight, w.host.host))


def weigh(hosts: list[HostState], names: list[str], request: dict | None = None,
          multipliers: dict[str, float] | None = None) -> list[HostState]:
    """Hosts best first: the sum of each weigher's value normalized across the candidates."""
    return [w.host for w in weights(hosts, names, request, multipliers)]
