"""A snapshot of one candidate host, as the filters and weighers see it."""
from dataclasses import dataclass

from herder.db.placement import Resources


@dataclass(frozen=True)
class HostState:
    host: str
    node: str
    node_uuid: str
    availability_zone: str
    enabled: bool
    up: bool
    capacity: Resources
    used: Resources
    hypervisor_type: str          # as the host's driver reports it ("fake", "QEMU")

    @property
    def free(self) -> Resources:
        return Resources(self.capacity.vcpus - self.used.vcpus,
                         self.capacity.memory_mb - self.used.memory_mb,
                         self.capacity.disk_gb - self.used.disk_gb)
