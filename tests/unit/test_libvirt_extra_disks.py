"""The libvirt driver's ephemeral and swap disks: formatted (ext4 `ephemeral0`, a swap area),
qcow2 files of their own, and what a resize does to them. Needs qemu-img, mkfs.ext4 and
mkswap (scripts/libvirt/install.sh)."""
import json
import os
import shutil
import subprocess

import pytest

from herder.virt.libvirt import extra_disks

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-img") is None and os.environ.get("CI") != "true",
    reason="qemu-img is not installed")   # with CI=true, its absence fails these tests
MIB = 1024 ** 2
GIB = 1024 ** 3


def flavor(ephemeral_gb: int, swap_mb: int) -> dict:
    return {"root_gb": 1, "ephemeral_gb": ephemeral_gb, "swap": swap_mb}


def info(path: str) -> dict:
    return json.loads(subprocess.run(["qemu-img", "info", "--output=json", path],
                                     capture_output=True, text=True, check=True).stdout)


def head(path: str, tmp_path, length: int = 8192) -> bytes:
    """The first bytes the guest sees on the disk."""
    raw = str(tmp_path / (os.path.basename(path) + ".check.raw"))
    subprocess.run(["qemu-img", "convert", "-O", "raw", path, raw], check=True)
    with open(raw, "rb") as f:
        data = f.read(length)
    os.remove(raw)
    return data


def test_the_ephemeral_disk_is_ext4_labelled_ephemeral0_and_swap_a_swap_area(tmp_path):
    extra_disks.create("compute1", str(tmp_path), flavor(1, 64))
    assert sorted(os.listdir(tmp_path)) == ["disk.eph0", "disk.swap"]   # no leftovers
    ephemeral, swap = str(tmp_path / "disk.eph0"), str(tmp_path / "disk.swap")
    assert (info(ephemeral)["format"], info(ephemeral)["virtual-size"]) == ("qcow2", GIB)
    assert "backing-filename" not in info(ephemeral)
    superblock = head(ephemeral, tmp_path)[1024:2048]
    assert superblock[56:58] == b"\x53\xef"                      # the ext2/3/4 magic
    assert superblock[120:136].rstrip(b"\0") == b"ephemeral0"   # the volume label
    assert os.path.getsize(ephemeral) < 64 * MIB                 # sparse: metadata only
    assert (info(swap)["format"], info(swap)["virtual-size"]) == ("qcow2", 64 * MIB)
    assert head(swap, tmp_path)[4086:4096] == b"SWAPSPACE2"


def test_a_flavor_without_them_has_none(tmp_path):
    extra_disks.create("compute1", str(tmp_path), flavor(0, 0))
    assert os.listdir(tmp_path) == []
    assert extra_disks.names(flavor(0, 0)) == []
    assert extra_disks.names(flavor(2, 0)) == ["disk.eph0"]
    assert extra_disks.names(flavor(1, 32)) == ["disk.eph0", "disk.swap"]


def test_a_resize_grows_the_ephemeral_disk_keeping_its_data_and_remakes_the_swap(tmp_path):
    extra_disks.create("compute1", str(tmp_path), flavor(1, 32))
    ephemeral = str(tmp_path / "disk.eph0")
    before = head(ephemeral, tmp_path, 4 * MIB)
    extra_disks.apply_flavor("compute1", str(tmp_path), flavor(2, 64))
    assert info(ephemeral)["virtual-size"] == 2 * GIB
    assert head(ephemeral, tmp_path, 4 * MIB) == before
    assert info(str(tmp_path / "disk.swap"))["virtual-size"] == 64 * MIB

    extra_disks.apply_flavor("compute1", str(tmp_path), flavor(1, 64))   # smaller: kept
    assert info(ephemeral)["virtual-size"] == 2 * GIB
