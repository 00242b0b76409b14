"""The services ride out a RabbitMQ outage (a broker restart, a network blip): their consumers
reconnect, their publishers retry, and the cloud moves servers afterwards as before."""
import threading
import time

import pytest

from tests.functional.observe import assert_consistent, create_server, wait_for_status
from tests.integration.outage_relay import (OutageRelay, migrate_held_before,
                                            migrate_held_in_the_copy, moves_work,
                                            relayed_deployment)

OUTAGE_SECONDS = 3
# longer than a publisher's few seconds of retries, shorter than the deployment's rpc_timeout
OUTAGE_PAST_THE_RETRIES = 9


@pytest.fixture
def relayed(rabbitmq, tmp_path):
    """A deployment whose every service reaches the broker through an OutageRelay."""
    relay = OutageRelay(("127.0.0.1", 5672))
    yield from relayed_deployment(relay, tmp_path,
                                  messaging={"transport_url": relay.broker_url()})


# 3 s: within what a publisher retries; 20 s: a broker restart, past every retry, so that
# each service's next publish (its heartbeat first) must start on a new connection
@pytest.mark.parametrize("outage_seconds", [OUTAGE_SECONDS, 20])
def test_after_a_broker_outage_every_service_reconnects_and_moves_work(relayed,
                                                                       outage_seconds):
    deployment, relay = relayed
    admin = deployment.connect()
    server = create_server(admin)

    relay.outage()
    time.sleep(outage_seconds)
    relay.restore()

    deployment.wait_ready()          # every compute's heartbeat reaches the conductor again
    moves_work(deployment, admin, server, timeout=30)


def test_a_move_in_flight_during_a_broker_outage_completes(relayed):
    """The conductor waits on the source's resize_instance while the broker is away: the reply
    waits in the conductor's reply queue, which outlives the dropped connection."""
    deployment, relay = relayed
    admin = deployment.connect()
    server = create_server(admin)
    source = migrate_held_in_the_copy(deployment, admin, server)

    relay.outage()
    time.sleep(OUTAGE_SECONDS)
    relay.restore()
    deployment.wait_ready()
    deployment.release(source, "copy_disk")

    wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=30)
    # the broker hands back the calls whose acknowledgement the outage took: the hosts answer
    # them again instead of running a step twice (a second prep_resize would claim again)
    assert deployment.log(source).count("Starting migrate_disk_and_power_off") == 1
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE", timeout=30)
    assert_consistent(deployment)


def test_a_request_the_api_takes_while_the_broker_is_away_is_carried_out_after(relayed):
    """The api records the request with the server's task state, so it answers 202 without
    waiting out the broker; once the broker is back, a conductor sends the recorded request
    again (request_resend_after, then its next recovery round: 10 s each by default) and it
    runs. Before requests were recorded, the api answered 500 after a few seconds and left the
    server in its task state until a conductor gave the request up (lost_request_timeout,
    5 minutes)."""
    deployment, relay = relayed
    admin = deployment.connect()
    server = create_server(admin)

    relay.outage()
    threading.Timer(OUTAGE_PAST_THE_RETRIES, relay.restore).start()
    started = time.monotonic()
    admin.compute.stop_server(server)          # 202: recorded, its cast refused
    assert time.monotonic() - started < OUTAGE_PAST_THE_RETRIES

    stopped = wait_for_status(admin, server.id, "SHUTOFF", timeout=OUTAGE_PAST_THE_RETRIES + 40)
    assert stopped.task_state is None
    deployment.wait_ready()
    assert_consistent(deployment)


def test_a_step_that_calls_a_host_while_the_broker_is_away_waits_for_it(relayed):
    """The conductor sends a step's call to a host during the outage: sending waits for the
    broker (up to the call's timeout) instead of failing the step after a few seconds: the
    move rolled back, or, when its rollback's calls failed as well, ended in ERROR with its
    files left on the destination."""
    deployment, relay = relayed
    admin = deployment.connect()
    server = create_server(admin)
    owner = migrate_held_before(deployment, admin, server, "finish_resize")

    relay.outage()
    deployment.release(owner, "migrate.finish_resize")   # its call goes out into the outage
    time.sleep(OUTAGE_PAST_THE_RETRIES)
    relay.restore()

    wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=60)
    deployment.wait_ready()
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE", timeout=30)
    assert_consistent(deployment)
