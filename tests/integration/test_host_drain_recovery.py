"""A host drain outlives its conductor: killed with SIGKILL mid-drain, the conductor restarted
(or another one, once the lease ran out) carries the job on where it stood, and every server
ends moved, once, in the distributed deployment (separate processes on RabbitMQ), and
every change of the job is notified, once."""
from collections import Counter
from contextlib import contextmanager
from types import SimpleNamespace

from herder.db import host_drains
from tests.functional.host_drain_api import servers_on, show, start, wait_finished
from tests.functional.observe import (NotificationListener, assert_consistent,
                                      instance_record, wait_until)
from tests.integration.deployment import ADMIN_TOKEN, Deployment

SERVERS = 6


def api_of(deployment: Deployment) -> SimpleNamespace:
    """What the host drain helpers need of a cloud: its endpoint and admin token."""
    return SimpleNamespace(endpoint=deployment.endpoint,
                           conf=SimpleNamespace(admin_token=ADMIN_TOKEN))


def drain_until_some_moved(deployment: Deployment) -> tuple[dict, list[str]]:
    """A drain of compute1 (one move at a time, auto-confirmed) once two of its servers moved
    and others still wait."""
    admin = deployment.connect()
    servers = servers_on(admin, "compute1", SERVERS)
    api = api_of(deployment)
    job = start(api, "compute1", max_per_source=1, auto_confirm=True)
    wait_until(lambda: show(api, job["id"])["servers_by_state"]["moved"] >= 2, timeout=60,
               message="two servers drained")
    assert show(api, job["id"])["servers_by_state"]["waiting"] >= 1
    return job, servers


def assert_drained(deployment: Deployment, job: dict, servers: list[str]) -> None:
    done = wait_finished(api_of(deployment), job["id"], timeout=120)
    assert done["status"] == "completed"
    assert done["servers_by_state"]["moved"] == SERVERS, done
    for server in done["servers"]:
        assert instance_record(deployment, server["server_id"]).host == \
            server["destination_host"] != "compute1"
    # each server moved once: a move the kill cut short was rolled back (error) and asked
    # for again; none was asked for twice at once across the takeover
    admin = deployment.connect()
    for server_id in servers:
        statuses = sorted(m.status for m in admin.compute.migrations(instance_uuid=server_id))
        assert statuses.count("confirmed") == 1, statuses
        assert set(statuses) <= {"confirmed", "error"}, statuses
    assert_consistent(deployment)


@contextmanager
def listening(deployment: Deployment):
    bus = deployment.bus()
    listener = NotificationListener(bus)
    try:
        yield listener
    finally:
        listener.stop()
        bus.close()


def assert_notified_once(listener: NotificationListener, job: dict, servers: list[str]) -> None:
    """The job's start, each server's result and its end, each once; but one notification
    may come twice: the one a killed conductor had sent and not yet marked sent."""
    def of_job(n: dict) -> bool:
        data = n["payload"]["nova_object.data"]
        return job["id"] in (data.get("uuid"), data.get("host_drain_uuid"))
    wait_until(lambda: any(n["event_type"] == "host_drain.end" and of_job(n)
                           for n in listener.received), timeout=30, message="host_drain.end")
    sent = Counter((n["event_type"], n["payload"]["nova_object.data"].get("instance_uuid"))
                   for n in listener.received if of_job(n))
    assert set(sent) == {("host_drain.start", None), ("host_drain.end", None),
                         *(("host_drain.server.end", server) for server in servers)}, sent
    assert sum(sent.values()) - len(sent) <= 1, sent


def test_a_conductor_killed_mid_drain_finishes_it_after_its_restart(rabbitmq, tmp_path):
    deployment = Deployment(tmp_path, conductor={"host_drain_interval": 0.2})
    try:
        deployment.start_all()
        with listening(deployment) as listener:
            job, servers = drain_until_some_moved(deployment)
            deployment.kill("conductor")
            deployment.restart("conductor")
            assert_drained(deployment, job, servers)
            assert_notified_once(listener, job, servers)
        # the restarted process took the job over at once (its earlier process is dead)
        assert "(was conductor:" in deployment.log("conductor")
    finally:
        deployment.close()


def test_another_conductor_takes_the_drain_over_once_the_lease_ran_out(rabbitmq, tmp_path):
    deployment = Deployment(tmp_path, conductors=2, conductor={"host_drain_interval": 0.2},
                            workflow={"lease_seconds": 3, "recovery_interval": 0.5})
    try:
        deployment.start_all()
        with listening(deployment) as listener:
            job, servers = drain_until_some_moved(deployment)
            driver = host_drains.get(deployment.db, job["id"]).owner.rpartition(":")[0]
            deployment.kill(driver)   # and never started again
            assert_drained(deployment, job, servers)
            assert_notified_once(listener, job, servers)
        survivor = next(name for name in deployment.conductors if name != driver)
        assert f"(was {driver}:" in deployment.log(survivor)
    finally:
        deployment.close()
