"""The services ride out the database going away (a PostgreSQL or MariaDB restart, a dropped
connection): the api answers 503 in the Compute API's format while it is away, and afterwards
every service works on new connections, and moves work as before.

The services reach the database through an OutageRelay; the test keeps a direct connection of
its own to check the data. Needs a database server (HERDER_TEST_DB=postgresql or mysql).
"""
import time

import pytest
import requests
from sqlalchemy import select

from herder.db import journal
from herder.db.models import Workflow
from tests import databases
from tests.functional.observe import (assert_consistent, create_server, wait_for_status,
                                      wait_until)
from tests.integration.deployment import ADMIN_TOKEN
from tests.integration.outage_relay import (OutageRelay, migrate_held_before,
                                            migrate_held_in_the_copy, moves_work,
                                            relayed_deployment)

OUTAGE_SECONDS = 17   # as long as a database server's restart takes

pytestmark = pytest.mark.skipif(databases.SERVER is None,
                                reason="needs a database server (HERDER_TEST_DB)")


@pytest.fixture
def relayed(rabbitmq, tmp_path):
    """A deployment whose every service reaches the database through an OutageRelay."""
    port = databases.SERVER.url.port or {"postgresql": 5432}.get(
        databases.SERVER.url.get_backend_name(), 3306)
    relay = OutageRelay(("127.0.0.1", port))
    yield from relayed_deployment(relay, tmp_path, services_reach_database=relay.database_url)


def _servers(deployment) -> requests.Response:
    return requests.get(f"{deployment.endpoint}/v2.1/servers",
                        headers={"X-Auth-Token": ADMIN_TOKEN}, timeout=30)


def test_while_the_database_is_away_the_api_says_503_and_afterwards_all_works(relayed):
    deployment, relay = relayed
    admin = deployment.connect()
    server = create_server(admin)

    relay.outage()
    try:
        away = _servers(deployment)
        assert away.status_code == 503
        assert away.json()["serviceUnavailable"]["message"] == \
            "The database is unavailable; try again later."
        time.sleep(OUTAGE_SECONDS)
    finally:
        relay.restore()

    deadline = time.monotonic() + 30
    while _servers(deployment).status_code != 200:
        assert time.monotonic() < deadline, "the api did not recover"
        time.sleep(0.5)
    deployment.wait_ready()      # every compute's heartbeat is written again
    moves_work(deployment, admin, server, timeout=60)
    for name in deployment.processes:
        assert "PendingRollbackError" not in deployment.log(name), name


def test_a_move_in_flight_while_the_database_is_away_settles(relayed):
    deployment, relay = relayed
    admin = deployment.connect()
    server = create_server(admin)
    source = migrate_held_in_the_copy(deployment, admin, server)

    relay.outage()
    time.sleep(OUTAGE_SECONDS)
    relay.restore()
    deployment.release(source, "copy_disk")

    settled = wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=120)
    assert settled.compute_host != source
    deployment.wait_ready()   # a confirm needs the source's service up: heartbeats written again
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE", timeout=60)
    assert_consistent(deployment)
    for name in deployment.processes:
        assert "PendingRollbackError" not in deployment.log(name), name


def test_a_move_whose_journal_write_the_outage_fails_is_recovered_after(relayed):
    """The database goes away between two steps of a move: the conductor cannot record the
    step done, and its run of the move stops there. The conductor is alive and keeps the
    move's lease, so no other conductor would adopt it: it recovers the move itself once the
    database is back, instead of leaving the server in RESIZE until its own restart."""
    deployment, relay = relayed
    admin = deployment.connect()
    server = create_server(admin)
    owner = migrate_held_before(deployment, admin, server, "finish_resize")

    relay.outage()
    try:
        deployment.release(owner, "migrate.finish_resize")
        time.sleep(5)     # the step ran; recording it done failed
    finally:
        relay.restore()

    settled = wait_until(lambda: _at_rest(admin, server.id), timeout=90,
                         message="the server at rest")
    assert settled.status in ("ACTIVE", "VERIFY_RESIZE")
    deployment.wait_ready()
    assert_consistent(deployment)


def test_a_build_caught_in_the_outage_is_built_again_and_goes_active(relayed):
    """The database goes away while a new server's guest is being created: the conductor
    cannot record the guest running. Once the database is back, the build is undone (the
    guest destroyed, its allocation released) and started again, instead of leaving the
    server in ERROR."""
    deployment, relay = relayed
    admin = deployment.connect()
    deployment.hold("*", "spawn")
    image = admin.image.find_image("herder-guest")
    server = admin.compute.create_server(name="caught", image_id=image.id, networks="auto",
                                         flavor_id=admin.compute.find_flavor("m1.tiny").id)
    host, _ = deployment.wait_reached("spawn")

    relay.outage()
    try:
        deployment.release(host, "spawn")
        time.sleep(OUTAGE_SECONDS)
    finally:
        relay.restore()

    wait_for_status(admin, server.id, "ACTIVE", timeout=120)
    # the server shows ACTIVE a moment before its build's last journal write
    wait_until(lambda: journal.active_for(deployment.db, server.id) is None,
               message="the build to have ended")
    with deployment.db.transaction() as session:
        builds = list(session.scalars(select(Workflow.status).where(
            Workflow.instance_uuid == server.id, Workflow.kind == "build")
            .order_by(Workflow.id)))
    assert builds == [journal.ROLLED_BACK, journal.COMPLETED]
    deployment.wait_ready()
    assert_consistent(deployment)


def _at_rest(admin, server_id):
    server = admin.compute.get_server(server_id)
    return server if server.status in ("ACTIVE", "VERIFY_RESIZE") and not server.task_state \
        else None
