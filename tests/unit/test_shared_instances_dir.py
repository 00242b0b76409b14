"""Hosts that share one instances directory: the probe that finds it out, and fake guests of
two hosts side by side in it (each lists and removes only its own)."""
import os
import uuid

import pytest

from herder import states
from herder.compute.shared_storage import PROBE_DIR, SharedStorageProbes, directory_id
from herder.transfer import sparse
from herder.virt.fake import FakeDriver

FLAVOR = {"id": 1, "vcpus": 1, "memory_mb": 512, "root_gb": 1, "ephemeral_gb": 0}


def vm(server: str) -> dict:
    return {"uuid": server, "display_name": server, "hostname": server, "flavor": FLAVOR,
            "power_state": states.NOSTATE, "image": None}


# -- the directory's id, which a dry run compares --------------------------------------------------
def test_hosts_on_one_directory_read_one_id_and_other_directories_another(tmp_path):
    shared = str(tmp_path / "shared")
    first = directory_id(shared)
    assert directory_id(shared) == first           # written once, then read
    assert directory_id(str(tmp_path / "own")) != first
    assert sorted(os.listdir(shared)) == ["_directory_id"]   # no candidate file left behind


# -- the probe -----------------------------------------------------------------------------------
def test_a_probe_is_found_from_a_host_on_the_same_directory_only(tmp_path):
    shared = str(tmp_path / "shared")
    migration = str(uuid.uuid4())
    probe = SharedStorageProbes(shared, "compute2").leave(migration)
    assert SharedStorageProbes(shared, "compute1").shared_with(probe)
    assert not SharedStorageProbes(str(tmp_path / "compute1"), "compute1").shared_with(probe)


def test_a_probe_that_is_not_the_destinations_is_not_taken_for_one(tmp_path):
    shared = str(tmp_path / "shared")
    migration = str(uuid.uuid4())
    SharedStorageProbes(shared, "compute2").leave(migration)
    source = SharedStorageProbes(shared, "compute1")
    assert not source.shared_with({"migration_uuid": migration, "host": "compute3"})
    assert not source.shared_with({"migration_uuid": str(uuid.uuid4()), "host": "compute2"})
    assert not source.shared_with({"migration_uuid": "../../etc/passwd", "host": "compute2"})
    assert not source.shared_with(None)   # a destination that left none: copy over the network


def test_a_removed_probe_is_not_found(tmp_path):
    shared = str(tmp_path / "shared")
    dest = SharedStorageProbes(shared, "compute2")
    probe = dest.leave(str(uuid.uuid4()))
    dest.remove(probe["migration_uuid"])
    dest.remove(probe["migration_uuid"])   # idempotent
    assert not SharedStorageProbes(shared, "compute1").shared_with(probe)


def test_the_sweep_at_start_removes_only_this_hosts_probes_of_moves_it_no_longer_claims(tmp_path):
    shared = str(tmp_path / "shared")
    mine, other = SharedStorageProbes(shared, "compute2"), SharedStorageProbes(shared, "compute3")
    claimed, finished, others = (str(uuid.uuid4()) for _ in range(3))
    for migration in (claimed, finished):
        mine.leave(migration)
    other.leave(others)
    mine.sweep({claimed})
    assert sorted(os.listdir(os.path.join(shared, PROBE_DIR))) == sorted(
        [claimed + ".json", others + ".json"])


# -- two fake hosts on one directory -------------------------------------------------------------
@pytest.fixture
def hosts(tmp_path) -> tuple[FakeDriver, FakeDriver]:
    shared = str(tmp_path / "shared")
    return FakeDriver("compute1", shared), FakeDriver("compute2", shared)


def test_each_host_lists_only_its_own_guests_and_kept_copies(hosts):
    one, two = hosts
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    one.spawn(vm(first))
    two.spawn(vm(second))
    assert list(one.list_instances()) == [first]
    assert list(two.list_instances()) == [second]
    assert two.guest(first) is None and two.power_state(first) == states.NOSTATE
    one.migrate_disk_and_power_off(vm(first), {}, shared_storage=True)
    assert list(one.list_kept_copies()) == [first]
    assert two.list_kept_copies() == {}


def test_a_host_never_removes_the_guest_of_another_host(hosts):
    one, two = hosts
    server = str(uuid.uuid4())
    one.spawn(vm(server))
    two.discard_incoming(vm(server))   # a rollback before the source kept its copy
    two.destroy(vm(server))
    assert one.guest(server)["power_state"] == states.RUNNING
    assert os.path.exists(one.disk_path(server))


def test_a_move_copies_beside_the_kept_copy_and_reverts_to_the_untouched_copy(hosts):
    one, two = hosts
    server = str(uuid.uuid4())
    one.spawn(vm(server))
    with open(one.disk_path(server), "r+b") as disk:
        disk.write(b"written by the guest on compute1")
    before = sparse.digest(one.disk_path(server))
    progress = []
    report = one.migrate_disk_and_power_off(vm(server), {}, lambda done, total:
                                            progress.append((done, total)),
                                            shared_storage=True)
    assert report.shared_storage and report.bytes_sent == 0
    assert report.allocated_bytes == progress[-1][0] == progress[-1][1] > 0
    assert sparse.digest(one.disk_path(server)) == before   # the copy the destination finds
    assert two.finish_migration(vm(server), FLAVOR, power_on=True) == states.RUNNING
    with open(two.disk_path(server), "r+b") as disk:
        disk.write(b"written by the guest on compute2")
    two.discard_incoming(vm(server))   # revert: the destination lets go of its guest
    assert one.finish_revert_migration(vm(server), power_on=True) == states.RUNNING
    assert sparse.digest(one.disk_path(server)) == before
    assert not os.path.exists(one.resize_dir(server))
