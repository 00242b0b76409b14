"""A disk arriving on the destination: the partial file, written sparse, and its resume record.

The data goes to `<disk>.part` beside where the disk will live; `<disk>.transfer` (a small JSON
record) says which migration it belongs to, how large the disk is, the digest key of its grant
(keys.py), up to which offset every chunk has been verified and synced, and a fingerprint of the
content digest's state there. A retry of the same migration (with the same key) picks up from
that offset: it reads the verified part back to rebuild the digest state, and starts over if
that does not match the fingerprint (the partial file changed at rest). The whole-disk digest
(keyed) is computed from the verified chunks as they are written; once it matches the source's,
the partial file becomes the disk and the record keeps the digest, so a retry after a lost reply
finds the work done instead of doing it again, and the destination's driver can read it
(`completed_digest`) to compare with what the source reported. The record goes when the
destination finishes the move (or discards it).
"""
import json
import os
import threading
from dataclasses import asdict, dataclass, replace
from typing import Callable

from herder.transfer import sparse

CHECKPOINT_BYTES = 64 * 1024 * 1024   # verified bytes between syncs of the resume record
FORMAT = 3                            # resume records of another format are not resumed
SUFFIXES = (".part", ".transfer", ".transfer.tmp")   # what a transfer leaves beside a disk


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
    state: str | None = None      # ContentDigest.fingerprint() at verified_through
    format: int = 0
    digest_key: str | None = None  # hex: the grant's key, which `digest` and `state` are under

    @classmethod
    def load(cls, path: str) -> "ResumeRecord | None":
        try:
            with open(path) as f:
                record = cls(**json.load(f))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):  # torn or foreign: worthless, start again
            return None
        return record if record.format == FORMAT else None   # an older herder's: start again

    def save(self, path: str) -> None:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(asdict(self), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def _matching(disk_path: str, migration_uuid: str, size: int,
              digest_key: str | None) -> ResumeRecord | None:
    """The resume record of `disk_path` if it is this migration's, under this digest key, and
    its files are there."""
    record = ResumeRecord.load(record_path(disk_path))
    if record and (record.migration_uuid, record.size, record.digest_key) == \
            (migration_uuid, size, digest_key) and (
            os.path.exists(disk_path) if record.digest
            else os.path.exists(partial_path(disk_path))):
        return record
    return None


def recorded_key(disk_path: str, migration_uuid: str) -> str | None:
    """The digest key (hex) the resume record of `disk_path` keeps for this migration, if any:
    a new grant for the same disk reuses it, so that what arrived under it still counts."""
    record = ResumeRecord.load(record_path(disk_path))
    if record is not None and record.migration_uuid == migration_uuid:
        return record.digest_key
    return None


def completed_digest(disk_path: str, migration_uuid: str | None = None) -> str | None:
    """The keyed content digest (hex) of the disk at `disk_path` as this host computed it from
    the bytes it received and wrote, if a transfer (of `migration_uuid`, when given) completed
    it; None otherwise. It equals the source's `SendResult.digest` for the same grant. Read it
    before `remove_leftovers`, which removes the record that keeps it."""
    record = ResumeRecord.load(record_path(disk_path))
    if record is None or record.digest is None or not os.path.exists(disk_path) or \
            (migration_uuid is not None and record.migration_uuid != migration_uuid):
        return None
    return record.digest


def bytes_to_come(disk_path: str, migration_uuid: str, size: int, allocated: int,
                  digest_key: str | None = None) -> int:
    """About how many bytes of disk space receiving this disk still takes: the source's data
    less what a partial file here already holds (nothing, if the disk is complete)."""
    record = _matching(disk_path, migration_uuid, size, digest_key)
    if record is not None and record.digest:
        return 0
    try:
        held = os.stat(partial_path(disk_path)).st_blocks * 512
    except FileNotFoundError:
        held = 0
    return max(0, allocated - held)


class PartialDisk:
    """Where one transfer writes. Open it with the migration and size the source announces and
    the grant's digest key (hex); it resumes a matching partial transfer and starts any other
    one from zero. `prepare` (which may read the verified part back) must run before chunks are
    verified and written."""

    def __init__(self, disk_path: str, migration_uuid: str, size: int, digest_key: str):
        self.path = disk_path
        self.digest_key = digest_key
        self._key = bytes.fromhex(digest_key)
        self.partial = partial_path(disk_path)
        self.record_file = record_path(disk_path)
        self._fd: int | None = None
        self._unsynced = 0
        self._digest: sparse.ContentDigest | None = None     # of what is written
        self._verified: sparse.ContentDigest | None = None   # of what is verified
        self._syncer: _Syncer | None = None
        record = _matching(disk_path, migration_uuid, size, digest_key)
        if record is not None:
            self.record = record
        else:
            self.record = self._new_record(migration_uuid, size)
            self._start_over()
        if not self.complete:
            self._fd = os.open(self.partial, os.O_RDWR)

    @property
    def complete(self) -> bool:
        return self.record.digest is not None

    @property
    def resume_from(self) -> int:
        return self.record.size if self.complete else self.record.verified_through

    def prepare(self, should_stop: Callable[[], bool] | None = None) -> int:
        """Get ready to take chunks; returns where the source resumes. What a session wrote
        past the last checkpoint goes, and the digest state of what was verified before it is
        rebuilt from the file: if it does not match the record, the file changed at rest and
        the transfer starts over. InterruptedError if `should_stop` says so meanwhile."""
        if self.complete or self._digest is not None:
            return self.resume_from
        verified, size = self.record.verified_through, self.record.size
        os.ftruncate(self._fd, verified)   # nothing unverified stays behind the resume point
        os.ftruncate(self._fd, size)
        state = sparse.ContentDigest(size, self._key)
        if verified:
            state = sparse.content_digest(self._fd, size, verified, should_stop, self._key)
            if state.fingerprint() != self.record.state:
                self.record = self._new_record(self.record.migration_uuid, size)
                self._start_over(self._fd)
                state = sparse.ContentDigest(size, self._key)
        self._digest = self._verified = state
        return self.resume_from

    def verify(self, offset: int, data, check: object) -> "sparse.ContentDigest | None":
        """Check the chunk at `offset` against `check`, on top of the chunks verified before
        it. If it verifies, it counts as verified (the next one is checked on top of it) and
        the digest state with it is returned, for `write`; None if it does not (damaged, or out
        of place)."""
        state, end = self._verified, offset + len(data)
        if state is None or self._fd is None or not isinstance(check, str) or not data or \
                offset < state.position or end > state.size or \
                offset // sparse.BLOCK != (end - 1) // sparse.BLOCK:
            return None
        trial = state.copy()
        trial.update(offset, data)
        if trial.chunk_check(offset) != check:
            return None
        self._verified = trial
        return trial

    def write(self, offset: int, data, state: "sparse.ContentDigest") -> None:
        """Write one chunk that `verify` returned `state` for, in the order they verified."""
        if self._fd is None or self._digest is None or offset < self._digest.position or \
                state.position != offset + len(data):
            raise ValueError(f"chunk at {offset} (+{len(data)}) is out of order or bounds")
        sparse.write_at(self._fd, data, offset)
        self._digest = state
        self.record.verified_through = state.position
        self._unsynced += len(data)
        if self._unsynced >= CHECKPOINT_BYTES:
            self._request_checkpoint()

    def checkpoint(self) -> None:
        """Make what was written durable, then say so in the record (in that order: the record
        never claims more than the disk holds); returns when it is done."""
        self._request_checkpoint()
        if self._syncer is not None:
            self._syncer.drain()

    def _request_checkpoint(self) -> None:
        """Have the syncer thread checkpoint where we are now, while the next chunks arrive."""
        if self._fd is None or not self._unsynced or self._digest is None:
            return
        if self._syncer is None:
            self._syncer = _Syncer(self._fd, self.record_file, self.record)
        self.record.state = self._digest.fingerprint()
        self._syncer.request(self.record.verified_through, self.record.state)
        self._unsynced = 0

    def finish(self, source_digest: str | None) -> bool:
        """Compare the digest of what was written with the source's. On a match the partial
        file becomes the disk; on a mismatch (or None) everything received is dropped so the
        next try starts clean."""
        if self.complete:
            if self.record.digest == source_digest:
                return True
            # the source's disk is not this one
            self.record = self._new_record(self.record.migration_uuid, self.record.size)
            self._start_over()
            return False
        arrived = self._digest.hexdigest() if self._digest is not None else None
        if arrived != source_digest:
            self.close()
            self.record = self._new_record(self.record.migration_uuid, self.record.size)
            self._start_over()
            return False
        os.fsync(self._fd)
        drop_cached(self._fd, 0, self.record.size)
        self._unsynced = 0   # all of it is durable: closing need not checkpoint again
        self.close()
        os.replace(self.partial, self.path)
        self.record.verified_through = self.record.size
        self.record.digest = arrived
        self.record.state = None
        self.record.save(self.record_file)
        return True

    @property
    def fingerprint(self) -> str | None:
        """The digest state's fingerprint where the source resumes (after `prepare`; None once
        the disk is complete): the source checks it against its own disk."""
        if self.complete or self._digest is None:
            return None
        return self._digest.fingerprint()

    @property
    def digest(self) -> str | None:
        """The complete disk's digest, once there is one."""
        return self.record.digest

    def close(self) -> None:
        if self._fd is None:
            return
        try:
            self.checkpoint()
        finally:
            try:
                self._stop_syncer(finish=True)
            finally:
                os.close(self._fd)
                self._fd = None

    def abandon(self) -> None:
        """Let go of the partial file without a last checkpoint (it is about to be removed)."""
        if self._fd is not None:
            self._stop_syncer(finish=False)
            os.close(self._fd)
            self._fd = None

    def _stop_syncer(self, finish: bool) -> None:
        syncer, self._syncer = self._syncer, None
        if syncer is not None:
            syncer.stop(finish)

    def _new_record(self, migration_uuid: str, size: int) -> ResumeRecord:
        return ResumeRecord(migration_uuid, size, format=FORMAT, digest_key=self.digest_key)

    def _start_over(self, fd: int | None = None) -> None:
        own = fd is None
        if own:
            fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, 0)
            os.ftruncate(fd, self.record.size)
        finally:
            if own:
                os.close(fd)
        self._unsynced = 0
        self.record.save(self.record_file)


