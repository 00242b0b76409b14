"""Does the destination of a move see the source's instances directory? The probe Nova uses.

Hosts may keep their guests on one shared filesystem (`[compute] instances_dir` naming the
same NFS mount on each, or one directory for simulated hosts on one machine). A move between
two of them must not send the disks over the network: the destination already sees them.
Neither host can tell that from its own side alone, so, as Nova does, the destination leaves a
small file in its instances directory at prep_resize and the source looks for it in its own.
Found, with the destination's name and the migration in it, means the directory is shared;
anything else (no file, another host's) means it is not, and the disks go over the network.

A probe needs a move under way. To tell beforehand (a dry run of a move, the herder API's move
plans), each host also reads the id of its instances directory (`directory_id`) and reports it
with its heartbeat: hosts that report one id see one directory. The first host to look writes
the id, so a directory shared by several hosts has one id whoever started first.

A probe lives as long as the destination's move claim: the destination removes it when the
guest is defined there (finish_resize) or the move is undone, and a host that restarts removes
those of its probes no move claim of its own still needs.
"""
import logging
import os
import uuid as uuidlib

from herder import json_records

LOG = logging.getLogger(__name__)
PROBE_DIR = "_shared_probes"
DIRECTORY_ID = "_directory_id"   # in the instances directory: a random uuid, written once


def directory_id(instances_dir: str) -> str:
    """The id of `instances_dir`, written there first if it has none. The file is written
    whole under another name and then linked into place, which fails if it exists: of two
    hosts that race on one directory, one id wins and both read it."""
    path = os.path.join(instances_dir, DIRECTORY_ID)
    if not os.path.exists(path):
        os.makedirs(instances_dir, exist_ok=True)
        candidate = f"{path}.{uuidlib.uuid4()}"
        with open(candidate, "w") as f:
            f.write(str(uuidlib.uuid4()))
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
        finally:
            os.remove(candidate)
    with open(path) as f:
        return f.read().strip()


class SharedStorageProbes:
    def __init__(self, instances_dir: str, host: str):
        self.directory = os.path.join(instances_dir, PROBE_DIR)
        self.host = host

    def _path(self, migration_uuid: str) -> str:
        # the name comes over the bus: only a uuid may become a file name here
        return os.path.join(self.directory, str(uuidlib.UUID(migration_uuid)) + ".json")

    def leave(self, migration_uuid: str) -> dict:
        """Destination: write the probe for this move; what the source looks for."""
        os.makedirs(self.directory, exist_ok=True)
        probe = {"migration_uuid": migration_uuid, "host": self.host}
        json_records.write(self._path(migration_uuid), probe)
        return probe

    def shared_with(self, probe: dict | None) -> bool:
        """Source: is the destination's probe in this host's own instances directory?"""
        if not probe:
            return False   # a destination that left none: an older compute, copy as before
        try:
            found = json_records.read(self._path(probe["migration_uuid"]))
        except ValueError:   # not a uuid: nobody's probe
            return False
        return found == probe

    def remove(self, migration_uuid: str) -> None:
        try:
            os.remove(self._path(migration_uuid))
        except FileNotFoundError:
            pass

    def sweep(self, migrations_still_claimed: set[str]) -> None:
        """At start: this host's probes of moves it no longer holds a claim for (a crash
        between the end of a move and the probe's removal) go."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return
        for name in names:
            probe = json_records.read(os.path.join(self.directory, name)) \
                if name.endswith(".json") else None
            if probe and probe.get("host") == self.host and \
                    probe.get("migration_uuid") not in migrations_still_claimed:
                LOG.info("%s: removing the shared-storage probe of finished move %s",
                         self.host, probe["migration_uuid"])
                self.remove(probe["migration_uuid"])
