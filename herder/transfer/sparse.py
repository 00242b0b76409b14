"""Sparse disk files: their allocation map, a sparse copy, and the digest of their content.

A 20 GB flavor's disk is a 20 GB sparse file holding a few MB of data; copying it byte for byte
would write 20 GB of zeros. SEEK_DATA/SEEK_HOLE give us the allocation map.

The digest, though, must not depend on that map: the same disk on another filesystem may have
its holes elsewhere (one that stores zeros as data, one that reports holes per 64 KiB instead of
per 4 KiB), and it is still the same disk. So the digest is a function of the file's logical
content alone, its size and its bytes with holes read as zeros:

    the file is cut into aligned blocks of BLOCK bytes (the last one may be shorter);
    leaf(i)  = H(the bytes of block i)
    digest   = H(TAG | size | for every block i that is not all zeros: i | leaf(i))

(integers as 8 bytes little endian). H is BLAKE3; keyed (BLAKE3's keyed mode, a 32-byte key)
when the digest is a transfer's, unkeyed for a local copy (`digest(path)`, `copy_sparse`). A
transfer's key is its grant's (see keys.py): somebody who can change the bytes on their way
cannot make a matching chunk check or digest for what they changed without it. A block in a
hole is never read, and a block of zeros stored as data is read and tested but never hashed, so
a 50 GiB disk holding 2 GiB of data costs 2 GiB of reading and hashing whatever its allocation
looks like. `ContentDigest` computes it from the data fed to it in increasing order (the gaps
between are zeros); the sender, the receiver, `digest` and `copy_sparse` all use it. BLAKE3
because it is the fastest cryptographic hash here, keyed mode included: measured on one core of
the 2-core machine of bench/README.md (1 MiB updates), 6.2 GB/s keyed against SHA-256's 1.8 GB/s
(with the CPU's SHA extensions). It runs single-threaded: both sides of a transfer already have
their own work for the other cores.
"""
import errno
import os
from typing import Callable, Iterable, Iterator

import blake3

BLOCK = 1024 * 1024          # the digest's unit; no transfer chunk crosses a block boundary
CHUNK = BLOCK                # what `pieces` cuts by default
_TAG = b"herder content digest v3\0"
_CHUNK_TAG = b"herder chunk v3\0"
_FINGERPRINT_TAG = b"herder digest state v3\0"
KEY_BYTES = 32               # BLAKE3's key size
_ZEROS = bytes(BLOCK)


def extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """(offset, length) of every data extent of the open file. Where the filesystem cannot say
    (no SEEK_DATA), the rest of the file is one extent: never report data as a hole."""
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError as error:
            if error.errno == errno.ENXIO:   # no data past offset
                return
            yield offset, size - offset
            return
        if start >= size:
            return
        try:
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        except OSError:
            end = size
        if end <= start:   # the file changed under us; what is left is data
            end = size
        yield start, end - start
        offset = end


def pieces(spans: Iterable[tuple[int, int]], chunk: int = CHUNK) -> Iterator[tuple[int, int]]:
    """Each extent cut into pieces of at most `chunk` bytes that never cross a BLOCK
    boundary, in order."""
    for start, length in spans:
        position, end = start, start + length
        while position < end:
            step = min(chunk, end - position, BLOCK - position % BLOCK)
            yield position, step
            position += step


def allocated_bytes(path: str) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return sum(length for _, length in extents(fd, os.fstat(fd).st_size))
    finally:
        os.close(fd)


def position_bytes(position: int) -> bytes:
    return position.to_bytes(8, "little")


def is_zero(data) -> bool:
    """Whether `data` (bytes or any buffer) holds only zero bytes, at memcmp speed."""
    view = memoryview(data)
    length = view.nbytes
    if not length:
        return True
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    if view[0] or view[length - 1]:   # data seldom starts and ends with zeros
        return False
    # comparing memoryviews goes byte by byte in Python's C code; bytes compare with memcmp
    if length > 4096 and view[:4096].tobytes() != _ZEROS[:4096]:
        return False
    return view.tobytes() == (_ZEROS if length == BLOCK else bytes(length))


