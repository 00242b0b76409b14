"""The fake hypervisor's disks across two hosts (two instances directories, two loopback
addresses with a transfer agent each), and fault points."""
import json
import os
import threading
import uuid

import pytest

from herder import exception, states
from herder.transfer import sparse
from herder.transfer.host import TransferAgent
from herder.transfer.receiver import TransferReceiver
from herder.transfer.sender import DiskSender
from herder.virt.fake import GIB, FakeDriver
from herder.fault_injection import FaultInjector
from tests.unit.sparse_disks import cancel_while_a_chunk_is_held

IMAGE = b"\xeb\x63\x90" + b"herder-test-image " * 5000   # ~90 KB, no trailing hole
SMALL = {"id": 1, "vcpus": 1, "memory_mb": 512, "root_gb": 1, "ephemeral_gb": 0}
LARGE = {"id": 2, "vcpus": 2, "memory_mb": 1024, "root_gb": 3, "ephemeral_gb": 0}


@pytest.fixture
def image(tmp_path) -> str:
    path = tmp_path / "image.raw"
    path.write_bytes(IMAGE)
    return str(path)


@pytest.fixture
def make_host(tmp_path):
    """A fake host on 127.0.1.N with its transfer agent listening, stopped after the test."""
    agents = []

    def make(index: int, fault_points: FaultInjector | None = None) -> FakeDriver:
        host, address = f"compute{index}", f"127.0.1.{index}"
        instances_dir = str(tmp_path / host / "instances")
        fault_points = fault_points or FaultInjector(host)
        agent = TransferAgent(TransferReceiver(host, address, 0, instances_dir, token_ttl=60,
                                               fault_points=fault_points), DiskSender(address))
        agent.start()
        agents.append(agent)
        return FakeDriver(host, instances_dir, fault_points=fault_points, transfers=agent)

    yield make
    for agent in agents:
        agent.stop()


@pytest.fixture
def source(make_host) -> FakeDriver:
    return make_host(1)


@pytest.fixture
def dest(make_host) -> FakeDriver:
    return make_host(2)


def vm(server: str, flavor: dict = SMALL, image: str | None = None) -> dict:
    """The instance as the conductor sends it to the driver; the image from a file:// URL."""
    return {"uuid": server, "display_name": server, "hostname": server, "flavor": flavor,
            "power_state": states.NOSTATE,
            "image": {"id": "test-image", "url": f"file://{image}"} if image else None}


def incoming_to(host: FakeDriver, server: str) -> dict:
    """What prep_resize on `host` tells the source: where to send the disk, with which grant."""
    return host.prepare_incoming(vm(server), str(uuid.uuid4()))


@pytest.fixture
def server(source, image) -> str:
    uuid_ = str(uuid.uuid4())
    source.spawn(vm(uuid_, SMALL, image))
    return uuid_


def guest_entries(host: FakeDriver) -> list[str]:
    """What the instances directory holds beside the image cache (`_base`)."""
    return sorted(name for name in os.listdir(host.instances_dir) if name != "_base")


def head(path: str, length: int = len(IMAGE)) -> bytes:
    with open(path, "rb") as f:
        return f.read(length)


# -- spawn ---------------------------------------------------------------------------------------

def test_spawn_makes_a_sparse_flavor_sized_disk_holding_the_image(source, server):
    disk = source.disk_path(server)
    assert os.path.getsize(disk) == SMALL["root_gb"] * GIB
    assert head(disk) == IMAGE
    assert os.stat(disk).st_blocks * 512 < 4 * 1024 * 1024
    assert source.guest(server) == {"uuid": server, "flavor": SMALL,
                                    "power_state": states.RUNNING, "host": "compute1"}


def test_spawn_powered_off_defines_a_shut_down_guest(source, image):
    server = str(uuid.uuid4())
    assert source.spawn(vm(server, SMALL, image), power_on=False) == states.SHUTDOWN
    assert source.power_state(server) == states.SHUTDOWN


