"""The interface every hypervisor driver implements, and what they exchange with the agent.

The compute agent (herder/compute/agent.py) runs a move's compute-side steps; a driver does
the hypervisor's part of each. Two implement it: `fake` (real files, pretend guests: tests and
scale runs) and `libvirt` (real QEMU guests). `[compute] compute_driver` picks one
(`load_driver`).

Every step is idempotent: the conductor retries a step whose reply was lost, and a compute host
that restarts runs again the step it was cut off in. A driver therefore checks what is already
done before doing it (a guest already off stays off, a kept copy already restored is not
restored twice).

A guest's instance is the dict the conductor sends (herder/wire.py): at least `uuid`,
`display_name`, `hostname`, `flavor` (with `extra_specs`), `image` (ImageMeta as a dict, or
None), `power_state`.
"""
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterator, Protocol, runtime_checkable

from herder.fault_injection import FaultInjector

Progress = Callable[[int, int], None]   # (bytes done, bytes in all) of a disk copy
Placements = Callable[[list[str]], dict[str, dict | None]]   # see ComputeDriver.init_host


def progress_over_files(progress: Progress | None, sizes: list[int]) -> Iterator[Progress]:
    """For files copied one after the other: one callback per file, in order, each turning
    that file's (done, total) into (done in all files so far, total of all of them)."""
    grand_total = sum(sizes)
    before = 0
    for size in sizes:
        def report(done: int, _total: int, before: int = before) -> None:
            if progress is not None:
                progress(before + done, grand_total)
        yield report
        before += size


@dataclass(frozen=True)
class HostInventory:
    """What a host offers, as its driver measures it; the agent adds the operator's
    overcommit ratios and reservations from `[compute]`."""
    vcpus: int
    memory_mb: int
    local_gb: int
    hypervisor_type: str       # as the hypervisors API shows it: "fake", "QEMU"
    hypervisor_version: int    # major * 1000000 + minor * 1000 + release, as Nova reports it


@dataclass(frozen=True)
class MoveReport:
    """What the source's migrate_disk_and_power_off moved."""
    files: int                 # files of the instance that went to the destination
    virtual_bytes: int         # the disks' sizes as the guest sees them
    allocated_bytes: int       # the data in them: what a copy from zero sends
    bytes_sent: int            # what went over the wire this time (resumes and re-sends)
    resumed_from: int          # bytes the destination already had verified
    shared_storage: bool = False   # the destination shares the instances directory: copied
                                   # there locally, nothing sent
    digests: dict[str, str] = field(default_factory=dict)
    # file name -> the keyed digest of what was sent of it (transfer protocol 3): the
    # destination's own, for what it received, must be the same (ComputeDriver.arrived_digests)
    copy_seconds: float | None = None   # how long the copy or send itself took (timed_copy)

    def as_dict(self) -> dict:
        return asdict(self)


def timed_copy(copy: Callable[[], MoveReport]) -> MoveReport:
    """`copy`'s report with the seconds it took. Only the copy is timed, not the power-off
    before it, so that bytes over seconds is the rate a later copy can expect (the herder
    API's move plans estimate from it)."""
    started = time.monotonic()
    report = copy()
    return replace(report, copy_seconds=time.monotonic() - started)


