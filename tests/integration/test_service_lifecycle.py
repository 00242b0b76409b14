"""Stopping services the two ways they stop in production: SIGTERM, and dying for good."""
import threading
import time

from herder import states
from herder.db import journal
from tests.functional.observe import (assert_consistent, create_server, instance_record,
                                      migration_of, wait_for_status, wait_until)
from tests.integration.deployment import Deployment


def test_sigterm_lets_the_running_disk_copy_finish_before_the_compute_exits(deployment):
    admin = deployment.connect()
    server = create_server(admin)
    deployment.hold("*", "copy_disk")
    admin.compute.migrate_server(server)
    source, _ = deployment.wait_reached("copy_disk")

    exit_status: list[int] = []
    stopping = threading.Thread(target=lambda: exit_status.append(deployment.terminate(source)))
    stopping.start()
    time.sleep(1.0)
    assert deployment.alive(source), "the compute exited in the middle of a disk copy"
    deployment.release(source, "copy_disk")
    stopping.join(30)
    assert exit_status == [0]

    wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=30)
    deployment.restart(source)
    deployment.wait_ready()
    time.sleep(1.0)  # a request left unacknowledged would be handed to the restarted host now
    assert deployment.log(source).count("Starting migrate_disk_and_power_off") == 1
    assert instance_record(deployment, server.id).host != source
    assert_consistent(deployment)


def test_sigterm_ends_a_compute_whose_copy_outlasts_the_graceful_timeout_with_status_1(
        rabbitmq, tmp_path):
    with Deployment(tmp_path, DEFAULT={"graceful_shutdown_timeout": 2}) as deployment:
        admin = deployment.connect()
        server = create_server(admin)
        deployment.hold("*", "copy_disk")
        admin.compute.migrate_server(server)
        source, _ = deployment.wait_reached("copy_disk")

        started = time.monotonic()
        assert deployment.terminate(source, timeout=30) == 1
        assert time.monotonic() - started < 15
        assert "stopped with requests still running" in deployment.log(source)

        # the copy it cut off is handed to its next start, and the move goes on
        deployment.clear_holds()
        deployment.restart(source)
        deployment.wait_ready()
        wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=60)
        assert instance_record(deployment, server.id).host != source
        assert_consistent(deployment)


def test_a_conductor_that_dies_for_good_has_its_moves_finished_by_another(rabbitmq, tmp_path):
    deployment = Deployment(tmp_path, conductors=2,
                            workflow={"lease_seconds": 3, "recovery_interval": 0.5})
    try:
        deployment.start_all()
        admin = deployment.connect()
        server = create_server(admin)
        source = instance_record(deployment, server.id).host
        deployment.hold("conductor", "migrate.resize_instance")
        admin.compute.migrate_server(server)
        _, pid = deployment.wait_reached("migrate.resize_instance")
        dead = deployment.name_of(pid)
        deployment.kill(dead)          # and never started again
        deployment.clear_holds()

        # the survivor adopts the move once the dead one's lease ran out, and rolls it back
        # (it was interrupted before its point of no return)
        wait_until(lambda: migration_of(deployment, server.id).status == states.MIGRATION_ERROR,
                   timeout=30, message="the other conductor to roll the move back")
        server = wait_for_status(admin, server.id, "ACTIVE", timeout=10)
        # the migration and the server show the rollback before its last writes are in
        wait_until(lambda: journal.active_for(deployment.db, server.id) is None, timeout=10,
                   message="the rollback to have ended")
        assert instance_record(deployment, server.id).host == source
        survivor = next(name for name in deployment.conductors if name != dead)
        # it says so once its recovery returned, a moment after the journal's last write
        wait_until(lambda: "recovered migrate workflow" in deployment.log(survivor),
                   timeout=10, message="the survivor to log the recovery")
        assert_consistent(deployment)

        admin.compute.migrate_server(server)   # and it goes on serving
        wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=30)
    finally:
        deployment.close()


def test_a_stopped_compute_shows_down_and_refuses_moves_from_it_with_409(deployment):
    admin = deployment.connect()
    server = create_server(admin)
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=30)
    moved_from = migration_of(deployment, server.id).source_compute
    still_here = create_server(admin, name="on-the-source")
    if instance_record(deployment, still_here.id).host != moved_from:
        admin.compute.migrate_server(still_here, host=moved_from)
        wait_for_status(admin, still_here.id, "VERIFY_RESIZE", timeout=30)
        admin.compute.confirm_server_resize(still_here)
        wait_for_status(admin, still_here.id, "ACTIVE", timeout=30)
    assert deployment.terminate(moved_from) == 0

    def state_of(host: str) -> str:
        return next(s.state for s in admin.compute.services()
                    if s.binary == "nova-compute" and s.host == host)
    wait_until(lambda: state_of(moved_from) == "down", timeout=20,
               message=f"{moved_from} to show down after its heartbeats stopped")

    refused = admin.compute.post(f"/servers/{still_here.id}/action", json={"migrate": None})
    assert refused.status_code == 409
    assert refused.json()["conflictingRequest"]["message"] == \
        "Service is unavailable at this time."
    confirm = admin.compute.post(f"/servers/{server.id}/action", json={"confirmResize": None})
    assert confirm.status_code == 409
    assert confirm.json()["conflictingRequest"]["message"] == "Service is unavailable at this time."

    deployment.restart(moved_from)
    deployment.wait_ready()
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE", timeout=30)
    assert_consistent(deployment)


def test_a_compute_killed_after_replying_answers_the_redelivered_call_without_running_it(
        deployment):
    """The destination replies to prep_resize and is killed before its acknowledgement goes
    out: the broker hands the call to the restarted host, which finds its reply on disk and
    sends it again instead of claiming a second time. The move goes on and confirms."""
    admin = deployment.connect()
    server = create_server(admin)
    deployment.hold("*", "replied.prep_resize")
    admin.compute.migrate_server(server)
    dest, _ = deployment.wait_reached("replied.prep_resize")
    deployment.kill(dest)
    deployment.clear_holds()
    deployment.restart(dest)

    wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=60)
    log = deployment.log(dest)
    assert log.count("Stashing vm_state") == 1
    assert "prep_resize was already done; replying again" in log
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE", timeout=30)
    assert_consistent(deployment)
