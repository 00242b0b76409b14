"""Real guests: QEMU domains through libvirt-python.

Files, as Nova lays them out, under the host's instances directory (which other hosts may share:
herder/virt/layout.py):
- `_base/<sha1 of image id>`: the image as uploaded, fetched once and checked (ImageCache);
- `<uuid>/disk`: the root disk, a qcow2 overlay on the cached image, flavor-sized;
- `<uuid>/disk.eph0`, `<uuid>/disk.swap`: the flavor's ephemeral (ext4) and swap disks,
  qcow2 files of their own (extra_disks.py);
- `<uuid>/instance.json`: the flavor and image the guest was defined with (its domain
  can be defined again from it: after a revert, or on a host whose libvirt lost it);
- `<uuid>/console.log`: the serial console, written by virtlogd;
- `<uuid>_resize/`: the source copy a move keeps until confirm or revert.

A move sends every disk file of the guest (never the cached image: the destination fetches or
finds its own copy, checks it, and points the overlay at it), so the bytes on the wire are the
overlay's data, not the disk's virtual size.

Beside this module: domain.py (the domain XML), power.py (power operations, a mixin of the
driver), extra_disks.py (ephemeral and swap disks), qemu_img.py (the qemu-img calls).
"""
import logging
import os
import shutil
import stat
import threading

import libvirt

from herder import exception, states
from herder.fault_injection import FaultInjector
from herder.transfer import partial_disk, sparse
from herder.transfer.host import TransferAgent
from herder.virt import local_copy
from herder.virt.driver import (HostInventory, MoveReport, Placements, Progress,
                                progress_over_files, timed_copy)
from herder.virt.images import ImageCache
from herder.virt.layout import InstanceLayout
from herder.virt.libvirt import extra_disks, qemu_img
from herder.virt.libvirt.domain import GuestDisk, domain_name, domain_xml
from herder.virt.libvirt.power import GuestPower

LOG = logging.getLogger(__name__)
GIB = 1024 ** 3
MIB = 1024 ** 2
MAX_CONSOLE_BYTES = 100 * 1024   # the end of the console log is what the API returns (as Nova)

# libvirt-python prints every error to stderr before raising it; herder handles and logs them
libvirt.registerErrorHandler(lambda _context, _error: None, None)



def disk_files(flavor: dict) -> list[str]:
    """The disk files a guest of this flavor has, in the order the guest sees them."""
    return ["disk", *extra_disks.names(flavor)]


