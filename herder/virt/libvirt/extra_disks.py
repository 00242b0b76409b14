"""A guest's ephemeral and swap disks, formatted as Nova formats them for Linux guests.

- `disk.eph0`, when the flavor has `ephemeral_gb`: an ext4 file system labelled `ephemeral0`
  (what cloud-init looks for);
- `disk.swap`, when the flavor has `swap` (MiB): a swap area (`mkswap`).

Each is made as a sparse raw file, formatted, and converted into a qcow2 of its own (no
backing file). Nova backs them with a formatted base in `_base`; herder does not, because
formatting is not reproducible byte for byte (mkfs writes a fresh UUID): a destination that
formatted its own base would put the guest's written blocks over a different file system. A
move carries them whole instead; sparse, that is the metadata mkfs wrote and what the guest
wrote.

On a resize, a larger ephemeral disk grows (the file system in it keeps its size until the
guest grows it, `resize2fs`, as with Nova); a smaller one keeps its size (nothing the guest
wrote is cut off). A swap area of another size is made again: it holds nothing across a
power-off.
"""
import os

from herder.virt.libvirt import qemu_img
from herder.virt.libvirt.commands import run

EPHEMERAL = "disk.eph0"
SWAP = "disk.swap"
EPHEMERAL_LABEL = "ephemeral0"
GIB = 1024 ** 3
MIB = 1024 ** 2


def names(flavor: dict) -> list[str]:
    """The extra disk files a guest of this flavor has, in the order the guest sees them."""
    return [name for name, size in _sizes(flavor).items() if size]


def create(host: str, directory: str, flavor: dict) -> None:
    """The flavor's extra disks that are not there yet, formatted."""
    for name, size in _sizes(flavor).items():
        path = os.path.join(directory, name)
        if size and not os.path.exists(path):
            _make(host, path, size, name)


def apply_flavor(host: str, directory: str, new_flavor: dict) -> None:
    """After a move: the extra disks the new flavor wants, from those that arrived."""
    wanted = _sizes(new_flavor)
    ephemeral = os.path.join(directory, EPHEMERAL)
    if wanted[EPHEMERAL] and os.path.exists(ephemeral) and \
            wanted[EPHEMERAL] > qemu_img.info(host, ephemeral)["virtual-size"]:
        qemu_img.grow(host, ephemeral, wanted[EPHEMERAL])
    swap = os.path.join(directory, SWAP)
    if os.path.exists(swap) and qemu_img.info(host, swap)["virtual-size"] != wanted[SWAP]:
        os.remove(swap)
    create(host, directory, new_flavor)


def _sizes(flavor: dict) -> dict[str, int]:
    return {EPHEMERAL: (flavor.get("ephemeral_gb") or 0) * GIB,
            SWAP: (flavor.get("swap") or 0) * MIB}


def _make(host: str, path: str, size: int, name: str) -> None:
    """Format a sparse raw file, then convert it into the qcow2 the guest gets (through a
    temporary name: a disk that exists is a whole one)."""
    raw, partial = path + ".raw", path + ".making"
    try:
        with open(raw, "wb") as f:
            f.truncate(size)
        if name == EPHEMERAL:
            run(host, "create_disk", "mkfs.ext4", "-q", "-F", "-L", EPHEMERAL_LABEL,
                "-E", "nodiscard,lazy_itable_init=1", raw)
        else:
            run(host, "create_disk", "mkswap", raw)
        qemu_img.convert_to_qcow2(host, raw, partial)
        os.replace(partial, path)
    finally:
        for leftover in (raw, partial):
            if os.path.exists(leftover):
                os.remove(leftover)
