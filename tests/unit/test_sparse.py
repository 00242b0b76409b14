"""Sparse disk copy: holes stay holes, digests match, progress reaches the total."""
import os

import pytest

from herder.transfer import sparse
from tests.unit.sparse_disks import GIB, MIB, make_sparse, pattern, sparse_disk

# (offset, length): a boot sector, a 5 MiB extent crossing the 4 MiB copy chunk, one at the end
EXTENTS = [(0, 64 * 1024), (100 * MIB, 5 * MIB), (GIB - 4096, 4096)]


@pytest.fixture
def disk(tmp_path) -> str:
    return sparse_disk(tmp_path / "disk", EXTENTS)


def test_extents_are_the_data_regions_of_the_file(disk):
    fd = os.open(disk, os.O_RDONLY)
    try:
        found = list(sparse.extents(fd, os.fstat(fd).st_size))
    finally:
        os.close(fd)
    assert found == EXTENTS
    assert sparse.allocated_bytes(disk) == sum(length for _, length in EXTENTS)


def test_copy_keeps_holes(disk, tmp_path):
    copy = str(tmp_path / "copy")
    sparse.copy_sparse(disk, copy)
    source, copied = os.stat(disk), os.stat(copy)
    assert copied.st_size == source.st_size == GIB
    assert copied.st_blocks <= source.st_blocks
    assert copied.st_blocks * 512 < 8 * MIB  # 1 GiB apparent, ~5 MiB allocated


def test_copy_has_the_same_bytes_and_the_same_digest(disk, tmp_path):
    copy = str(tmp_path / "copy")
    returned = sparse.copy_sparse(disk, copy)
    assert returned == sparse.digest(copy) == sparse.digest(disk)
    with open(disk, "rb") as a, open(copy, "rb") as b:
        for offset, length in EXTENTS:
            a.seek(offset)
            b.seek(offset)
            assert a.read(length) == b.read(length)
        b.seek(50 * MIB)
        assert b.read(4096) == bytes(4096)


def test_digest_differs_when_one_byte_changes(disk, tmp_path):
    copy = str(tmp_path / "copy")
    sparse.copy_sparse(disk, copy)
    with open(copy, "r+b") as f:
        f.seek(100 * MIB + 3 * MIB + 17)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x01]))
    assert sparse.digest(copy) != sparse.digest(disk)


def test_digest_differs_when_the_same_data_sits_at_another_offset(tmp_path):
    a = make_sparse(tmp_path / "a", 64 * MIB, [(0, 4096)])
    b = make_sparse(tmp_path / "b", 64 * MIB, [(8192, 4096)])
    assert sparse.digest(a) != sparse.digest(b)


def test_progress_reports_growing_byte_counts_up_to_the_total(disk, tmp_path):
    reports = []
    sparse.copy_sparse(disk, str(tmp_path / "copy"), progress=lambda done, total:
                       reports.append((done, total)))
    total = sum(length for _, length in EXTENTS)
    assert len(reports) >= 4  # the 5 MiB extent alone takes two chunks
    assert reports[-1] == (total, total)
    assert all(t == total for _, t in reports)
    dones = [d for d, _ in reports]
    assert dones == sorted(dones) and len(set(dones)) == len(dones)


def test_copy_of_a_file_with_no_data_is_an_empty_sparse_file_of_the_same_size(tmp_path):
    empty = make_sparse(tmp_path / "empty", 256 * MIB, [])
    copy = str(tmp_path / "copy")
    reports = []
    returned = sparse.copy_sparse(empty, copy, progress=lambda d, t: reports.append((d, t)))
    assert os.stat(copy).st_size == 256 * MIB
    assert os.stat(copy).st_blocks == 0
    assert sparse.allocated_bytes(copy) == 0
    assert returned == sparse.digest(copy) == sparse.digest(empty)
    assert reports == []


def test_copy_truncates_an_existing_destination(disk, tmp_path):
    copy = tmp_path / "copy"
    copy.write_bytes(pattern(2 * MIB, 7))   # stale bytes where the source has a hole
    sparse.copy_sparse(disk, str(copy))
    assert sparse.digest(str(copy)) == sparse.digest(disk)
    with open(copy, "rb") as f:
        f.seek(MIB)
        assert f.read(4096) == bytes(4096)
