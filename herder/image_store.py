"""The image store: each image's data in one file, `<state_dir>/images/<image id>`.

An upload streams into a temporary file beside its final place, hashed as it goes (md5 for
glance's `checksum`, sha512 for `os_hash_value`), and is renamed into place only once it is
complete, fits `[image] max_image_size_mb` and is what its disk_format says: a reader never
sees half an image, and a failed upload leaves no file. Runs of zeros are skipped rather than
written, so a mostly empty disk image stays sparse in the store as it is on the hosts.
"""
import hashlib
import os
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

READ_SIZE = 256 * 1024
_ZEROS = bytes(READ_SIZE)
HASH_ALGO = "sha512"   # glance's default os_hash_algo

QCOW2_MAGIC = b"QFI\xfb"
_QCOW2_DATA_FILE = 1 << 2   # incompatible feature bit: the guest data is in another file


class TooLarge(Exception):
    """The data went past the largest size the store takes."""


class FormatMismatch(Exception):
    """The data is not what its disk_format says (or is a qcow2 that reaches outside itself)."""


@dataclass(frozen=True)
class StoredData:
    path: str
    size: int
    checksum: str          # md5, hex
    os_hash_value: str     # sha512, hex
    virtual_size: int | None


def store_dir(conf) -> str:
    return os.path.join(conf.state_dir, "images")


def path_for(conf, image_id: str) -> str:
    if not image_id or os.sep in image_id or image_id in (".", ".."):
        raise ValueError(f"not an image id: {image_id!r}")
    return os.path.join(store_dir(conf), image_id)


def write(conf, image_id: str, read: Callable[[int], bytes], max_bytes: int,
          disk_format: str) -> StoredData:
    """Stream `read(n)` until it returns b"" into the image's file: TooLarge past `max_bytes`,
    FormatMismatch for data that is not `disk_format`; either way nothing is left behind."""
    final = path_for(conf, image_id)
    os.makedirs(store_dir(conf), exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{image_id}.", suffix=".part", dir=store_dir(conf))
    md5, sha512, size = hashlib.md5(usedforsecurity=False), hashlib.sha512(), 0
    try:
        with os.fdopen(fd, "wb") as target:
            while chunk := read(READ_SIZE):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"more than {max_bytes} bytes")
                md5.update(chunk)
                sha512.update(chunk)
                if _all_zeros(chunk):
                    target.seek(len(chunk), os.SEEK_CUR)   # a hole, not a block of zeros
                else:
                    target.write(chunk)
            target.truncate(size)   # a hole at the end still counts
            target.flush()
            os.fsync(target.fileno())
        virtual = inspect(partial, disk_format, size)
        os.replace(partial, final)
    except BaseException:
        remove(partial)
        raise
    return StoredData(final, size, md5.hexdigest(), sha512.hexdigest(), virtual)


def _all_zeros(chunk: bytes) -> bool:
    # comparisons and count() run in C: a Python loop over 200 MB would take seconds
    return chunk == _ZEROS if len(chunk) == READ_SIZE else chunk.count(0) == len(chunk)


def inspect(path: str, disk_format: str, size: int) -> int | None:
    """The virtual size of the data at `path`: a qcow2's from its header, a raw image's is its
    size. Refuses what a hypervisor would read differently from what the catalogue says: a
    qcow2 without the qcow2 header, a "raw" image with one, and a qcow2 that points at a
    backing or data file (it could make a host read any file it names)."""
    with open(path, "rb") as f:
        header = f.read(104)
    is_qcow2 = header[:4] == QCOW2_MAGIC
    if disk_format == "qcow2":
        if not is_qcow2 or len(header) < 32:
            raise FormatMismatch("Image data is not in the qcow2 format its disk_format names.")
        version, backing_offset = struct.unpack(">IQ", header[4:16])
        if backing_offset:
            raise FormatMismatch("A qcow2 image with a backing file is not accepted.")
        if version >= 3 and len(header) >= 80 and \
                struct.unpack(">Q", header[72:80])[0] & _QCOW2_DATA_FILE:
            raise FormatMismatch("A qcow2 image with an external data file is not accepted.")
        return struct.unpack(">Q", header[24:32])[0]
    if disk_format == "raw":
        if is_qcow2:
            raise FormatMismatch("Image data is in the qcow2 format, not raw as its "
                                 "disk_format names.")
        return size
    return None


def remove(path: str | None) -> None:
    """Delete a file of the store if it is there."""
    if not path:
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def remove_image(conf, image_id: str) -> None:
    """Delete an image's data: its file, and what an upload cut short (an api killed in the
    middle of one) left of its own."""
    remove(path_for(conf, image_id))
    try:
        names = os.listdir(store_dir(conf))
    except FileNotFoundError:
        return
    for name in names:
        if name.startswith(f".{image_id}.") and name.endswith(".part"):
            remove(os.path.join(store_dir(conf), name))


class FileWindow:
    """Bytes `start` to `end` (exclusive) of a file, as the WSGI response body: an iterable of
    1 MiB pieces (falcon would read a file-like body 8 KiB at a time), closed by the server
    when it is done or the client has gone."""
    PIECE = 4 * READ_SIZE

    def __init__(self, path: str, start: int, end: int):
        self._file = open(path, "rb")
        self._file.seek(start)
        self._left = end - start

    def __iter__(self):
        while self._left > 0:
            piece = self._file.read(min(self.PIECE, self._left))
            if not piece:   # the file shrank under us: end the body rather than spin
                return
            self._left -= len(piece)
            yield piece

    def close(self) -> None:
        self._file.close()