def drop_cached(fd: int, start: int, end: int) -> None:
    """Let the kernel drop the page cache of the file between `start` and `end` (synced, so
    clean). A disk arriving here is not read again soon (QEMU opens disks with cache=none,
    bypassing the page cache), and the pages freed are the ones the next chunks are written
    into: warm memory, where 1 GiB of fresh page cache costs a first touch per page (on a VM
    whose free memory goes back to the hypervisor, the most expensive part of receiving)."""
    if end > start:
        os.posix_fadvise(fd, start, end - start, os.POSIX_FADV_DONTNEED)


class _Syncer:
    """A partial file's checkpoints, off the receiving thread: `fdatasync` (which waits for the
    disk) then the resume record, while the next chunks arrive; what is synced leaves the page
    cache (`drop_cached`). A failure comes back to the receiving thread at its next request (or
    `drain`)."""

    def __init__(self, fd: int, record_file: str, record: ResumeRecord):
        self._fd, self._record_file, self._record = fd, record_file, replace(record)
        self._pending: tuple[int, str | None] | None = None
        self._dropped_to = 0   # the page cache before this offset was dropped
        self._busy = self._stopping = False
        self._error: OSError | None = None
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"checkpoints of {record_file}")
        self._thread.start()

    def request(self, verified_through: int, state: str | None) -> None:
        with self._changed:
            self._raise()
            self._pending = (verified_through, state)
            self._changed.notify_all()

    def drain(self) -> None:
        """Wait until every requested checkpoint is done."""
        with self._changed:
            while self._pending is not None or self._busy:
                self._changed.wait()
            self._raise()

    def stop(self, finish: bool) -> None:
        """End the thread, after the requested checkpoint if `finish` (else only after one
        under way): nothing touches the files once this returns."""
        with self._changed:
            if not finish:
                self._pending = None
            self._stopping = True
            self._changed.notify_all()
        self._thread.join()
        if finish:
            with self._changed:
                self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._pending is None and not self._stopping:
                    self._changed.wait()
                if self._pending is None:
                    return
                (verified_through, state), self._pending = self._pending, None
                self._busy = True
            try:
                os.fdatasync(self._fd)
                drop_cached(self._fd, self._dropped_to, verified_through)
                self._dropped_to = max(self._dropped_to, verified_through)
                replace(self._record, verified_through=verified_through, state=state,
                        digest=None).save(self._record_file)
            except OSError as error:
                self._error = error
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()
