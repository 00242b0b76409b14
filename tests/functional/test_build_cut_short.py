"""A build cut short by something that passes (the database lost mid-step, here) is undone and
started again, up to `[workflow] build_attempts`, instead of leaving the server in ERROR; a
build that fails for a reason of its own still ends in ERROR at once.

The lost database is a write that raises what SQLAlchemy raises when the connection to the
database server drops (tests/integration/test_database_outage.py has a real outage)."""
import sqlalchemy.exc

from sqlalchemy import select

from herder import states
from herder.db import instances, journal
from herder.db.models import Workflow
from tests.functional.observe import (assert_consistent, instance_record, wait_for_status,
                                      wait_until)


def _lose_the_database_on_spawn_writes(monkeypatch, times: int) -> list[str]:
    """The next `times` writes that record a spawned guest ACTIVE fail as a dropped connection
    does; returns the servers whose writes failed, once per failure."""
    real_update = instances.update
    failed: list[str] = []

    def update(db, uuid, expected=None, **values):
        if expected == {"task_state": states.SPAWNING} and len(failed) < times:
            failed.append(uuid)
            raise sqlalchemy.exc.OperationalError(
                "UPDATE instances ...", {}, Exception("server closed the connection unexpectedly"))
        return real_update(db, uuid, expected, **values)

    monkeypatch.setattr(instances, "update", update)
    return failed


def _create(demo):
    image = demo.image.find_image("herder-guest")
    return demo.compute.create_server(name="vm", image_id=image.id, networks="auto",
                                      flavor_id=demo.compute.find_flavor("m1.tiny").id)


def _builds(cloud, server_id: str) -> list[str]:
    """The statuses of the server's builds, once none is under way: the server shows ACTIVE or
    ERROR a moment before its build's last journal write."""
    wait_until(lambda: journal.active_for(cloud.db, server_id) is None,
               message="the build to have ended")
    with cloud.db.transaction() as session:
        return list(session.scalars(select(Workflow.status).where(
            Workflow.instance_uuid == server_id, Workflow.kind == "build")
            .order_by(Workflow.id)))


def _build_events(cloud, admin, server_id: str) -> list[tuple[str, str]]:
    action = admin.compute.get(f"/servers/{server_id}/os-instance-actions",
                               microversion="2.62").json()["instanceActions"][0]
    detail = admin.compute.get(f"/servers/{server_id}/os-instance-actions/"
                               f"{action['request_id']}", microversion="2.62").json()
    return [(event["event"], event["result"]) for event in
            sorted(detail["instanceAction"]["events"], key=lambda event: event["start_time"])]


def test_a_build_that_lost_the_database_is_built_again_and_goes_active(cloud, admin, demo,
                                                                        monkeypatch):
    failed = _lose_the_database_on_spawn_writes(monkeypatch, times=1)
    server = _create(demo)
    wait_for_status(demo, server.id, "ACTIVE")

    assert failed == [server.id]
    assert _builds(cloud, server.id) == [journal.ROLLED_BACK, journal.COMPLETED]
    record = instance_record(cloud, server.id)
    assert (record.vm_state, record.task_state) == (states.ACTIVE, None)
    assert admin.compute.get_server(server.id).compute_host == record.host
    # the create action shows both builds; the guest was spawned each time (the write after
    # the first spawn failed, and the undoing destroyed that guest)
    assert _build_events(cloud, admin, server.id) == 2 * [
        ("conductor_schedule_and_build_instances", "Success"),
        ("compute_build_and_run_instance", "Success")]
    assert_consistent(cloud)


def test_a_build_cut_short_on_every_attempt_ends_in_error_after_the_last(cloud, demo,
                                                                          monkeypatch):
    attempts = cloud.conf.workflow.build_attempts
    failed = _lose_the_database_on_spawn_writes(monkeypatch, times=attempts)
    server = _create(demo)
    errored = wait_for_status(demo, server.id, "ERROR")

    assert failed == [server.id] * attempts
    assert _builds(cloud, server.id) == [journal.ROLLED_BACK] * attempts
    assert "server closed the connection unexpectedly" in errored.fault["message"]
    assert instance_record(cloud, server.id).host is None
    assert_consistent(cloud)


def test_a_build_that_fails_for_its_own_reason_is_not_started_again(cloud, demo):
    for compute in cloud.computes.values():
        compute.driver.fault_points.arm("spawn")
    server = _create(demo)
    errored = wait_for_status(demo, server.id, "ERROR")

    assert _builds(cloud, server.id) == [journal.ROLLED_BACK]
    assert "spawn" in errored.fault["message"]
    wait_until(lambda: instance_record(cloud, server.id).task_state is None,
               message="the build to have ended")
    assert_consistent(cloud)

