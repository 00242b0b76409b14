"""A real guest's moves broken down: migrate, revert and resize of a QEMU guest (libvirt driver,
TCG), each from the API request to the moment the guest's console shows its data verified.

For each move, the marks are taken from outside, as an operator would see them:
- accepted: the action's HTTP response;
- powered off: the source's libvirt domain is no longer running (polled);
- copied: the migration leaves `migrating` (the source's resize_instance step is done);
- verified: the guest's console (os-getConsoleOutput) shows the new boot with `data=verified`.
It also prints the bytes that crossed against the overlay's allocated bytes and the disk's
virtual size. Needs what scripts/libvirt/install.sh installs; runs in about 2 minutes per
round. Not a test: nothing here asserts a time.

    .venv/bin/python bench/bench_real_guest.py --rounds 3
"""
import argparse
import os
import shutil
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from herder import states  # noqa: E402
from herder.conf import build_conf  # noqa: E402
from herder.db import migrations  # noqa: E402
from herder.embedded import EmbeddedCloud  # noqa: E402
from herder.transfer import sparse  # noqa: E402
from tests.conftest import connect  # noqa: E402
from tests.functional import real_guests  # noqa: E402

TIMEOUT = 300.0


def wait(predicate, what: str):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return time.monotonic()
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def status(conn, server_id: str) -> str:
    return conn.compute.get_server(server_id).status


def boot_shown(conn, server_id: str, count: int) -> bool:
    console = conn.compute.get_server_console_output(server_id)["output"]
    return any(b.count == count and b.data == "verified" for b in real_guests.boots(console))


def one_move(cloud, conn, server_id: str, start_move, boot: int, target: str) -> dict:
    """Marks (seconds since the request) of one move that ends in `target`."""
    source = conn.compute.get_server(server_id).compute_host
    driver = cloud.computes[source].driver
    before = migrations.latest_for(cloud.db, server_id)

    def copy_done() -> bool:
        move = migrations.latest_for(cloud.db, server_id)
        return move is not None and (before is None or move.uuid != before.uuid) and \
            move.status not in (states.MIGRATION_PRE_MIGRATING, states.MIGRATION_MIGRATING)
    began = time.monotonic()
    start_move()
    accepted = time.monotonic()
    off = wait(lambda: driver.power_state(server_id) != states.RUNNING, "the power-off")
    copied = wait(copy_done, "the copy")
    wait(lambda: status(conn, server_id) == target, target)
    verified = wait(lambda: boot_shown(conn, server_id, boot), f"boot {boot} verified")
    return {"accepted": accepted - began, "powered off": off - began,
            "copied": copied - began, "verified": verified - began}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    image = real_guests.guest_image()
    state = real_guests.state_dir()
    cloud = EmbeddedCloud(build_conf(state_dir=state, api__port=0,
                                     compute__compute_driver="libvirt"), hosts=2)
    cloud.start()
    marks: dict[str, list[dict]] = {"migrate": [], "revert": [], "resize": []}
    wire: list[tuple[int, int, int]] = []
    try:
        conn = connect(cloud, cloud.conf.admin_token)
        with open(image, "rb") as data:
            uploaded = conn.image.create_image(name="bench-guest", disk_format="qcow2",
                                               container_format="bare", data=data)
        bigger = conn.compute.create_flavor(name="bench.large", ram=768, vcpus=2, disk=2)
        for _ in range(args.rounds):
            server = conn.compute.create_server(
                name="bench", flavor_id=conn.compute.find_flavor("m1.tiny").id,
                image_id=uploaded.id, networks="none")
            wait(lambda: status(conn, server.id) == "ACTIVE", "ACTIVE")
            wait(lambda: real_guests.boots(
                conn.compute.get_server_console_output(server.id)["output"]), "first boot")
            source = conn.compute.get_server(server.id).compute_host
            overlay = os.path.join(cloud.instances_dirs()[source], server.id, "disk")
            allocated = sparse.allocated_bytes(overlay)
            marks["migrate"].append(one_move(cloud, conn, server.id,
                                             lambda: conn.compute.migrate_server(server),
                                             2, "VERIFY_RESIZE"))
            migration = migrations.latest_for(cloud.db, server.id)
            wire.append((migration.disk_total_bytes, allocated, 1024 ** 3))
            dest = conn.compute.get_server(server.id).compute_host
            began = time.monotonic()
            conn.compute.revert_server_resize(server)
            wait(lambda: status(conn, server.id) == "ACTIVE", "ACTIVE after revert")
            done = wait(lambda: boot_shown(conn, server.id, 2), "the source's boot")
            marks["revert"].append({"accepted": 0.0, "verified": done - began})
            assert conn.compute.get_server(server.id).compute_host != dest
            marks["resize"].append(one_move(
                cloud, conn, server.id, lambda: conn.compute.resize_server(server, bigger.id),
                3, "VERIFY_RESIZE"))
            conn.compute.confirm_server_resize(server)
            wait(lambda: status(conn, server.id) == "ACTIVE", "ACTIVE after confirm")
            conn.compute.delete_server(server)
            wait(lambda: conn.compute.find_server(server.id) is None, "the delete")
    finally:
        cloud.stop()
        real_guests.remove_domains_under(state)
        shutil.rmtree(state, ignore_errors=True)
    print(f"{args.rounds} rounds, medians in seconds from the request")
    for kind, runs in marks.items():
        names = list(runs[0])
        print(f"  {kind:8}", "  ".join(f"{name} {statistics.median(r[name] for r in runs):6.1f}"
                                       for name in names))
    sent, allocated, virtual = (statistics.median(column) for column in zip(*wire))
    print(f"  bytes: moved {sent / 2**20:.1f} MiB (the migration's disk_total_bytes), "
          f"overlay allocated {allocated / 2**20:.1f} MiB, virtual {virtual / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
