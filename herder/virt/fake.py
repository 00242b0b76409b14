"""A fake hypervisor that behaves like a host where it matters to a move.

Each host has its own instances directory; a guest's disk is a real sparse file there
(`<instances_dir>/<uuid>/disk`) and its definition a small JSON file beside it, so guests survive
a restart of the compute service. A move sends the disk over TCP through the hosts' transfer
agents. Powering off takes a configurable time. Every step can be made to fail through the fault
injector.
"""
import json
import logging
import os
import shutil
import threading
import time

from herder import exception, states
from herder.transfer import incoming, sparse
from herder.transfer.host import TransferAgent
from herder.faults import FaultInjector

LOG = logging.getLogger(__name__)
GIB = 1024 ** 3
RESIZE_SUFFIX = "_resize"
INCOMING_SUFFIX = ".incoming"   # a move's claim on its destination, until the guest is defined


class FakeDriver:
    supports_same_host_migration = False

    def __init__(self, host: str, instances_dir: str, power_off_seconds: float = 0.0,
                 faults: FaultInjector | None = None, transfers: TransferAgent | None = None):
        self.host = host
        self.instances_dir = instances_dir
        self.power_off_seconds = power_off_seconds
        self.faults = faults or FaultInjector(host)
        self.transfers = transfers   # a host without one can run guests but not move them
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
    @staticmethod
    def _read_json(path: str) -> dict | None:
        try:
            with open(path) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    @staticmethod
    def _write_json(path: str, data: dict) -> None:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)

    def _read(self, directory: str) -> dict | None:
        return self._read_json(self._definition_path(directory))

    def _write(self, directory: str, guest: dict) -> None:
        self._write_json(self._definition_path(directory), guest)

    def guest(self, uuid: str) -> dict | None:
        """The guest defined on this host for `uuid` (not a `_resize` leftover)."""
        return self._read(self.instance_dir(uuid))

    def list_guests(self) -> dict[str, dict]:
        """uuid -> definition of every guest defined on this host."""
        return self._definitions(kept_copies=False)

    def list_kept_copies(self) -> dict[str, dict]:
        """uuid -> definition of every source copy kept for a move (`<uuid>_resize`)."""
        return self._definitions(kept_copies=True)

    def _definitions(self, kept_copies: bool) -> dict[str, dict]:
        found = {}
        for name in os.listdir(self.instances_dir):
            path = os.path.join(self.instances_dir, name)
            if name.endswith(RESIZE_SUFFIX) != kept_copies or not os.path.isdir(path):
                continue  # the other kind, or a file (an incoming move's record)
            guest = self._read(path)
            if guest is not None:
                found[name.removesuffix(RESIZE_SUFFIX)] = guest
        return found

    # -- moves on their way here ------------------------------------------------------------
    def _incoming_path(self, uuid: str) -> str:
        return os.path.join(self.instances_dir, uuid + INCOMING_SUFFIX)

    def record_incoming(self, uuid: str, migration_uuid: str, flavor: dict) -> None:
        """Destination side, from prep_resize until the guest is defined here (or the move is
        undone): the move this host holds a claim for, and for which flavor. Nothing else on
        disk says so before the disk arrives, and a restarted host must still count it."""
        self._write_json(self._incoming_path(uuid),
                         {"migration_uuid": migration_uuid, "flavor": flavor})

    def forget_incoming(self, uuid: str) -> None:
        try:
            os.remove(self._incoming_path(uuid))
        except FileNotFoundError:
            pass

    def list_incoming(self) -> dict[str, dict]:
        """uuid -> {migration_uuid, flavor} of every move this host expects (record_incoming)."""
        found = {}
        for name in os.listdir(self.instances_dir):
            if name.endswith(INCOMING_SUFFIX):
                record = self._read_json(os.path.join(self.instances_dir, name))
                if record is not None:
                    found[name.removesuffix(INCOMING_SUFFIX)] = record
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

    # -- pause / suspend / reboot ----------------------------------------------------------------
    def pause(self, uuid: str) -> int:
        """Freeze a running guest in memory."""
        return self._change_power("pause", uuid, (states.RUNNING,), states.PAUSED_POWER)

    def unpause(self, uuid: str) -> int:
        return self._change_power("unpause", uuid, (states.PAUSED_POWER,), states.RUNNING)

    def suspend(self, uuid: str) -> int:
        """Save a running guest's memory to disk and stop it."""
        return self._change_power("suspend", uuid, (states.RUNNING,), states.SUSPENDED_POWER)

    def resume(self, uuid: str) -> int:
        return self._change_power("resume", uuid, (states.SUSPENDED_POWER,), states.RUNNING)

    def reboot(self, uuid: str, hard: bool) -> int:
        """A soft reboot asks a running guest to restart; a hard one resets it from whatever
        state it is in (off, paused, suspended, crashed)."""
        if hard:
            return self._change_power("reboot", uuid, None, states.RUNNING)
        return self._change_power("reboot", uuid, (states.RUNNING,), states.RUNNING)

    def _change_power(self, step: str, uuid: str, from_states: tuple | None, to: int) -> int:
        """Idempotent: a guest already in `to` stays there (a retried step)."""
        self.faults.check(step)
        guest = self.guest(uuid)
        if guest is None:
            raise exception.DriverError(step=step, host=self.host,
                                        reason=f"no guest {uuid} on this host")
        if guest["power_state"] != to and from_states is not None and \
                guest["power_state"] not in from_states:
            raise exception.DriverError(step=step, host=self.host,
                                        reason=f"guest is in power state {guest['power_state']}")
        guest["power_state"] = to
        self._write(self.instance_dir(uuid), guest)
        return to

    def destroy(self, uuid: str) -> None:
        """Undefine the guest and delete its files, `_resize` copy included. Idempotent."""
        self.faults.check("destroy")
        shutil.rmtree(self.instance_dir(uuid), ignore_errors=True)
        shutil.rmtree(self.resize_dir(uuid), ignore_errors=True)

    # -- moves ----------------------------------------------------------------------------------
    def _transfer_agent(self) -> TransferAgent:
        if self.transfers is None:
            raise exception.DriverError(step="transfer", host=self.host,
                                        reason="this host has no transfer agent")
        return self.transfers

    def prepare_incoming(self, uuid: str, migration_uuid: str) -> dict:
        """Destination side: agree to receive the guest's disk for this migration; the target
        (address, port, single-use token) the source sends it to."""
        return self._transfer_agent().expect(migration_uuid, uuid, "disk")

    def migrate_disk_and_power_off(self, uuid: str, target: dict, progress=None) -> dict:
        """Source side: power off, keep the disk as `<uuid>_resize`, send it to `target` (what
        the destination's `prepare_incoming` returned) over TCP.

        Idempotent: a retry after a crash finds the `_resize` copy and only redoes the copy,
        which resumes where the destination stopped verifying.
        """
        self.power_off(uuid)
        self.faults.check("migrate_disk")
        source, kept = self.instance_dir(uuid), self.resize_dir(uuid)
        if os.path.isdir(source) and not os.path.isdir(kept):
            os.rename(source, kept)
        source_disk = os.path.join(kept, "disk")
        self.faults.check("copy_disk")
        sent = self._transfer_agent().send(source_disk, target, progress)
        LOG.info("disk of %s sent from %s:%d to %s:%d: %d bytes (resumed at %d, %d re-sent "
                 "chunks)", uuid, *sent.local, *sent.peer, sent.bytes_sent, sent.resumed_from,
                 sent.chunks_resent)
        return {"disk_bytes": sent.size, "allocated_bytes": sent.allocated_bytes,
                "digest": sent.digest, "bytes_sent": sent.bytes_sent,
                "resumed_from": sent.resumed_from}

    def finish_migration(self, uuid: str, flavor: dict, power_on: bool) -> int:
        """Destination side: grow the disk to the new flavor, define the guest, power on."""
        self.faults.check("finish_migration")
        disk = self.disk_path(uuid)
        if not os.path.exists(disk):
            raise FileNotFoundError(f"disk of {uuid} did not arrive on {self.host}")
        # the disk is here: no transfer for this guest may still arrive or leave files behind
        if self.transfers is not None:
            self.transfers.cancel(uuid)
        incoming.remove_leftovers(disk)
        wanted = flavor["root_gb"] * GIB
        if os.path.getsize(disk) < wanted:
            os.truncate(disk, wanted)
        self._write(self.instance_dir(uuid),
                    {"uuid": uuid, "flavor": flavor, "power_state": states.SHUTDOWN})
        self.forget_incoming(uuid)   # the definition holds the claim from now on
        return self.power_on(uuid) if power_on else states.SHUTDOWN

    def confirm_migration(self, uuid: str) -> None:
        """Source side, on confirm: the `_resize` copy and the old guest go."""
        self.faults.check("confirm_migration")
        shutil.rmtree(self.resize_dir(uuid), ignore_errors=True)

    def discard_incoming(self, uuid: str) -> None:
        """Destination side, on revert or rollback: remove the guest and the copied disk,
        after stopping any transfer still writing it (partial file and resume record go too)."""
        self.faults.check("discard_incoming")
        if self.transfers is not None:
            self.transfers.cancel(uuid)
        shutil.rmtree(self.instance_dir(uuid), ignore_errors=True)
        self.forget_incoming(uuid)

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
