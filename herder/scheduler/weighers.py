"""Host weighers: spread by default, by free RAM, vCPU and disk, each normalized to [0, 1]."""
from typing import Callable

from herder.scheduler.host_state import HostState

Weigher = Callable[[HostState], float]

WEIGHERS: dict[str, Weigher] = {
    "RAMWeigher": lambda h: h.free.memory_mb,
    "CPUWeigher": lambda h: h.free.vcpus,
    "DiskWeigher": lambda h: h.free.disk_gb,
}


def weigh(hosts: list[HostState], names: list[str]) -> list[HostState]:
    """Hosts best first: the sum of each weigher's value normalized across the candidates."""
    if not hosts:
        return []
    totals = {h.node_uuid: 0.0 for h in hosts}
    for name in names:
        weigher = WEIGHERS[name]
        values = {h.node_uuid: float(weigher(h)) for h in hosts}
        low, high = min(values.values()), max(values.values())
        for node_uuid, value in values.items():
            totals[node_uuid] += 0.0 if high == low else (value - low) / (high - low)
    return sorted(hosts, key=lambda h: (-totals[h.node_uuid], h.host))