def _hasher(key: bytes | None):
    """A BLAKE3 hash, keyed with `key` (32 bytes) or unkeyed (None)."""
    return blake3.blake3(key=key) if key is not None else blake3.blake3()


class ContentDigest:
    """The digest of a file's logical content (see the module docstring), fed its data in
    increasing order with `update(offset, data)`; what lies between the pieces is zeros. Every
    hash in it (leaves, digest, chunk checks, fingerprint) is keyed with `key` when there is one.
    The state copies cheaply, so a receiver can try a chunk and keep the result only if it
    verifies.

    `chunk_check(offset)` is what a transfer chunk ending at the current position is checked
    with: a hash of its offset, its end, and the content of its block from the block's start
    to the chunk's end. Chunks never cross a block boundary, so checking them costs no hashing
    beyond the digest's own, and a chunk verifies only on top of the same block content."""

    __slots__ = ("size", "position", "_key", "_outer", "_leaf", "_block", "_hashed_to")

    def __init__(self, size: int, key: bytes | None = None):
        if key is not None and len(key) != KEY_BYTES:
            raise ValueError(f"a digest key is {KEY_BYTES} bytes")
        self.size = size
        self.position = 0          # the content before this is known (data fed, or zeros)
        self._key = key
        self._outer = _hasher(key)
        self._outer.update(_TAG + position_bytes(size))
        self._block = -1           # index of the block not yet folded into `_outer`
        self._leaf = None          # its hash so far, once it has a non-zero byte
        self._hashed_to = 0        # the leaf covers the block's bytes up to here

    def copy(self) -> "ContentDigest":
        other = ContentDigest.__new__(ContentDigest)
        other.size, other.position, other._block = self.size, self.position, self._block
        other._key = self._key
        other._hashed_to = self._hashed_to
        other._outer = self._outer.copy()
        other._leaf = self._leaf.copy() if self._leaf is not None else None
        return other

    def update(self, offset: int, data) -> None:
        view = memoryview(data)
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        end = offset + view.nbytes
        if offset < self.position or end > self.size:
            raise ValueError(f"data at {offset} (+{view.nbytes}) is out of order or beyond "
                             f"the end ({self.position}, {self.size})")
        position = offset
        while position < end:
            block = position // BLOCK
            if block != self._block:
                self._enter(block)
            step = min(end, (block + 1) * BLOCK) - position
            piece = view[position - offset:position - offset + step]
            if self._leaf is None and not is_zero(piece):
                self._leaf = _hasher(self._key)
            if self._leaf is not None:
                self._zeros_to(position)
                self._leaf.update(piece)
                self._hashed_to = position + step
            position += step
        self.position = max(self.position, end)

    def skip_to(self, offset: int) -> None:
        """What lies between the current position and `offset` is zeros."""
        if offset < self.position or offset > self.size:
            raise ValueError(f"cannot skip to {offset} from {self.position}")
        self.position = offset

    def chunk_check(self, offset: int) -> str:
        """The check of the chunk from `offset` to the current position (call it right after
        feeding the chunk; it lies in one block)."""
        end = self.position
        if not (end > offset >= (end - 1) // BLOCK * BLOCK and self._block == (end - 1) // BLOCK):
            raise ValueError(f"no chunk from {offset} to {end} in one block was just fed")
        if self._leaf is not None:
            self._zeros_to(end)
            content = b"data" + self._leaf.copy().digest()
        else:   # the block holds only zeros up to the chunk's end
            content = b"zero"
        check = _hasher(self._key)
        check.update(_CHUNK_TAG + position_bytes(offset) + position_bytes(end) + content)
        return check.hexdigest()

    def fingerprint(self) -> str:
        """A hash of the state at the current position that depends only on the content up to
        it (not on how it was fed): a resume record keeps it to recognise its partial file."""
        probe = self.copy()
        probe._enter(probe.position // BLOCK)   # folds every block that ends by the position
        if probe._leaf is not None:
            probe._zeros_to(probe.position)
        prefix = b"data" + probe._leaf.digest() if probe._leaf is not None else b"zero"
        fingerprint = _hasher(self._key)
        fingerprint.update(_FINGERPRINT_TAG + probe._outer.digest() +
                           position_bytes(probe.position) + prefix)
        return fingerprint.hexdigest()

    def hexdigest(self) -> str:
        """The digest of the whole file, what was not fed being zeros. The state is kept."""
        probe = self.copy()
        probe._enter(-1)
        return probe._outer.hexdigest()

    def _enter(self, block: int) -> None:
        """Make `block` the current one; the current one, if another, is complete: its leaf is
        folded into the digest (unless the block is all zeros)."""
        if block == self._block:
            return
        if self._leaf is not None:
            self._zeros_to(min((self._block + 1) * BLOCK, self.size))
            self._outer.update(position_bytes(self._block) + self._leaf.digest())
        self._block, self._leaf, self._hashed_to = block, None, max(block, 0) * BLOCK

    def _zeros_to(self, position: int) -> None:
        """Feed the leaf the zeros between what it covers and `position` (same block)."""
        while self._hashed_to < position:
            step = min(position - self._hashed_to, BLOCK)
            self._leaf.update(_ZEROS if step == BLOCK else memoryview(_ZEROS)[:step])
            self._hashed_to += step


def read_into(fd: int, buffer: memoryview, offset: int) -> memoryview:
    """Exactly len(buffer) bytes of the file from `offset`, read into `buffer` (no
    allocation); holes read as zeros. A short read means the file shrank under us."""
    done = 0
    while done < len(buffer):
        count = os.preadv(fd, [buffer[done:]], offset + done)
        if count == 0:
            raise OSError(errno.EIO, f"the file ended at {offset + done} while being read")
        done += count
    return buffer


WRITE_PIECE = 256 * 1024


def write_at(fd: int, data, offset: int) -> None:
    """All of `data` written at `offset`, in writes of at most WRITE_PIECE bytes. Larger
    writes make the kernel allocate larger page cache folios, which on some hosts (VMs whose
    free memory is handed back to the hypervisor) come from cold memory: measured here, 1 GiB
    written 1 MiB at a time took 3x as long as 256 KiB at a time."""
    view = memoryview(data).cast("B")
    written, length = 0, view.nbytes
    while written < length:
        count = os.pwrite(fd, view[written:written + WRITE_PIECE], offset + written)
        if count == 0:
            raise OSError(errno.ENOSPC, "no progress writing the file")
        written += count


def content_digest(fd: int, size: int, end: int | None = None,
                   should_stop: Callable[[], bool] | None = None,
                   key: bytes | None = None) -> ContentDigest:
    """The digest state (keyed with `key`, if any) of the open file's content up to `end`
    (default: all of it), having read only its data extents."""
    end = size if end is None else end
    result = ContentDigest(size, key)
    buffer = memoryview(bytearray(BLOCK))
    for position, length in pieces(extents(fd, end)):
        if should_stop is not None and should_stop():
            raise InterruptedError("stopped")
        result.update(position, read_into(fd, buffer[:length], position))
    result.skip_to(end)
    return result


def digest(path: str, key: bytes | None = None) -> str:
    """The content digest of the file (see the module docstring), keyed with `key` if given:
    with a transfer's key, what its sender and receiver compute."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return content_digest(fd, os.fstat(fd).st_size, key=key).hexdigest()
    finally:
        os.close(fd)


def copy_sparse(src: str, dst: str,
                progress: Callable[[int, int], None] | None = None) -> str:
    """Copy `src` to `dst` (created or truncated), holes preserved; returns the (unkeyed)
    content digest of what was copied, which `digest` of either file reproduces."""
    src_fd = os.open(src, os.O_RDONLY)
    try:
        dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            size = os.fstat(src_fd).st_size
            result = ContentDigest(size)
            os.ftruncate(dst_fd, size)
            spans = list(extents(src_fd, size))
            total = sum(length for _, length in spans)
            buffer = memoryview(bytearray(BLOCK))
            done = 0
            for position, length in pieces(spans):
                chunk = read_into(src_fd, buffer[:length], position)
                write_at(dst_fd, chunk, position)
                result.update(position, chunk)
                done += length
                if progress is not None:
                    progress(done, total)
            os.fsync(dst_fd)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)
    return result.hexdigest()
