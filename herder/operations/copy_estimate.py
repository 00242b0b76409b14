"""What a move's disk copy to one destination would be: over the network, or on an instances
directory the two hosts share; how many bytes; and how long, from the rate of earlier copies
of the same kind (herder/db/disk_copies.py). Where herder cannot know, it says so and guesses
nothing."""
from herder.db import disk_copies
from herder.db.models import ComputeNode

NETWORK, SHARED, UNKNOWN = "network", "shared_instances_dir", "unknown"
# each kind's copies, one and several
_KIND_WORDS = {NETWORK: ("network copy", "network copies"),
               SHARED: ("copy on a shared instances directory",
                        "copies on a shared instances directory")}


def copy_kind(source: ComputeNode | None, dest: ComputeNode | None) -> str:
    """By the ids the two hosts report of their instances directories (one id: one
    directory); a host that reported none leaves it unknown. The move itself still checks
    with its probe (herder/compute/shared_storage.py)."""
    if source is None or dest is None or not source.instances_dir_id \
            or not dest.instances_dir_id:
        return UNKNOWN
    return SHARED if source.instances_dir_id == dest.instances_dir_id else NETWORK


def estimate(db, kind: str, bytes_to_move: int | None,
             rates: dict[str, disk_copies.MeasuredRate | None]) -> dict:
    """{"estimated_seconds": seconds or None, "estimate_basis": why, in words}. `rates`: the
    measured rate of each kind, read once per plan (filled here as kinds come up)."""
    if kind == UNKNOWN:
        return _none("whether the destination shares the source's instances directory is "
                     "unknown (a host has not reported its directory's id)")
    if bytes_to_move is None:
        return _none("the source host did not say how much data the disks hold")
    if kind not in rates:
        rates[kind] = disk_copies.measured_rate(db, shared_storage=kind == SHARED)
    rate = rates[kind]
    if rate is None:
        return _none(f"no history: no earlier {_KIND_WORDS[kind][1]} were measured")
    one, several = _KIND_WORDS[kind]
    copies = one if rate.copies == 1 else f"{rate.copies} {several}"
    return {"estimated_seconds": round(bytes_to_move / rate.bytes_per_second, 6),
            "estimate_basis": f"{rate.bytes_per_second / 1e6:.3f} MB/s, measured over the "
                              f"last {copies}"}


def _none(reason: str) -> dict:
    return {"estimated_seconds": None, "estimate_basis": reason}