def test_spawn_without_an_image_makes_an_empty_disk(source):
    server = str(uuid.uuid4())
    source.spawn(vm(server, SMALL, None))
    assert os.path.getsize(source.disk_path(server)) == GIB
    assert sparse.allocated_bytes(source.disk_path(server)) == 0


def test_guests_survive_a_new_driver_on_the_same_directory(source, server):
    again = FakeDriver("compute1", source.instances_dir)
    assert list(again.list_guests()) == [server]
    assert again.power_state(server) == states.RUNNING


def test_power_off_and_on_change_the_guests_power_state(source, server):
    assert source.power_off(vm(server)) == states.SHUTDOWN
    assert source.power_state(server) == states.SHUTDOWN
    assert source.power_on(vm(server)) == states.RUNNING
    assert source.power_state(server) == states.RUNNING


def test_unknown_guest_has_no_state(source):
    assert source.power_state(str(uuid.uuid4())) == states.NOSTATE


# -- the move ------------------------------------------------------------------------------------

def test_migrate_disk_keeps_the_source_as_resize_copy_and_copies_to_the_destination(
        source, dest, server):
    original_digest = sparse.digest(source.disk_path(server))
    report = source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))

    assert not os.path.exists(source.instance_dir(server))
    kept = os.path.join(source.instances_dir, f"{server}_resize")
    assert sparse.digest(os.path.join(kept, "disk")) == original_digest
    assert source.guest(server) is None and server not in source.list_guests()

    arrived = dest.disk_path(server)
    assert sparse.digest(arrived) == original_digest
    assert os.path.getsize(arrived) == GIB
    assert os.stat(arrived).st_blocks <= os.stat(os.path.join(kept, "disk")).st_blocks
    assert (report.files, report.virtual_bytes) == (1, GIB)
    assert report.allocated_bytes == report.bytes_sent == sparse.allocated_bytes(arrived)


def test_migrate_disk_powers_the_guest_off_first(source, dest, server):
    source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))
    with open(os.path.join(source.resize_dir(server), "guest.json")) as f:
        assert json.load(f)["power_state"] == states.SHUTDOWN


def test_migrate_disk_reports_copy_progress(source, dest, server):
    reports = []
    source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server),
                                      progress=lambda done, total: reports.append((done, total)))
    assert reports and reports[-1][0] == reports[-1][1] > 0


def test_migrate_disk_retried_after_a_crash_only_redoes_the_copy(source, dest, server):
    source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))
    os.remove(dest.disk_path(server))            # the first copy was lost
    source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))
    assert sparse.digest(dest.disk_path(server)) == sparse.digest(
        os.path.join(source.resize_dir(server), "disk"))


def test_finish_migration_grows_the_disk_to_the_new_flavor_and_starts_the_guest(
        source, dest, server):
    source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))
    assert dest.finish_migration(vm(server), LARGE, power_on=True) == states.RUNNING
    disk = dest.disk_path(server)
    assert os.path.getsize(disk) == LARGE["root_gb"] * GIB
    assert head(disk) == IMAGE
    assert dest.guest(server) == {"uuid": server, "flavor": LARGE,
                                  "power_state": states.RUNNING, "host": "compute2"}


def test_finish_migration_of_a_stopped_server_leaves_it_shut_down(source, dest, server):
    source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))
    assert dest.finish_migration(vm(server), SMALL, power_on=False) == states.SHUTDOWN
    assert dest.power_state(server) == states.SHUTDOWN


def test_finish_migration_never_shrinks_a_disk(source, dest, image):
    server = str(uuid.uuid4())
    source.spawn(vm(server, LARGE, image))
    source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))
    dest.finish_migration(vm(server), SMALL, power_on=True)
    assert os.path.getsize(dest.disk_path(server)) == LARGE["root_gb"] * GIB


