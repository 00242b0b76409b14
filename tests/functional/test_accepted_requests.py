"""A request the api accepted runs even when its cast is lost, and runs once.

The api records each request with the server's new task state; a conductor that finds one
still waiting after `[workflow] request_resend_after` seconds casts it again. These tests run
with the production defaults of that delay and of the recovery interval (10 s each), so a
lost request must start within about 20 s.
"""
import logging
from datetime import datetime, timedelta

from sqlalchemy import update

from herder import states
from herder.conductor.rpcapi import ConductorAPI
from herder.context import RequestContext
from herder.db import accepted_requests, instances
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
