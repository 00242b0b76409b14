"""A fake hypervisor that behaves like a host where it matters to a move (`compute_driver = fake`).

Each host has its own instances directory; a guest's disk is a real sparse file there
(`<instances_dir>/<uuid>/disk`, the image's bytes at its start) and its definition a small JSON
file beside it, so guests survive a restart of the compute service. A move sends the disk over
TCP through the hosts' transfer agents. Powering off takes a configurable time. Every step can
be made to fail through the fault injector. No guest code runs: the host's inventory is what
`[compute] fake_*` says.
"""
import logging
import os
import shutil
import threading
import time

from herder import exception, states
from herder.transfer import partial_disk, sparse
from herder.transfer.host import TransferAgent
from herder.fault_injection import FaultInjector
from herder.virt import local_copy
from herder.virt.driver import HostInventory, MoveReport, Placements, timed_copy
from herder.virt.images import ImageCache
from herder.virt.layout import InstanceLayout

LOG = logging.getLogger(__name__)
GIB = 1024 ** 3
DEFAULT_INVENTORY = HostInventory(vcpus=16, memory_mb=32768, local_gb=500,
                                  hypervisor_type="fake", hypervisor_version=1000)


class FakeDriver(InstanceLayout):
    RECORD = "guest.json"
    supports_same_host_migration = False

    def __init__(self, host: str, instances_dir: str, power_off_seconds: float = 0.0,
                 fault_points: FaultInjector | None = None, transfers: TransferAgent | None = None,
                 images: ImageCache | None = None,
                 host_inventory: HostInventory = DEFAULT_INVENTORY):
        super().__init__(instances_dir, host)
        self.power_off_seconds = power_off_seconds
        self.fault_points = fault_points or FaultInjector(host)
        self.transfers = transfers   # a host without one can run guests but not move them
        self.images = images or ImageCache(host, os.path.join(instances_dir, "_base"))
        self.host_inventory = host_inventory
        self._lock = threading.Lock()
        os.makedirs(instances_dir, exist_ok=True)

    @classmethod
    def from_conf(cls, conf, host: str, instances_dir: str, fault_points: FaultInjector,
                  transfers: TransferAgent, images: ImageCache) -> "FakeDriver":
        c = conf.compute
        return cls(host, instances_dir, c.fake_power_off_seconds, fault_points, transfers, images,
                   HostInventory(vcpus=c.fake_vcpus, memory_mb=c.fake_memory_mb,
                                 local_gb=c.fake_disk_gb, hypervisor_type="fake",
                                 hypervisor_version=1000))

    # -- the host ---------------------------------------------------------------------------
    def inventory(self) -> HostInventory:
        return self.host_inventory

    def init_host(self, placements: Placements) -> None:
        """A fake guest stays as its file says; only guests herder does not know are told."""
        guests = self.list_guests()
        if not guests:
            return
        for uuid, where in placements(sorted(guests)).items():
            if where is None:
                LOG.warning("%s holds guest %s of no server herder knows", self.host, uuid)

    # -- guest definitions: the layout's records ----------------------------------------------
    def guest(self, uuid: str) -> dict | None:
        """The guest defined on this host for `uuid` (not a `_resize` leftover)."""
        return self.record(self.instance_dir(uuid))

    def list_guests(self) -> dict[str, dict]:
        """uuid -> definition of every guest defined on this host."""
        return self.records(kept_copies=False)

    def power_state(self, uuid: str) -> int:
        guest = self.guest(uuid)
        return guest["power_state"] if guest else states.NOSTATE

    def console_output(self, instance: dict) -> str:
        """What a fake guest "printed": a line at each power-on."""
        try:
            with open(self.console_path(instance["uuid"])) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def _print(self, uuid: str, line: str) -> None:
        with open(self.console_path(uuid), "a") as f:
            f.write(line + "\n")

    # -- lifecycle ----------------------------------------------------------------------------
    def spawn(self, instance: dict, power_on: bool = True) -> int:
        """Create the guest's disk from the image (sparse, flavor-sized) and define it."""
        self.fault_points.check("spawn")
        uuid, flavor = instance["uuid"], instance["flavor"]
        image_path = self.images.fetch(instance["image"]) if instance.get("image") else None
        directory = self.instance_dir(uuid)
        os.makedirs(directory, exist_ok=True)
        disk = self.disk_path(uuid)
        if not os.path.exists(disk):
            if image_path:
                sparse.copy_sparse(image_path, disk)
            size = max(flavor["root_gb"] * GIB, os.path.getsize(disk) if os.path.exists(disk)
                       else 0)
            with open(disk, "ab"):
                pass
            os.truncate(disk, size)
        self.write_record(directory,
                          {"uuid": uuid, "flavor": flavor, "power_state": states.SHUTDOWN})
        return self.power_on(instance) if power_on else states.SHUTDOWN

    def power_off(self, instance: dict) -> int:
        self.fault_points.check("power_off")
        uuid = instance["uuid"]
        guest = self.guest(uuid)
        if guest is None:
            return states.NOSTATE
        if guest["power_state"] == states.RUNNING and self.power_off_seconds:
            time.sleep(self.power_off_seconds)
        guest["power_state"] = states.SHUTDOWN
        self.write_record(self.instance_dir(uuid), guest)
        return states.SHUTDOWN

    def power_on(self, instance: dict) -> int:
        self.fault_points.check("power_on")
        uuid = instance["uuid"]
        guest = self.guest(uuid)
        if guest is None:
            return states.NOSTATE
        guest["power_state"] = states.RUNNING
        self.write_record(self.instance_dir(uuid), guest)
        self._print(uuid, f"fake guest {uuid} running on {self.host} with "
                          f"{guest['flavor']['memory_mb']} MB and {guest['flavor']['vcpus']} "
                          "vCPUs")
        return states.RUNNING

    # -- pause / suspend / reboot ----------------------------------------------------------------
    def pause(self, instance: dict) -> int:
        """Freeze a running guest in memory."""
        return self._change_power("pause", instance, (states.RUNNING,), states.PAUSED_POWER)

    def unpause(self, instance: dict) -> int:
        return self._change_power("unpause", instance, (states.PAUSED_POWER,), states.RUNNING)

    def suspend(self, instance: dict) -> int:
        """Save a running guest's memory to disk and stop it."""
        return self._change_power("suspend", instance, (states.RUNNING,),
                                  states.SUSPENDED_POWER)

    def resume(self, instance: dict) -> int:
        return self._change_power("resume", instance, (states.SUSPENDED_POWER,), states.RUNNING)

    def reboot(self, instance: dict, hard: bool) -> int:
        """A soft reboot asks a running guest to restart; a hard one resets it from whatever
        state it is in (off, paused, suspended, crashed)."""
        if hard:
            return self._change_power("reboot", instance, None, states.RUNNING)
        return self._change_power("reboot", instance, (states.RUNNING,), states.RUNNING)

    def _change_power(self, step: str, instance: dict, from_states: tuple | None,
                      to: int) -> int:
        """Idempotent: a guest already in `to` stays there (a retried step)."""
        self.fault_points.check(step)
        uuid = instance["uuid"]
        guest = self.guest(uuid)
        if guest is None:
            raise exception.DriverError(step=step, host=self.host,
                                        reason=f"no guest {uuid} on this host")
        if guest["power_state"] != to and from_states is not None and \
                guest["power_state"] not in from_states:
            raise exception.DriverError(step=step, host=self.host,
                                        reason=f"guest is in power state {guest['power_state']}")
        guest["power_state"] = to
        self.write_record(self.instance_dir(uuid), guest)
        return to

    def destroy(self, instance: dict) -> None:
        """Undefine the guest and delete its files, `_resize` copy included. Idempotent."""
        self.fault_points.check("destroy")
        self.remove_if_here(self.instance_dir(instance["uuid"]))
        self.remove_if_here(self.resize_dir(instance["uuid"]))

    # -- moves ----------------------------------------------------------------------------------
    def _transfer_agent(self) -> TransferAgent:
        if self.transfers is None:
            raise exception.DriverError(step="transfer", host=self.host,
                                        reason="this host has no transfer agent")
        return self.transfers

    def prepare_incoming(self, instance: dict, migration_uuid: str) -> dict:
        """Destination side: agree to receive the guest's disk for this migration; the target
        (address, port, single-use token) the source sends it to."""
        return self._transfer_agent().expect(migration_uuid, instance["uuid"], "disk",
                                             instance["flavor"])

    def migrate_disk_and_power_off(self, instance: dict, target: dict, progress=None,
                                   shared_storage: bool = False) -> MoveReport:
        """Source side: power off, keep the disk as `<uuid>_resize`, send it to `target` (what
        the destination's `prepare_incoming` returned) over TCP, or copy it beside the kept
        copy when the destination shares this host's instances directory.

        Idempotent: a retry after a crash finds the `_resize` copy and only redoes the copy,
        which resumes where the destination stopped verifying.
        """
        uuid = instance["uuid"]
        self.power_off(instance)
        self.fault_points.check("migrate_disk")
        source, kept = self.instance_dir(uuid), self.resize_dir(uuid)
        if os.path.isdir(source) and not os.path.isdir(kept):
            os.rename(source, kept)
        source_disk = os.path.join(kept, "disk")
        self.fault_points.check("copy_disk")

        def copy() -> MoveReport:
            if shared_storage:
                return local_copy.copy_disks(kept, source, ["disk"],
                                             os.path.getsize(source_disk), progress)
            sent = self._transfer_agent().send(source_disk, target, progress)
            LOG.info("disk of %s sent from %s:%d to %s:%d: %d bytes (resumed at %d, %d re-sent "
                     "chunks)", uuid, *sent.local, *sent.peer, sent.bytes_sent,
                     sent.resumed_from, sent.chunks_resent)
            return MoveReport(files=1, virtual_bytes=sent.size,
                              allocated_bytes=sent.allocated_bytes, bytes_sent=sent.bytes_sent,
                              resumed_from=sent.resumed_from, digests={"disk": sent.digest})
        return timed_copy(copy)

    def arrived_digests(self, instance: dict, migration_uuid: str) -> dict[str, str | None]:
        return {"disk": partial_disk.completed_digest(self.disk_path(instance["uuid"]),
                                                      migration_uuid)}

    def finish_migration(self, instance: dict, new_flavor: dict, power_on: bool) -> int:
        """Destination side: grow the disk to the new flavor, define the guest, power on."""
        self.fault_points.check("finish_migration")
        uuid = instance["uuid"]
        disk = self.disk_path(uuid)
        if not os.path.exists(disk):
            raise FileNotFoundError(f"disk of {uuid} did not arrive on {self.host}")
        # the disk is here: no transfer for this guest may still arrive or leave files behind
        if self.transfers is not None:
            self.transfers.cancel(uuid)
        partial_disk.remove_leftovers(disk)
        wanted = new_flavor["root_gb"] * GIB
        if os.path.getsize(disk) < wanted:
            os.truncate(disk, wanted)
        self.write_record(self.instance_dir(uuid),
                          {"uuid": uuid, "flavor": new_flavor, "power_state": states.SHUTDOWN})
        return self.power_on(instance) if power_on else states.SHUTDOWN

    def confirm_migration(self, instance: dict) -> None:
        """Source side, on confirm: the `_resize` copy and the old guest go."""
        self.fault_points.check("confirm_migration")
        shutil.rmtree(self.resize_dir(instance["uuid"]), ignore_errors=True)

    def discard_incoming(self, instance: dict) -> None:
        """Destination side, on revert or rollback: remove the guest and the copied disk,
        after stopping any transfer still writing it (partial file and resume record go too)."""
        self.fault_points.check("discard_incoming")
        if self.transfers is not None:
            self.transfers.cancel(instance["uuid"])
        # a shared instances directory: before the source kept its copy, this is its guest
        self.remove_if_here(self.instance_dir(instance["uuid"]))

    def finish_revert_migration(self, instance: dict, power_on: bool) -> int:
        """Source side: put the `_resize` copy back and start the guest if it was running.

        Idempotent: if the copy was already restored, or never kept (the move stopped
        before the power-off was done), only the power state is applied.
        """
        self.fault_points.check("finish_revert_migration")
        uuid = instance["uuid"]
        kept, directory = self.resize_dir(uuid), self.instance_dir(uuid)
        if os.path.isdir(kept):
            self.clear_for_restore(uuid)
            os.rename(kept, directory)
            guest = self.guest(uuid)
            if guest is not None:   # the copy was kept powered off
                guest["power_state"] = states.SHUTDOWN
                self.write_record(directory, guest)
        guest = self.guest(uuid)
        if guest is None:
            raise FileNotFoundError(f"no source copy of {uuid} to restore on {self.host}")
        if power_on and guest["power_state"] != states.RUNNING:
            return self.power_on(instance)
        return guest["power_state"]