def test_finish_migration_without_the_disk_fails(dest):
    with pytest.raises(FileNotFoundError):
        dest.finish_migration(vm(str(uuid.uuid4())), SMALL, power_on=True)


def test_finish_migration_leaves_no_transfer_records_and_spends_outstanding_grants(
        source, dest, server):
    spare = incoming_to(dest, server)
    source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))
    dest.finish_migration(vm(server), SMALL, power_on=True)
    assert sorted(os.listdir(dest.instance_dir(server))) == ["console.log", "disk", "guest.json"]
    with pytest.raises(exception.TransferRefused):
        source.migrate_disk_and_power_off(vm(server), spare)


def test_discard_incoming_stops_a_copy_in_flight_and_leaves_nothing_behind(source, dest,
                                                                           server):
    failures, discarded = cancel_while_a_chunk_is_held(
        dest.fault_points.hold("receive_chunk"),
        lambda: source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server)),
        lambda: dest.discard_incoming(vm(server)))
    assert failures and discarded
    assert os.listdir(dest.instances_dir) == []
    assert os.path.isdir(source.resize_dir(server))    # the source copy is untouched


def test_a_host_without_a_transfer_agent_cannot_receive_a_disk(tmp_path):
    server = str(uuid.uuid4())
    lonely = FakeDriver("compute3", str(tmp_path / "compute3"))
    with pytest.raises(exception.DriverError, match="no transfer agent"):
        lonely.prepare_incoming(vm(server), str(uuid.uuid4()))


def test_confirm_removes_the_resize_copy(source, dest, server):
    source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))
    dest.finish_migration(vm(server), SMALL, power_on=True)
    source.confirm_migration(vm(server))
    assert not os.path.exists(source.resize_dir(server))
    assert guest_entries(source) == []
    assert dest.guest(server) is not None


def test_revert_restores_the_resize_copy_and_power_state(source, dest, server):
    original_digest = sparse.digest(source.disk_path(server))
    source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))
    dest.finish_migration(vm(server), LARGE, power_on=True)
    dest.discard_incoming(vm(server))
    assert source.finish_revert_migration(vm(server), power_on=True) == states.RUNNING
    assert not os.path.exists(source.resize_dir(server))
    assert sparse.digest(source.disk_path(server)) == original_digest
    assert source.guest(server) == {"uuid": server, "flavor": SMALL,
                                    "power_state": states.RUNNING, "host": "compute1"}
    assert not os.path.exists(dest.instance_dir(server))


def test_revert_is_idempotent(source, dest, server):
    original_digest = sparse.digest(source.disk_path(server))
    source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))
    source.finish_revert_migration(vm(server), power_on=False)
    assert source.finish_revert_migration(vm(server), power_on=True) == states.RUNNING
    assert sparse.digest(source.disk_path(server)) == original_digest
    assert source.power_state(server) == states.RUNNING


def test_revert_without_any_source_copy_fails(source):
    with pytest.raises(FileNotFoundError):
        source.finish_revert_migration(vm(str(uuid.uuid4())), power_on=True)


def test_same_host_move_keeps_the_old_disk_aside_and_revert_brings_it_back(source, server):
    original_digest = sparse.digest(source.disk_path(server))
    source.migrate_disk_and_power_off(vm(server), incoming_to(source, server))
    source.finish_migration(vm(server), LARGE, power_on=True)
    assert os.path.getsize(source.disk_path(server)) == LARGE["root_gb"] * GIB
    assert os.path.getsize(os.path.join(source.resize_dir(server), "disk")) == GIB
    source.finish_revert_migration(vm(server), power_on=True)
    assert os.path.getsize(source.disk_path(server)) == GIB
    assert sparse.digest(source.disk_path(server)) == original_digest
    assert source.guest(server)["flavor"] == SMALL
    assert guest_entries(source) == [server]


