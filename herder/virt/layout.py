"""Where a compute host keeps a guest's files, whichever driver runs it.

`<instances_dir>/<uuid>/` holds the guest (its `disk`, its `console.log`, the driver's record);
`<instances_dir>/<uuid>_resize/` is a move's source copy until confirm or revert. Names that
start with `_` are the hosts' own (`_base`: the image cache; `_move_claims`: the agents';
`_shared_probes`: herder/compute/shared_storage.py; `_replies`: herder/bus/replies.py).

Several hosts may share one instances directory (`[compute] instances_dir`). The record each
driver keeps in a guest's directory therefore names the host that wrote it, and a host lists,
and removes, only what its own records name: on a shared directory the other hosts' guests
are in it too. A record without a host (written before records named one) is this host's.
"""
import os
import shutil

from herder import json_records
from herder.transfer import sparse
from herder.virt.driver import DiskUsage

RESIZE_SUFFIX = "_resize"


class InstanceLayout:
    RECORD = "instance.json"    # the driver's record of a guest, in the guest's directory

    def __init__(self, instances_dir: str, host: str):
        self.instances_dir = instances_dir
        self.host = host

    def instance_dir(self, uuid: str) -> str:
        return os.path.join(self.instances_dir, uuid)

    def resize_dir(self, uuid: str) -> str:
        return self.instance_dir(uuid) + RESIZE_SUFFIX

    def disk_path(self, uuid: str) -> str:
        return os.path.join(self.instance_dir(uuid), "disk")

    def console_path(self, uuid: str) -> str:
        return os.path.join(self.instance_dir(uuid), "console.log")

    def disk_names(self, uuid: str) -> list[str]:
        """The guest's disk files in its directory: the fake driver's guests have one; the
        libvirt driver names its guests' after their flavor."""
        return ["disk"]

    def disk_usage(self, instance: dict) -> DiskUsage:
        """The guest's disk files here and the data in them, as a move would send them."""
        directory = self.instance_dir(instance["uuid"])
        paths = [path for path in (os.path.join(directory, name)
                                   for name in self.disk_names(instance["uuid"]))
                 if os.path.isfile(path)]
        return DiskUsage(files=len(paths),
                         allocated_bytes=sum(sparse.allocated_bytes(path) for path in paths))

    # -- the driver's records -----------------------------------------------------------------
    def record(self, directory: str) -> dict | None:
        """The record in `directory`, if this host wrote it."""
        found = json_records.read(os.path.join(directory, self.RECORD))
        return found if found is not None and self._written_here(found) else None

    def write_record(self, directory: str, record: dict) -> None:
        json_records.write(os.path.join(directory, self.RECORD), {**record, "host": self.host})

    def records(self, kept_copies: bool) -> dict[str, dict]:
        """uuid -> record of each guest of this host (`kept_copies`: of each move's source
        copy kept here instead)."""
        found = {}
        for name in os.listdir(self.instances_dir):
            path = os.path.join(self.instances_dir, name)
            if name.startswith("_") or name.endswith(RESIZE_SUFFIX) != kept_copies \
                    or not os.path.isdir(path):
                continue   # the hosts' own, the other kind, or not a guest's directory
            record = self.record(path)
            if record is not None:
                found[name.removesuffix(RESIZE_SUFFIX)] = record
        return found

    def list_instances(self) -> dict[str, dict]:
        """uuid -> flavor of every guest of this host (every driver's record holds the
        flavor it defined the guest with)."""
        return {uuid: record["flavor"] for uuid, record in self.records(kept_copies=False).items()}

    def list_kept_copies(self) -> dict[str, dict]:
        """uuid -> flavor of every move's source copy kept here (`<uuid>_resize`)."""
        return {uuid: record["flavor"] for uuid, record in self.records(kept_copies=True).items()}

    def belongs_here(self, directory: str) -> bool:
        """False for a guest directory another host's record names: on a shared instances
        directory, that host's live guest (a move's destination must never remove the
        source's files). A directory without a record (files on their way in) is this
        host's."""
        found = json_records.read(os.path.join(directory, self.RECORD))
        return found is None or self._written_here(found)

    def remove_if_here(self, directory: str) -> None:
        if self.belongs_here(directory):
            shutil.rmtree(directory, ignore_errors=True)

    def clear_for_restore(self, uuid: str) -> None:
        """Before a kept copy becomes the guest again, what is in the guest's directory goes:
        a same-host move's new guest, or, on a shared instances directory, the copy made for
        the destination. That may be the destination's guest itself: a revert stops it there
        first, and removes the rest of it (its definition) once the source copy is back."""
        shutil.rmtree(self.instance_dir(uuid), ignore_errors=True)

    def _written_here(self, record: dict) -> bool:
        return record.get("host", self.host) == self.host