@dataclass(frozen=True)
class DiskUsage:
    """What a move of a guest would carry: its disk files and the data in them."""
    files: int
    allocated_bytes: int   # what a copy from zero sends, holes left out (not the virtual size)

    def as_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class ComputeDriver(Protocol):
    host: str
    fault_points: FaultInjector
    supports_same_host_migration: bool

    # -- the host ---------------------------------------------------------------------------
    def init_host(self, placements: Placements) -> None:
        """At compute start: reconcile the hypervisor with what herder believes. The driver
        asks `placements` about the guests it finds (uuid -> {host, vm_state, task_state,
        power_state}, or None for a server herder does not know) and, for those no move or
        other task is working on: a guest herder does not know is reported and left alone;
        one herder places on another host (what a rolled-back move left behind) is removed;
        one that should be off is powered off. What it finds and changes is logged."""

    def inventory(self) -> HostInventory:
        """The host's vCPUs, memory and instance disk space, and its hypervisor."""

    def list_instances(self) -> dict[str, dict]:
        """uuid -> flavor of every guest defined on this host (claims rebuilt at start)."""

    def list_kept_copies(self) -> dict[str, dict]:
        """uuid -> old flavor of every source copy kept for a move until confirm or revert."""

    # -- one guest --------------------------------------------------------------------------
    def spawn(self, instance: dict, power_on: bool = True) -> int:
        """Create the guest's disks from its image (fetched and checked if not cached) and
        define it; returns its power state."""

    def power_state(self, uuid: str) -> int:
        """The guest's power state (states.NOSTATE when it is not defined here)."""

    def power_off(self, instance: dict) -> int:
        """Ask the guest to shut down (ACPI), wait up to shutdown_timeout, then stop it
        hard."""

    def power_on(self, instance: dict) -> int: ...
    def pause(self, instance: dict) -> int: ...
    def unpause(self, instance: dict) -> int: ...
    def suspend(self, instance: dict) -> int: ...
    def resume(self, instance: dict) -> int: ...

    def reboot(self, instance: dict, hard: bool) -> int:
        """Soft: the guest restarts itself (a running guest only). Hard: reset from any
        state."""

    def destroy(self, instance: dict) -> None:
        """The guest and all its files go, a kept move copy included."""

    def console_output(self, instance: dict) -> str:
        """What the guest wrote on its serial console."""

    def disk_usage(self, instance: dict) -> DiskUsage:
        """The guest's disk files here, as a move would send them (herder/virt/layout.py)."""

    # -- moves: destination -------------------------------------------------------------------
    def prepare_incoming(self, instance: dict, migration_uuid: str) -> dict:
        """Agree to receive the guest's files for this migration: what the source needs to
        send them here (transfer grants)."""

    def arrived_digests(self, instance: dict, migration_uuid: str) -> dict[str, str | None]:
        """file name -> the keyed digest of each of the guest's disk files as this host
        received and verified it for this migration (None: it did not arrive complete).
        Asked before finish_migration, which removes the transfer's records."""

    def finish_migration(self, instance: dict, new_flavor: dict, power_on: bool) -> int:
        """The files are here: apply the new flavor (grow the root disk), define the guest,
        start it if asked."""

    def discard_incoming(self, instance: dict) -> None:
        """Revert or rollback: the guest and whatever arrived of its files go, and no
        transfer for it may still write here."""

    # -- moves: source ------------------------------------------------------------------------
    def migrate_disk_and_power_off(self, instance: dict, target: dict,
                                   progress: Progress | None = None,
                                   shared_storage: bool = False) -> MoveReport:
        """Power the guest off, keep its files as the move's source copy, send them to
        `target` (what the destination's prepare_incoming returned). With `shared_storage`
        the destination sees this host's instances directory: the files are copied into the
        guest's directory there (herder/virt/local_copy.py), nothing is sent."""

    def confirm_migration(self, instance: dict) -> None:
        """Confirm: the source copy goes."""

    def finish_revert_migration(self, instance: dict, power_on: bool) -> int:
        """Revert or rollback: the source copy is the guest again (whatever point the move
        reached: not yet kept, kept, already restored), running if `power_on`."""


def load_driver(conf, host: str, instances_dir: str, fault_points: FaultInjector,
                transfers, images) -> ComputeDriver:
    """The driver `[compute] compute_driver` names, for one host."""
    name = conf.compute.compute_driver
    if name == "fake":
        from herder.virt.fake import FakeDriver
        return FakeDriver.from_conf(conf, host, instances_dir, fault_points, transfers, images)
    if name == "libvirt":
        from herder.virt.libvirt.driver import LibvirtDriver  # libvirt-python only when asked
        return LibvirtDriver.from_conf(conf, host, instances_dir, fault_points, transfers, images)
    raise ValueError(f"unknown compute_driver {name!r}: fake or libvirt")
