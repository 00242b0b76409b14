"""A fake hypervisor that behaves like a host where it matters to a move.

Each host has its own instances directory; a guest's disk is a real sparse file there
(`<instances_dir>/<uuid>/disk`) and its definition a small JSON file beside it, so guests survive
a restart of the compute service. Powering off takes a configurable time. Every step can be made
to fail through the fault injector.
"""
import json
import logging
import os
import shutil
import threading
import time

from herder import states
from herder.transfer import sparse
from herder.virt.faults import FaultInjector

LOG = logging.getLogger(__name__)
GIB = 1024 ** 3
RESIZE_SUFFIX = "_resize"


class FakeDriver:
    supports_same_host_migration = False

    def __init__(self, host: str, instances_dir: str, power_off_seconds: float = 0.0,
                 faults: FaultInjector | None = None):
        self.host = host
        self.instances_dir = instances_dir
        self.power_off_seconds = power_off_seconds
        self.faults = faults or FaultInjector(host)
        self._lock = threading.Lock()
        os.makedirs(instances_dir, exist_ok=True)

    # -- paths ------------------------------------------------------------------------------
    def instance_dir(self, uuid: str) -> str:
        return os.path.join(self.instances_dir, uuid)

    def resize_dir(self, uuid: str) -> str:
        return self.instance_dir(uuid) + RESIZE_SUFFIX

    def disk_path(self, uuid: str) -> str:
        return os.path.join(self.instance_dir(uuid), "disk")

    def _definition_path(self, directory: str) -> str:
        return os.path.join(directory, "guest.json")

    # -- guest definitions ------------------------------------------------------------------
    def _read(self, directory: str) -> dict | None:
        try:
            with open(self._definition_path(directory)) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def _write(self, directory: str, guest: dict) -> None:
        tmp = self._definition_path(directory) + ".tmp"
        with open(tmp, "w") as f:
            json.dump(guest, f)
        os.replace(tmp, self._definition_path(directory))

    def guest(self, uuid: str) -> dict | None:
        """The guest defined on this host for `uuid` (not a `_resize` leftover)."""
        return self._read(self.instance_dir(uuid))

    def list_guests(self) -> dict[str, dict]:
        found = {}
        for name in os.listdir(self.instances_dir):
            if name.endswith(RESIZE_SUFFIX):
                continue
            guest = self._read(os.path.join(self.instances_dir, name))
            if guest is not None:
                found[name] = guest
        return found

    def power_state(self, uuid: str) -> int:
        guest = self.guest(uuid)
        return guest["power_state"] if guest else states.NOSTATE

    # -- lifecycle ----------------------------------------------------------------------------
    def spawn(self, uuid: str, flavor: dict, image_path: str | None, power_on: bool = True) -> int:
        """Create the guest's disk from the image (sparse, flavor-sized) and define it."""
        self.faults.check("spawn")
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
        power = states.RUNNING if power_on else states.SHUTDOWN
        self._write(directory, {"uuid": uuid, "flavor": flavor, "power_state": power})
        return power

    def power_off(self, uuid: str) -> int:
        self.faults.check("power_off")
        guest = self.guest(uuid)
        if guest is None:
            return states.NOSTATE
        if guest["power_state"] == states.RUNNING and self.power_off_seconds:
            time.sleep(self.power_off_seconds)
        guest["power_state"] = states.SHUTDOWN
        self._write(self.instance_dir(uuid), guest)
        return states.SHUTDOWN

    def power_on(self, uuid: str) -> int:
        self.faults.check("power_on")
        guest = self.guest(uuid)
        if guest is None:
            return states.NOSTATE
        guest["power_state"] = states.RUNNING
        self._write(self.instance_dir(uuid), guest)
        return states.RUNNING

    def destroy(self, uuid: str) -> None:
        """Undefine the guest and delete its files, `_resize` copy included. Idempotent."""
        self.faults.check("destroy")
        shutil.rmtree(self.instance_dir(uuid), ignore_errors=True)
        shutil.rmtree(self.resize_dir(uuid), ignore_errors=True)

    # -- moves ----------------------------------------------------------------------------------
    def migrate_disk_and_power_off(self, uuid: str, dest_instances_dir: str,
                                   progress=None) -> dict:
        """Source side: power off, keep the disk as `<uuid>_resize`, copy it to the destination.

        Idempotent: a retry after a crash finds the `_resize` copy and only redoes the copy.
        """
        self.power_off(uuid)
        self.faults.check("migrate_disk")
        source, kept = self.instance_dir(uuid), self.resize_dir(uuid)
        if os.path.isdir(source) and not os.path.isdir(kept):
            os.rename(source, kept)
        target_dir = os.path.join(dest_instances_dir, uuid)
        os.makedirs(target_dir, exist_ok=True)
        target = os.path.join(target_dir, "disk")
        source_disk = os.path.join(kept, "disk")
        self.faults.check("copy_disk")
        sent_digest = sparse.copy_sparse(source_disk, target, progress)
        if sparse.digest(target) != sent_digest:
            raise OSError(f"checksum mismatch copying the disk of {uuid}")
        return {"disk_bytes": os.path.getsize(source_disk),
                "allocated_bytes": sparse.allocated_bytes(source_disk), "digest": sent_digest}

    def finish_migration(self, uuid: str, flavor: dict, power_on: bool) -> int:
        """Destination side: grow the disk to the new flavor, define the guest, power on."""
        self.faults.check("finish_migration")
        disk = self.disk_path(uuid)
        if not os.path.exists(disk):
            raise FileNotFoundError(f"disk of {uuid} did not arrive on {self.host}")
        wanted = flavor["root_gb"] * GIB
        if os.path.getsize(disk) < wanted:
            os.truncate(disk, wanted)
        self._write(self.instance_dir(uuid),
                    {"uuid": uuid, "flavor": flavor, "power_state": states.SHUTDOWN})
        return self.power_on(uuid) if power_on else states.SHUTDOWN

    def confirm_migration(self, uuid: str) -> None:
        """Source side, on confirm: the `_resize` copy and the old guest go."""
        self.faults.check("confirm_migration")
        shutil.rmtree(self.resize_dir(uuid), ignore_errors=True)

    def discard_incoming(self, uuid: str) -> None:
        """Destination side, on revert or rollback: remove the guest and the copied disk."""
        self.faults.check("discard_incoming")
        shutil.rmtree(self.instance_dir(uuid), ignore_errors=True)

    def finish_revert_migration(self, uuid: str, power_on: bool) -> int:
        """Source side: put the `_resize` copy back and start the guest if it was running.

        Idempotent: if the copy was already restored, only the power state is applied.
        """
        self.faults.check("finish_revert_migration")
        kept, directory = self.resize_dir(uuid), self.instance_dir(uuid)
        if os.path.isdir(kept):
            shutil.rmtree(directory, ignore_errors=True)  # a same-host move's new copy
            os.rename(kept, directory)
        guest = self.guest(uuid)
        if guest is None:
            raise FileNotFoundError(f"no source copy of {uuid} to restore on {self.host}")
        guest["power_state"] = states.SHUTDOWN
        self._write(directory, guest)
        return self.power_on(uuid) if power_on else states.SHUTDOWN
