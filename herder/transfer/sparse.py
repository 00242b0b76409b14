"""Copy a disk image file, keeping it sparse: only the allocated extents are read and written.

A 20 GB flavor's disk is a 20 GB sparse file holding a few MB of data; copying it byte for byte
would write 20 GB of zeros. SEEK_DATA/SEEK_HOLE give us the allocation map.
"""
import hashlib
import os
from typing import Callable, Iterator

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


def allocated_bytes(path: str) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return sum(length for _, length in extents(fd, os.fstat(fd).st_size))
    finally:
        os.close(fd)


def copy_sparse(src: str, dst: str,
                progress: Callable[[int, int], None] | None = None) -> str:
    """Copy `src` to `dst` (created or truncated), holes preserved; returns the BLAKE2b digest
    of the data written, which `digest` of the destination reproduces."""
    src_fd = os.open(src, os.O_RDONLY)
    dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    digest = hashlib.blake2b(digest_size=32)
    try:
        size = os.fstat(src_fd).st_size
        digest.update(size.to_bytes(8, "little"))
        os.ftruncate(dst_fd, size)
        spans = list(extents(src_fd, size))
        total = sum(length for _, length in spans)
        done = 0
        for start, length in spans:
            position = start
            while position < start + length:
                chunk = os.pread(src_fd, min(CHUNK, start + length - position), position)
                os.pwrite(dst_fd, chunk, position)
                digest.update(position.to_bytes(8, "little"))
                digest.update(chunk)
                position += len(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        os.fsync(dst_fd)
    finally:
        os.close(src_fd)
        os.close(dst_fd)
    return digest.hexdigest()


def digest(path: str) -> str:
    """BLAKE2b over the file's size and data extents (position and bytes), holes skipped."""
    fd = os.open(path, os.O_RDONLY)
    result = hashlib.blake2b(digest_size=32)
    try:
        size = os.fstat(fd).st_size
        result.update(size.to_bytes(8, "little"))
        for start, length in extents(fd, size):
            position = start
            while position < start + length:
                chunk = os.pread(fd, min(CHUNK, start + length - position), position)
                result.update(position.to_bytes(8, "little"))
                result.update(chunk)
                position += len(chunk)
    finally:
        os.close(fd)
    return result.hexdigest()
