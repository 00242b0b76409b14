"""The moves a destination host has claimed resources for, kept on the host's disk.

From prep_resize until the guest is defined here (finish_resize) or the move is undone, nothing
else on this host says that a move is on its way: the disk may not have arrived yet. A compute
host that restarts in between must still count the claim, so each one is a small JSON file
under `<instances_dir>/_move_claims/<host>/` (the instances directory may be shared by several
hosts: each keeps its own claims).
"""
import os

from herder import json_records


class MoveClaimRecords:
    def __init__(self, directory: str):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)

    def _path(self, instance_uuid: str) -> str:
        return os.path.join(self.directory, instance_uuid + ".json")

    def record(self, instance_uuid: str, migration_uuid: str, flavor: dict) -> None:
        json_records.write(self._path(instance_uuid),
                           {"migration_uuid": migration_uuid, "flavor": flavor})

    def forget(self, instance_uuid: str) -> None:
        try:
            os.remove(self._path(instance_uuid))
        except FileNotFoundError:
            pass

    def all(self) -> dict[str, dict]:
        """instance uuid -> {migration_uuid, flavor} of every move claimed here."""
        found = {}
        for name in os.listdir(self.directory):
            if name.endswith(".json"):
                record = json_records.read(os.path.join(self.directory, name))
                if record is not None:   # forgotten since the listing
                    found[name.removesuffix(".json")] = record
        return found
