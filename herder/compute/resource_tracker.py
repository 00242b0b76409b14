"""The host's own view of its resources: claims for the guests it runs and the moves it expects.

A move claim on the destination (`prep_resize`) is checked here under the host lock, in addition
to the scheduler's allocation, as Nova's resource tracker does: the scheduler's view may be stale.
"""
import logging
import threading

from herder import exception
from herder.db.placement import Resources

LOG = logging.getLogger(__name__)


class ResourceTracker:
    def __init__(self, host: str, inventory: dict):
        self.host = host
        self.inventory = inventory
        self._claims: dict[str, Resources] = {}
        self._lock = threading.Lock()

    def capacity(self) -> Resources:
        inv = self.inventory
        return Resources(int(inv["vcpus"] * inv["cpu_allocation_ratio"]),
                         int((inv["memory_mb"] - inv["reserved_host_memory_mb"])
                             * inv["ram_allocation_ratio"]),
                         int(inv["local_gb"] * inv["disk_allocation_ratio"]))

    def used(self) -> Resources:
        with self._lock:
            return self._used()

    def _used(self) -> Resources:
        claims = list(self._claims.values())
        return Resources(sum(c.vcpus for c in claims), sum(c.memory_mb for c in claims),
                         sum(c.disk_gb for c in claims))

    def claim(self, consumer: str, wanted: Resources, instance_uuid: str) -> None:
        """Reserve `wanted` for `consumer` or raise ClaimFailed; claiming twice is a no-op."""
        with self._lock:
            if consumer in self._claims:
                return
            used, total = self._used(), self.capacity()
            LOG.info("[instance: %s] Attempting claim on %s: memory %d MB, disk %d GB, vcpus %d",
                     instance_uuid, self.host, wanted.memory_mb, wanted.disk_gb, wanted.vcpus)
            for name in ("vcpus", "memory_mb", "disk_gb"):
                if getattr(used, name) + getattr(wanted, name) > getattr(total, name):
                    raise exception.ClaimFailed(
                        host=self.host, reason=f"insufficient {name}: requested "
                        f"{getattr(wanted, name)}, free {getattr(total, name) - getattr(used, name)}")
            self._claims[consumer] = wanted
            LOG.info("[instance: %s] Claim successful on %s", instance_uuid, self.host)

    def drop(self, consumer: str) -> None:
        with self._lock:
            self._claims.pop(consumer, None)

    def rebuild(self, guests: dict[str, dict], kept_copies: dict[str, dict],
                expected: dict[str, dict]) -> None:
        """After a restart: one claim per guest defined on the host (uuid -> flavor), one per
        source copy kept for a move until its confirm or revert (the old flavor stays held
        here), and one per move on its way here whose guest is not defined yet (the agent's
        move claim records)."""
        with self._lock:
            self._claims = {uuid: Resources.of_flavor(flavor) for uuid, flavor in guests.items()}
            self._claims.update({source_claim(uuid): Resources.of_flavor(flavor)
                                 for uuid, flavor in kept_copies.items()})
            self._claims.update({destination_claim(move["migration_uuid"]):
                                 Resources.of_flavor(move["flavor"])
                                 for move in expected.values()})

    def rekey(self, old: str, new: str) -> None:
        """Hand a claim to another consumer (a guest's claim becomes a move's, or back)."""
        with self._lock:
            if old in self._claims:
                self._claims[new] = self._claims.pop(old)


def destination_claim(migration_uuid: str) -> str:
    """The claim key of a move's destination half until the guest is defined there."""
    return f"destination:{migration_uuid}"


def source_claim(instance_uuid: str) -> str:
    """The claim key of a move's source half until confirm or revert: by server, not by
    migration, because after a restart the kept `_resize` copy is all there is to go by (a
    server has one move at a time)."""
    return f"source:{instance_uuid}"
