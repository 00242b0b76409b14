"""A disk arriving on the destination: the partial file, written sparse, and its resume record.

The data goes to `<disk>.part` beside where the disk will live; `<disk>.transfer` (a small JSON
record) says which migration it belongs to, how large the disk is and up to which offset every
chunk has been verified and synced. A retry of the same migration picks up from that offset.
Once the whole-disk digest matches, the partial file becomes the disk and the record keeps the
digest, so a retry after a lost reply finds the work done instead of doing it again. The record
goes when the destination finishes the move (or discards it).
"""
import json
import os
from dataclasses import asdict, dataclass

from herder.transfer import sparse

CHECKPOINT_BYTES = 16 * 1024 * 1024   # verified bytes between syncs of the resume record


def partial_path(disk_path: str) -> str:
    return disk_path + ".part"


def record_path(disk_path: str) -> str:
    return disk_path + ".transfer"


def remove_leftovers(disk_path: str) -> None:
    """The partial file and resume record of `disk_path`, gone (if there are any)."""
    for path in (partial_path(disk_path), record_path(disk_path),
                 record_path(disk_path) + ".tmp"):
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


@dataclass
class ResumeRecord:
    migration_uuid: str
    size: int
    verified_through: int = 0     # every chunk before this offset is written and verified
    digest: str | None = None     # set once the disk is complete

    @classmethod
    def load(cls, path: str) -> "ResumeRecord | None":
        try:
            with open(path) as f:
                return cls(**json.load(f))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):  # torn or foreign: worthless, start again
            return None

    def save(self, path: str) -> None:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(asdict(self), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


class IncomingDisk:
    """Where one transfer writes. Open it with the migration and size the source announces;
    it resumes a matching partial transfer and starts any other one from zero."""

    def __init__(self, disk_path: str, migration_uuid: str, size: int):
        self.path = disk_path
        self.partial = partial_path(disk_path)
        self.record_file = record_path(disk_path)
        self._fd: int | None = None
        self._unsynced = 0
        record = ResumeRecord.load(self.record_file)
        if record and (record.migration_uuid, record.size) == (migration_uuid, size) and (
                os.path.exists(self.path) if record.digest else os.path.exists(self.partial)):
            self.record = record
        else:
            self.record = ResumeRecord(migration_uuid, size)
            self._start_over()
        if not self.complete:
            self._fd = os.open(self.partial, os.O_WRONLY)

    @property
    def complete(self) -> bool:
        return self.record.digest is not None

    @property
    def resume_from(self) -> int:
        return self.record.size if self.complete else self.record.verified_through

    def write(self, offset: int, data: bytes) -> None:
        """Write one verified chunk; chunks come in increasing order, after `resume_from`."""
        if self._fd is None or offset < self.record.verified_through or \
                offset + len(data) > self.record.size:
            raise ValueError(f"chunk at {offset} (+{len(data)}) is out of order or bounds")
        os.pwrite(self._fd, data, offset)
        self.record.verified_through = offset + len(data)
        self._unsynced += len(data)
        if self._unsynced >= CHECKPOINT_BYTES:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Make what was written durable, then say so in the record (in that order: the record
        never claims more than the disk holds)."""
        if self._fd is None or not self._unsynced:
            return
        os.fdatasync(self._fd)
        self.record.save(self.record_file)
        self._unsynced = 0

    def finish(self, source_digest: str) -> bool:
        """Compare the whole disk with the source's digest. On a match the partial file becomes
        the disk; on a mismatch everything received is dropped so the next try starts clean."""
        if self.complete:
            return self.record.digest == source_digest
        os.fsync(self._fd)
        arrived = sparse.digest(self.partial)
        if arrived != source_digest:
            self.close()
            self.record = ResumeRecord(self.record.migration_uuid, self.record.size)
            self._start_over()
            return False
        self.close()
        os.replace(self.partial, self.path)
        self.record.verified_through = self.record.size
        self.record.digest = arrived
        self.record.save(self.record_file)
        return True

    def close(self) -> None:
        if self._fd is not None:
            try:
                self.checkpoint()
            finally:
                os.close(self._fd)
                self._fd = None

    def abandon(self) -> None:
        """Let go of the partial file without a last checkpoint (it is about to be removed)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _start_over(self) -> None:
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, self.record.size)
        finally:
            os.close(fd)
        self.record.save(self.record_file)
