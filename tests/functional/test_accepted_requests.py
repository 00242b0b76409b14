"""A request the api accepted runs even when its cast is lost, and runs once.

The api records each request with the server's new task state; a conductor that finds one
still waiting after `[workflow] request_resend_after` seconds casts it again. These tests run
with the production defaults of that delay and of the recovery interval (10 s each), so a
lost request must start within about 20 s.
"""
import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update

from herder import states
from herder.conductor.rpcapi import ConductorAPI
from herder.context import RequestContext
from herder.db import accepted_requests, instances, journal
from herder.db.models import AcceptedRequest, Instance
from tests.functional.observe import (assert_consistent, create_server, instance_record,
                                      wait_for_status, wait_until)

RESEND_BOUND = 35   # request_resend_after + recovery_interval, and time to run the move


def migrate_accepted(cloud, server_id: str) -> str:
    """What the api writes for a migrate it accepts (task state and record, in one
    transaction), without the cast; the request's uuid."""
    with cloud.db.transaction() as session:
        instances.update_in(session, server_id, {"task_state": None},
                            task_state=states.RESIZE_PREP, progress=0)
        return accepted_requests.accept(session, RequestContext(is_admin=True),
                                        "migrate_server", {"instance_uuid": server_id,
                                                           "flavor": None, "host": None})


def test_a_migrate_whose_cast_failed_is_accepted_and_runs_within_seconds(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    cloud.bus.fault_points.arm("cast.migrate_server")     # the broker refuses the api's cast
    answer = admin.compute.post(f"/servers/{server.id}/action", json={"migrate": None})
    assert answer.status_code == 202
    assert admin.compute.get_server(server.id).status == "RESIZE"

    wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=RESEND_BOUND)
    assert instance_record(cloud, server.id).host != source
    assert not accepted_requests.pending_for(cloud.db, server.id)
    assert_consistent(cloud)


def test_a_conductor_that_took_the_cast_and_died_before_journaling_is_stood_in_for(
        cloud, admin):
    server = create_server(admin)
    # the conductor takes the cast off the queue and fails before it journals the workflow,
    # as a conductor killed at that point would
    cloud.conductor.engine.fault_points.arm("migrate.take_request")
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=RESEND_BOUND)
    assert_consistent(cloud)


def test_a_request_sent_twice_runs_once(cloud, admin, caplog):
    server = create_server(admin)
    request_uuid = migrate_accepted(cloud, server.id)
    context = RequestContext(is_admin=True)
    with caplog.at_level(logging.INFO, logger="herder.conductor.engine"):
        for _ in range(2):   # the first cast, and a copy sent again by a conductor
            ConductorAPI(cloud.bus).migrate_server(context, request_uuid=request_uuid,
                                                   instance_uuid=server.id)
        wait_for_status(admin, server.id, "VERIFY_RESIZE")
        wait_until(lambda: "was taken by another conductor already" in caplog.text,
                   message="the second copy to be dropped")
    migrations = admin.compute.get(f"/servers/{server.id}/migrations",
                                   microversion="2.23").json()["migrations"]
    assert len(migrations) == 1
    assert_consistent(cloud)


def test_a_recorded_request_left_by_a_stopped_cloud_runs_when_it_starts_again(tmp_path):
    from tests.conftest import connect, make_cloud
    cloud = make_cloud(tmp_path)
    try:
        admin = connect(cloud, cloud.conf.admin_token)
        server = create_server(admin)
        migrate_accepted(cloud, server.id)   # accepted, and the process stopped before its cast
    finally:
        cloud.stop()
    cloud = make_cloud(tmp_path)   # the only conductor: what was recorded is sent at once
    try:
        admin = connect(cloud, cloud.conf.admin_token)
        wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=10)
        assert_consistent(cloud)
    finally:
        cloud.stop()


def test_a_request_no_conductor_ever_takes_is_given_up_and_the_server_put_back(cloud, admin):
    """A recorded request that fails before its workflow is journaled, every time it is sent,
    must not keep its server in its task state for good: after lost_request_timeout (300 s
    by default) it is given up, and the server is put back as the api found it."""
    server = create_server(admin)
    migrate_accepted(cloud, server.id)
    long_ago = datetime.utcnow() - timedelta(
        seconds=cloud.conf.workflow.lost_request_timeout + 60)
    with cloud.db.transaction() as session:
        session.execute(update(AcceptedRequest).values(accepted_at=long_ago))
        session.execute(update(Instance).where(Instance.uuid == server.id)
                        .values(updated_at=long_ago))
    cloud.conductor.recover()
    assert not accepted_requests.pending_for(cloud.db, server.id)
    back = wait_for_status(admin, server.id, "ACTIVE")
    assert back.task_state is None
    assert "was interrupted by a restart before it started" in \
        instances.latest_fault(cloud.db, server.id).message
    assert_consistent(cloud)


def test_a_request_waiting_in_a_busy_conductor_is_held_not_sent_again_nor_given_up(tmp_path):
    """Under a burst, a cast waits in its conductor behind the requests taken before it, for
    longer than request_resend_after (and, with enough of them, than lost_request_timeout).
    Such a request is not lost: the conductor holds it, and it runs once, when its turn comes."""
    from tests.conftest import connect, make_cloud
    cloud = make_cloud(tmp_path, conductor__workers=1)
    try:
        admin = connect(cloud, cloud.conf.admin_token)
        busy, waiting = create_server(admin), create_server(admin)
        # the conductor's only worker runs the first move, held at the destination's prep
        holds = [compute.driver.fault_points.hold("prep_resize")
                 for compute in cloud.computes.values()]
        admin.compute.migrate_server(busy)
        wait_until(lambda: any(hold.is_reached() for hold in holds),
                   message="the first move to reach its destination")
        admin.compute.migrate_server(waiting)   # taken by the conductor, waits for the worker
        [record] = [r for r in accepted_requests.overdue(cloud.db, datetime.utcnow(), None)
                    if r.instance_uuid == waiting.id]
        wait_until(lambda: _held_until(cloud, record.uuid) is not None,
                   message="the conductor to hold the request it took")
        # as if it had waited longer than lost_request_timeout
        long_ago = datetime.utcnow() - timedelta(
            seconds=cloud.conf.workflow.lost_request_timeout + 60)
        with cloud.db.transaction() as session:
            session.execute(update(AcceptedRequest).where(AcceptedRequest.uuid == record.uuid)
                            .values(accepted_at=long_ago))
        cloud.conductor.recover()

        assert accepted_requests.pending_for(cloud.db, waiting.id)   # not given up
        [still] = [r for r in accepted_requests.overdue(cloud.db, datetime.utcnow(), None)
                   if r.uuid == record.uuid]
        assert still.resent_at is None                                 # nor sent again
        assert admin.compute.get_server(waiting.id).status == "RESIZE"
        for hold in holds:
            hold.release()
        wait_for_status(admin, busy.id, "VERIFY_RESIZE")
        wait_for_status(admin, waiting.id, "VERIFY_RESIZE")
        assert journal.count_of_kind(cloud.db, waiting.id, "migrate") == 1
        assert_consistent(cloud)
    finally:
        cloud.stop()


def _held_until(cloud, request_uuid: str):
    with cloud.db.transaction() as session:
        return session.scalar(select(AcceptedRequest.held_until)
                              .where(AcceptedRequest.uuid == request_uuid))
