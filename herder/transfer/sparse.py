"""Copy a disk image file, keeping it sparse: only the allocated extents are read and written.

A 20 GB flavor's disk is a 20 GB sparse file holding a few MB of data; copying it byte for byte
would write 20 GB of zeros. SEEK_DATA/SEEK_HOLE give us the allocation map.
"""
import hashlib
import os
from typing import Callable, Iterable, Iterator

CHUNK = 4 * 1024 * 1024


def extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """(offset, length) of every data extent of the open file."""
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError:  # ENXIO: no data past offset
            return
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, end - start
        offset = end


def pieces(spans: Iterable[tuple[int, int]], chunk: int = CHUNK) -> Iterator[tuple[int, int]]:
    """Each extent cut into pieces of at most `chunk` bytes, in order. With the default chunk
    these are the units `digest` hashes, so anyone walking them can compute the digest too."""
    for start, length in spans:
        position, end = start, start + length
        while position < end:
            step = min(chunk, end - position)
            yield position, step
            position += step


def allocated_bytes(path: str) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return sum(length for _, length in extents(fd, os.fstat(fd).st_size))
    finally:
        os.close(fd)


def new_digest(size: int) -> "hashlib.blake2b":
    """The running hash `digest` computes, primed with the file's size: feed it each piece's
    position (`position_bytes`) then its data."""
    result = hashlib.blake2b(digest_size=32)
    result.update(position_bytes(size))
    return result


def position_bytes(position: int) -> bytes:
    return position.to_bytes(8, "little")


def copy_sparse(src: str, dst: str,
                progress: Callable[[int, int], None] | None = None) -> str:
    """Copy `src` to `dst` (created or truncated), holes preserved; returns the BLAKE2b digest
    of the data written, which `digest` of the destination reproduces."""
    src_fd = os.open(src, os.O_RDONLY)
    dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        size = os.fstat(src_fd).st_size
        digest_ = new_digest(size)
        os.ftruncate(dst_fd, size)
        spans = list(extents(src_fd, size))
        total = sum(length for _, length in spans)
        done = 0
        for position, length in pieces(spans):
            chunk = os.pread(src_fd, length, position)
            os.pwrite(dst_fd, chunk, position)
            digest_.update(position_bytes(position))
            digest_.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        os.fsync(dst_fd)
    finally:
        os.close(src_fd)
        os.close(dst_fd)
    return digest_.hexdigest()


def digest(path: str) -> str:
    """BLAKE2b over the file's size and data extents (position and bytes), holes skipped."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        result = new_digest(size)
        for position, length in pieces(extents(fd, size)):
            result.update(position_bytes(position))
            result.update(os.pread(fd, length, position))
    finally:
        os.close(fd)
    return result.hexdigest()