def test_destroy_removes_the_guest_and_its_resize_copy(source, dest, server):
    source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))
    source.spawn(vm(server, SMALL, None))    # a same-host situation: both directories present
    source.destroy(vm(server))
    source.destroy(vm(server))
    assert guest_entries(source) == []


# -- fault points ---------------------------------------------------------------------------------

def test_a_fault_point_armed_n_times_fails_n_times_then_stops():
    fault_points = FaultInjector("compute1")
    fault_points.arm("power_off", times=2)
    for _ in range(2):
        with pytest.raises(exception.DriverError) as caught:
            fault_points.check("power_off")
        assert str(caught.value) == "Driver step power_off failed on compute1: injected fault"
    fault_points.check("power_off")
    fault_points.check("power_off")


def test_a_fault_point_armed_on_one_step_leaves_other_steps_alone():
    fault_points = FaultInjector("compute1")
    fault_points.arm("copy_disk")
    fault_points.check("power_off")
    with pytest.raises(exception.DriverError):
        fault_points.check("copy_disk")


def test_disarm_cancels_remaining_failures():
    fault_points = FaultInjector("compute1")
    fault_points.arm("spawn", times=3)
    fault_points.arm("power_on")
    fault_points.disarm("spawn")
    fault_points.check("spawn")
    with pytest.raises(exception.DriverError):
        fault_points.check("power_on")
    fault_points.arm("power_on")
    fault_points.disarm()
    fault_points.check("power_on")


def test_config_spec_arms_only_the_named_host():
    specs = ["compute1:power_off"]
    with pytest.raises(exception.DriverError):
        FaultInjector("compute1", specs).check("power_off")
    FaultInjector("compute2", specs).check("power_off")
    FaultInjector("compute10", specs).check("power_off")


def test_config_spec_with_star_arms_every_host():
    for host in ("compute1", "compute2"):
        fault_points = FaultInjector(host, ["*:migrate_disk"])
        with pytest.raises(exception.DriverError):
            fault_points.check("migrate_disk")
        fault_points.check("migrate_disk")


def test_config_spec_listed_twice_fails_twice():
    fault_points = FaultInjector("compute1", ["compute1:spawn", "*:spawn"])
    for _ in range(2):
        with pytest.raises(exception.DriverError):
            fault_points.check("spawn")
    fault_points.check("spawn")


@pytest.mark.parametrize("spec", ["compute1", "compute1:", ":power_off"])
def test_malformed_config_spec_arms_nothing(spec):
    FaultInjector("compute1", [spec]).check("power_off")


def test_held_step_waits_until_released():
    fault_points = FaultInjector("compute1")
    hold = fault_points.hold("copy_disk")
    finished = threading.Event()
    worker = threading.Thread(target=lambda: (fault_points.check("copy_disk"), finished.set()))
    worker.start()
    hold.wait_reached(5)
    assert not finished.wait(0.05)
    hold.release()
    assert finished.wait(5)
    worker.join(5)


def test_an_injected_power_off_fault_fails_the_move_before_the_disk_is_touched(make_host, image):
    source = make_host(1, FaultInjector("compute1", ["compute1:power_off"]))
    dest = make_host(2)
    server = str(uuid.uuid4())
    source.spawn(vm(server, SMALL, image))
    with pytest.raises(exception.DriverError):
        source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))
    assert source.power_state(server) == states.RUNNING
    assert not os.path.exists(source.resize_dir(server))
    assert not os.path.exists(dest.instance_dir(server))
    # the injected fault is spent
    source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))
    assert os.path.exists(dest.disk_path(server))


def test_an_injected_copy_fault_after_power_off_can_be_retried(source, dest, server):
    source.fault_points.arm("copy_disk")
    with pytest.raises(exception.DriverError):
        source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))
    assert os.path.isdir(source.resize_dir(server))
    source.migrate_disk_and_power_off(vm(server), incoming_to(dest, server))
    assert sparse.digest(dest.disk_path(server)) == sparse.digest(
        os.path.join(source.resize_dir(server), "disk"))
