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


# -- the digest is of the content, not of the allocation -----------------------------------------

def _allocated_copy(source: str, path) -> str:
    """The same bytes as `source`, every one of them stored (holes written out as zeros)."""
    with open(source, "rb") as f, open(path, "wb") as out:
        while block := f.read(MIB):
            out.write(block)
    return str(path)


def test_the_same_content_with_holes_or_with_zeros_stored_has_the_same_digest(tmp_path):
    holes = make_sparse(tmp_path / "holes", 24 * MIB,
                        [(0, 4096), (3 * MIB + 512, 1000), (7 * MIB, 2 * MIB + 4096)])
    stored = _allocated_copy(holes, tmp_path / "stored")
    assert os.stat(stored).st_blocks > 4 * os.stat(holes).st_blocks
    assert sparse.digest(stored) == sparse.digest(holes)
    assert sparse.copy_sparse(stored, str(tmp_path / "copy")) == sparse.digest(holes)


def test_holes_at_another_granularity_give_the_same_digest(tmp_path):
    # one file has a hole where the other has an extent of zeros, inside a block with data
    data = pattern(8192, 3)
    fine = tmp_path / "fine"
    with open(fine, "wb") as f:
        f.truncate(4 * MIB)
        f.seek(MIB)
        f.write(data)
        f.seek(MIB + 64 * 1024)
        f.write(data)
    coarse = tmp_path / "coarse"
    with open(coarse, "wb") as f:
        f.truncate(4 * MIB)
        f.seek(MIB)
        f.write(data + bytes(64 * 1024 - 8192) + data)
    assert sparse.allocated_bytes(str(fine)) < sparse.allocated_bytes(str(coarse))
    assert sparse.digest(str(fine)) == sparse.digest(str(coarse))


def test_the_digest_covers_the_size(tmp_path):
    a = make_sparse(tmp_path / "a", 64 * MIB, [(0, 4096)])
    b = make_sparse(tmp_path / "b", 65 * MIB, [(0, 4096)])
    assert sparse.digest(a) != sparse.digest(b)


@pytest.mark.parametrize("cut", [511, 4096, 65536, 1000 * 1000, MIB, 3 * MIB])
def test_the_digest_state_does_not_depend_on_how_the_content_is_fed(cut):
    size = 10 * MIB + 123
    content = [(0, pattern(3 * MIB + 5, 1)), (5 * MIB - 7, bytes(MIB)),
               (6 * MIB + 9, pattern(2 * MIB, 2)), (size - 1000, pattern(100, 3))]
    whole = sparse.ContentDigest(size)
    for offset, data in content:
        whole.update(offset, data)
    pieces = sparse.ContentDigest(size)
    for offset, data in content:
        for start in range(0, len(data), cut):
            pieces.update(offset + start, data[start:start + cut])
    assert pieces.hexdigest() == whole.hexdigest()
    assert pieces.fingerprint() == whole.fingerprint()
    for position in (pieces.position + 1, size - 1, size):   # zeros after the last data
        pieces.skip_to(position)
        whole.skip_to(position)
        assert pieces.fingerprint() == whole.fingerprint()
    assert pieces.hexdigest() == whole.hexdigest()


def test_zeros_fed_as_data_are_the_same_as_zeros_skipped():
    fed, skipped = sparse.ContentDigest(4 * MIB), sparse.ContentDigest(4 * MIB)
    fed.update(0, bytes(MIB + 17))
    fed.update(MIB + 17, b"x")
    skipped.update(MIB + 17, b"x")
    assert fed.chunk_check(MIB + 17) == skipped.chunk_check(MIB + 17)
    assert fed.fingerprint() == skipped.fingerprint()
    assert fed.hexdigest() == skipped.hexdigest()


def test_is_zero():
    assert sparse.is_zero(b"") and sparse.is_zero(bytes(MIB)) and sparse.is_zero(bytearray(5))
    assert not sparse.is_zero(b"\0" * 100 + b"\1" + b"\0" * 100)
    assert not sparse.is_zero(memoryview(bytearray(MIB - 1) + b"\1")[1:])


def test_without_seek_data_the_whole_file_is_data(disk, monkeypatch):
    lseek = os.lseek

    def no_seek_data(fd, offset, whence):
        if whence in (os.SEEK_DATA, os.SEEK_HOLE):
            raise OSError(22, "Invalid argument")
        return lseek(fd, offset, whence)

    digest = sparse.digest(disk)
    monkeypatch.setattr(os, "lseek", no_seek_data)
    assert sparse.allocated_bytes(disk) == GIB   # never fewer bytes than there are
    fd = os.open(disk, os.O_RDONLY)
    try:
        assert sparse.content_digest(fd, GIB).hexdigest() == digest
    finally:
        os.close(fd)


def test_a_keyed_digest_is_of_the_content_and_depends_on_the_key(tmp_path):
    holes = make_sparse(tmp_path / "holes", 24 * MIB,
                        [(0, 4096), (3 * MIB + 512, 1000), (7 * MIB, 2 * MIB + 4096)])
    stored = _allocated_copy(holes, tmp_path / "stored")
    key, other = bytes(range(32)), bytes(range(1, 33))
    assert sparse.digest(stored, key) == sparse.digest(holes, key)
    assert len({sparse.digest(holes, key), sparse.digest(holes, other),
                sparse.digest(holes)}) == 3


def test_chunk_checks_and_fingerprints_are_keyed():
    def state(key):
        digest = sparse.ContentDigest(4 * MIB, key)
        digest.update(MIB, pattern(4096, 1))
        return digest
    key, other = bytes(32), b"\1" * 32
    assert state(key).chunk_check(MIB) == state(key).chunk_check(MIB)
    assert state(key).chunk_check(MIB) != state(other).chunk_check(MIB)
    assert state(key).fingerprint() != state(other).fingerprint()
    with pytest.raises(ValueError):
        sparse.ContentDigest(MIB, b"short")
