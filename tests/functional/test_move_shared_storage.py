"""Moves between hosts that share one instances directory (`[compute] instances_dir`).

The destination's probe tells the source that it sees the same files: the disks are copied
locally beside the kept copy and nothing crosses the network. To prove it, every host's
transfer agent here refuses whatever arrives: a move that sent anything would fail. Confirm,
revert and a failure at each step leave the server where it should be, with its disk, and the
shared directory with nothing but the live servers' files.
"""
import logging
import os

import pytest

from herder import states
from herder.compute.shared_storage import PROBE_DIR
from herder.transfer import sparse
from tests.conftest import make_cloud
from tests.functional.observe import (assert_consistent, create_server, instance_record,
                                      migrated, migration_of, wait_for_status, wait_until)


@pytest.fixture
def cloud(tmp_path):
    """Two hosts on one instances directory, whose transfer agents take no chunk."""
    cloud = make_cloud(tmp_path, hosts=2, compute__instances_dir=str(tmp_path / "shared"))
    for compute in cloud.computes.values():
        compute.driver.fault_points.arm("receive_chunk", times=1000)
    yield cloud
    cloud.stop()


def _disk(cloud, server_id: str) -> str:
    return next(iter(cloud.computes.values())).driver.disk_path(server_id)


def _probes(cloud) -> list[str]:
    directory = os.path.join(next(iter(cloud.instances_dirs().values())), PROBE_DIR)
    return os.listdir(directory) if os.path.isdir(directory) else []


def test_migrate_and_confirm_copy_nothing_over_the_network(cloud, admin, caplog):
    caplog.set_level(logging.INFO, logger="herder.compute.agent")
    server = create_server(admin)
    with open(_disk(cloud, server.id), "r+b") as disk:
        disk.write(b"the guest's own data")
    before = sparse.digest(_disk(cloud, server.id))
    source = instance_record(cloud, server.id).host

    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    dest = instance_record(cloud, server.id).host
    assert source != dest
    assert "copying the disks locally, sending nothing" in caplog.text
    assert sparse.digest(_disk(cloud, server.id)) == before
    assert migration_of(cloud, server.id).disk_processed_bytes > 0
    assert _probes(cloud) == []   # the destination removed it at finish_resize
    assert_consistent(cloud)

    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    assert cloud.computes[dest].driver.power_state(server.id) == states.RUNNING
    assert cloud.computes[source].driver.list_instances() == {}
    assert sparse.digest(_disk(cloud, server.id)) == before
    assert_consistent(cloud)


def test_revert_boots_the_untouched_source_copy(cloud, admin):
    server, source, dest = migrated(cloud, admin)
    before = sparse.digest(_disk(cloud, server.id))
    with open(_disk(cloud, server.id), "r+b") as disk:
        disk.write(b"written on the destination")   # the guest ran there

    admin.compute.revert_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    assert instance_record(cloud, server.id).host == source
    assert cloud.computes[source].driver.power_state(server.id) == states.RUNNING
    assert sparse.digest(_disk(cloud, server.id)) == before
    assert cloud.computes[dest].driver.list_instances() == {}
    assert_consistent(cloud)


@pytest.mark.parametrize("where, step", [
    ("source", "power_off"),
    ("source", "migrate_disk"),        # after the probe, before the source kept its copy
    ("source", "copy_disk"),           # the copy kept, nothing copied yet
    ("dest", "prep_resize"),
    ("dest", "finish_migration"),      # the local copy made, the guest not defined yet
])
def test_a_failure_at_any_step_leaves_the_guest_on_its_source_with_its_disk(cloud, admin,
                                                                          where, step):
    server = create_server(admin)
    with open(_disk(cloud, server.id), "r+b") as disk:
        disk.write(b"must survive the rollback")
    before = sparse.digest(_disk(cloud, server.id))
    source = instance_record(cloud, server.id).host
    dest = next(host for host in cloud.computes if host != source)
    cloud.computes[source if where == "source" else dest].driver.fault_points.arm(step)

    admin.compute.migrate_server(server)
    wait_until(lambda: migration_of(cloud, server.id) is not None and
               migration_of(cloud, server.id).status == "error",
               message="the migration to fail")
    wait_for_status(admin, server.id, "ACTIVE")
    assert instance_record(cloud, server.id).host == source
    assert cloud.computes[source].driver.power_state(server.id) == states.RUNNING
    assert sparse.digest(_disk(cloud, server.id)) == before
    assert _probes(cloud) == []
    assert_consistent(cloud)