class LibvirtDriver(GuestPower, InstanceLayout):
    supports_same_host_migration = False

    def __init__(self, host: str, instances_dir: str, connection_uri: str, virt_type: str,
                 shutdown_timeout: float, shutdown_retry_interval: float,
                 fault_points: FaultInjector | None = None, transfers: TransferAgent | None = None,
                 images: ImageCache | None = None):
        super().__init__(instances_dir, host)
        self.connection_uri = connection_uri
        self.virt_type = virt_type
        self.shutdown_timeout = shutdown_timeout
        self.shutdown_retry_interval = shutdown_retry_interval
        self.fault_points = fault_points or FaultInjector(host)
        self.transfers = transfers
        self.images = images or ImageCache(host, os.path.join(instances_dir, "_base"))
        self._connection: libvirt.virConnect | None = None
        self._connecting = threading.Lock()
        os.makedirs(instances_dir, exist_ok=True)
        _check_reachable_by_qemu(host, instances_dir)

    @classmethod
    def from_conf(cls, conf, host: str, instances_dir: str, fault_points: FaultInjector,
                  transfers: TransferAgent, images: ImageCache) -> "LibvirtDriver":
        return cls(host, instances_dir, conf.libvirt.connection_uri, conf.libvirt.virt_type,
                   conf.shutdown_timeout, conf.compute.shutdown_retry_interval, fault_points,
                   transfers, images)

    # -- the connection ---------------------------------------------------------------------
    def _conn(self) -> libvirt.virConnect:
        """One connection per host, opened again if libvirtd restarted under it."""
        with self._connecting:
            if self._connection is None or not self._connection.isAlive():
                try:
                    self._connection = libvirt.open(self.connection_uri)
                except libvirt.libvirtError as error:
                    raise exception.DriverError(step="connect", host=self.host,
                                                reason=f"{self.connection_uri}: {error}") \
                        from error
            return self._connection

    def _domain(self, uuid: str) -> libvirt.virDomain | None:
        try:
            return self._conn().lookupByName(domain_name(self.host, uuid))
        except libvirt.libvirtError as error:
            if error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise

    # -- the host ---------------------------------------------------------------------------
    def inventory(self) -> HostInventory:
        conn = self._conn()
        _model, memory_mb, cpus, *_ = conn.getInfo()
        disk = os.statvfs(self.instances_dir)
        return HostInventory(vcpus=cpus, memory_mb=memory_mb,
                             local_gb=disk.f_blocks * disk.f_frsize // GIB,
                             hypervisor_type="QEMU", hypervisor_version=conn.getVersion())

    def init_host(self, placements: Placements) -> None:
        prefix = domain_name(self.host, "")
        domains = {dom.name().removeprefix(prefix): dom
                   for dom in self._conn().listAllDomains() if dom.name().startswith(prefix)}
        if not domains:
            return
        for uuid, where in placements(sorted(domains)).items():
            dom = domains[uuid]
            if where is None:
                LOG.warning("%s: domain %s belongs to no server herder knows; left alone",
                            self.host, dom.name())
            elif where["task_state"] is not None:
                continue   # a move or another task works on it: its workflow decides
            elif where["host"] != self.host:
                LOG.warning("%s: server %s lives on %s; removing the domain and files a move "
                            "left here", self.host, uuid, where["host"])
                self._undefine(uuid)
                self.remove_if_here(self.instance_dir(uuid))   # not a shared directory's
            elif where["vm_state"] == states.STOPPED and dom.isActive():
                LOG.warning("%s: server %s is stopped but its guest runs; powering it off",
                            self.host, uuid)
                self.power_off({"uuid": uuid})

    # -- one guest: creating and defining ----------------------------------------------------------
    def spawn(self, instance: dict, power_on: bool = True) -> int:
        self.fault_points.check("spawn")
        uuid, flavor = instance["uuid"], instance["flavor"]
        os.makedirs(self.instance_dir(uuid), exist_ok=True)
        image = instance.get("image")
        root = self.disk_path(uuid)
        if not os.path.exists(root):
            size = flavor["root_gb"] * GIB
            if image:
                base = self.images.fetch(image)
                base_size = qemu_img.info(self.host, base)["virtual-size"]
                if size and base_size > size:
                    raise exception.DriverError(
                        step="spawn", host=self.host,
                        reason=f"the image is {base_size // MIB} MiB, the flavor's root disk "
                               f"{flavor['root_gb']} GB")
                qemu_img.create_overlay(self.host, root, base, _format(image),
                                        size or None)
            else:
                qemu_img.create_blank(self.host, root, size or GIB)
        extra_disks.create(self.host, self.instance_dir(uuid), flavor)
        self.write_record(self.instance_dir(uuid),
                          {"flavor": flavor, "image": _image_ref(image)})
        self._define(instance, self.instance_dir(uuid))
        return self.power_on(instance) if power_on else states.SHUTDOWN

    def disk_names(self, uuid: str) -> list[str]:
        """Its flavor's disks, as its record names the flavor (none: no guest of it here)."""
        record = self.record(self.instance_dir(uuid))
        return disk_files(record["flavor"]) if record is not None else []

    def _define(self, instance: dict, directory: str) -> libvirt.virDomain:
        """(Re)define the guest from the record in `directory` (its flavor and disks)."""
        uuid = instance["uuid"]
        record = self.record(directory)
        if record is None:
            raise exception.DriverError(step="define", host=self.host,
                                        reason=f"no record of guest {uuid} in {directory}")
        disks = [GuestDisk(os.path.join(directory, name), "qcow2")
                 for name in disk_files(record["flavor"])]
        xml = domain_xml(self.host, instance, record["flavor"], disks,
                         os.path.join(directory, "console.log"), self.virt_type)
        return self._conn().defineXML(xml)

    def _undefine(self, uuid: str) -> None:
        """Stop and forget the guest's domain (its files stay). Idempotent."""
        dom = self._domain(uuid)
        if dom is None:
            return
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)

    def destroy(self, instance: dict) -> None:
        """The domain and every file of the guest, a kept move copy included. Idempotent."""
        self.fault_points.check("destroy")
        self._undefine(instance["uuid"])
        self.remove_if_here(self.instance_dir(instance["uuid"]))
        self.remove_if_here(self.resize_dir(instance["uuid"]))

    def console_output(self, instance: dict) -> str:
        try:
            with open(self.console_path(instance["uuid"]), errors="replace") as f:
                return f.read()[-MAX_CONSOLE_BYTES:]
        except FileNotFoundError:
            return ""

    # -- moves: source --------------------------------------------------------------------------
    def _transfer_agent(self) -> TransferAgent:
        if self.transfers is None:
            raise exception.DriverError(step="transfer", host=self.host,
                                        reason="this host has no transfer agent")
        return self.transfers

    def migrate_disk_and_power_off(self, instance: dict, target: dict,
                                   progress: Progress | None = None,
                                   shared_storage: bool = False) -> MoveReport:
        """Idempotent: a retry finds the kept copy and only sends (or copies) again, resuming
        each file where the destination stopped verifying it."""
        uuid = instance["uuid"]
        self.power_off(instance)
        self.fault_points.check("migrate_disk")
        source, kept = self.instance_dir(uuid), self.resize_dir(uuid)
        if os.path.isdir(source) and not os.path.isdir(kept):
            self._undefine(uuid)        # the domain names the files by their old place
            os.rename(source, kept)
        record = self.record(kept)
        if record is None:
            raise exception.DriverError(step="migrate_disk", host=self.host,
                                        reason=f"no copy of guest {uuid} to send")
        self.fault_points.check("copy_disk")
        names = disk_files(record["flavor"])
        paths = [os.path.join(kept, name) for name in names]
        virtual = sum(qemu_img.info(self.host, path)["virtual-size"] for path in paths)
        if shared_storage:
            return timed_copy(lambda: local_copy.copy_disks(kept, source, names, virtual,
                                                            progress))
        grants = target.get("files", {})
        missing = [name for name in names if name not in grants]
        if missing:
            raise exception.DriverError(step="migrate_disk", host=self.host,
                                        reason=f"the destination expects no {missing}")

        def send() -> MoveReport:
            sent = _send_all(self._transfer_agent(), paths, [grants[n] for n in names], progress)
            LOG.info("%d disk file(s) of %s sent from %s: %d bytes of data, %d sent this time "
                     "(virtual size %d)", len(paths), uuid, self.host, sent.allocated_bytes,
                     sent.bytes_sent, virtual)
            return MoveReport(files=len(paths), virtual_bytes=virtual,
                              allocated_bytes=sent.allocated_bytes, bytes_sent=sent.bytes_sent,
                              resumed_from=sent.resumed_from,
                              digests=dict(zip(names, sent.digests)))
        return timed_copy(send)

    def confirm_migration(self, instance: dict) -> None:
        self.fault_points.check("confirm_migration")
        shutil.rmtree(self.resize_dir(instance["uuid"]), ignore_errors=True)

    def finish_revert_migration(self, instance: dict, power_on: bool) -> int:
        """The kept copy is the guest again. Idempotent: a copy already restored, or never
        kept (the move stopped before it), only gets its power state applied."""
        self.fault_points.check("finish_revert_migration")
        uuid = instance["uuid"]
        kept, directory = self.resize_dir(uuid), self.instance_dir(uuid)
        if os.path.isdir(kept):
            self._undefine(uuid)   # a same-host move's new guest
            self.clear_for_restore(uuid)
            os.rename(kept, directory)
        if self.record(directory) is None:
            raise exception.DriverError(step="finish_revert_migration", host=self.host,
                                        reason=f"no source copy of {uuid} to restore")
        if self._domain(uuid) is None:
            self._define(instance, directory)
        if power_on:
            return self.power_on(instance)
        return self.power_state(uuid)

    # -- moves: destination -----------------------------------------------------------------------
    def prepare_incoming(self, instance: dict, migration_uuid: str) -> dict:
        """A grant per disk file of the guest's current flavor (the files the source has)."""
        agent = self._transfer_agent()
        return {"files": {name: agent.expect(migration_uuid, instance["uuid"], name,
                                             instance["flavor"])
                          for name in disk_files(instance["flavor"])}}

    def arrived_digests(self, instance: dict, migration_uuid: str) -> dict[str, str | None]:
        directory = self.instance_dir(instance["uuid"])
        return {name: partial_disk.completed_digest(os.path.join(directory, name), migration_uuid)
                for name in disk_files(instance["flavor"])}

    def finish_migration(self, instance: dict, new_flavor: dict, power_on: bool) -> int:
        """The files are here: point the root disk at this host's copy of the image, grow it
        to the new flavor, define the guest with the new flavor, start it if asked."""
        self.fault_points.check("finish_migration")
        uuid = instance["uuid"]
        root = self.disk_path(uuid)
        if not os.path.exists(root):
            raise exception.DriverError(step="finish_migration", host=self.host,
                                        reason=f"the disk of {uuid} did not arrive")
        if self.transfers is not None:   # no transfer for it may still write here
            self.transfers.cancel(uuid)
        old_flavor = instance.get("old_flavor") or instance["flavor"]
        for name in disk_files(old_flavor):
            partial_disk.remove_leftovers(os.path.join(self.instance_dir(uuid), name))
        image = instance.get("image")
        if image and qemu_img.info(self.host, root).get("backing-filename"):
            qemu_img.rebase_unsafe(self.host, root, self.images.fetch(image), _format(image))
        wanted = new_flavor["root_gb"] * GIB
        if wanted > qemu_img.info(self.host, root)["virtual-size"]:
            qemu_img.grow(self.host, root, wanted)
        extra_disks.apply_flavor(self.host, self.instance_dir(uuid), new_flavor)
        self.write_record(self.instance_dir(uuid),
                          {"flavor": new_flavor, "image": _image_ref(image)})
        dom = self._define(instance, self.instance_dir(uuid))
        if power_on:
            return self.power_on(instance)
        return states.RUNNING if dom.isActive() else states.SHUTDOWN

    def discard_incoming(self, instance: dict) -> None:
        self.fault_points.check("discard_incoming")
        uuid = instance["uuid"]
        if self.transfers is not None:
            self.transfers.cancel(uuid)
        self._undefine(uuid)   # on a same-host move, the new guest: the kept copy stays
        # a shared instances directory: before the source kept its copy, this is its guest
        self.remove_if_here(self.instance_dir(uuid))


def _check_reachable_by_qemu(host: str, instances_dir: str) -> None:
    """QEMU runs as its own user (libvirt-qemu on Debian) and must reach the disks: every
    directory above them must let others through. A state directory under a private home
    (/root, mode 0700) fails at the first guest start with a message that does not name the
    cause; say it up front."""
    path = os.path.abspath(instances_dir)
    while True:
        if not os.stat(path).st_mode & stat.S_IXOTH:
            raise exception.DriverError(
                step="init_host", host=host,
                reason=f"QEMU cannot reach {instances_dir}: {path} does not let other users "
                       "through (chmod o+x it, or put state_dir / instances_path elsewhere, "
                       "such as /var/lib/herder)")
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


def _format(image: dict) -> str:
    return "raw" if image.get("disk_format") == "raw" else "qcow2"


def _image_ref(image: dict | None) -> dict | None:
    return {"id": image["id"], "disk_format": image.get("disk_format")} if image else None


class _Totals:
    def __init__(self):
        self.allocated_bytes = self.bytes_sent = self.resumed_from = 0
        self.digests: list[str] = []   # each file's, in order


def _send_all(agent: TransferAgent, paths: list[str], targets: list[dict],
              progress: Progress | None) -> _Totals:
    """Send each file in turn; progress counts over all of them."""
    totals = _Totals()
    sizes = [sparse.allocated_bytes(path) for path in paths]
    for path, target, report in zip(paths, targets, progress_over_files(progress, sizes)):
        sent = agent.send(path, target, report)
        totals.allocated_bytes += sent.allocated_bytes
        totals.bytes_sent += sent.bytes_sent
        totals.resumed_from += sent.resumed_from
        totals.digests.append(sent.digest)
    return totals
