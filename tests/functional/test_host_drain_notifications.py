"""The versioned notifications of host drain and restore jobs, through herder's API over HTTP
and a listener on the bus: one per change of a job and one per server's result, each once,
in order, with what the job's show says."""
from datetime import datetime

import pytest
from sqlalchemy import update

from herder.db import host_drains
from herder.db.models import HostDrain
from tests.conftest import connect, make_cloud
from tests.functional.host_drain_api import act, call, servers_on, show, wait_finished
from tests.functional.observe import NotificationListener, instance_record, wait_until


@pytest.fixture
def cloud(tmp_path):
    cloud = make_cloud(tmp_path, conductor__host_drain_interval=0.05)
    yield cloud
    cloud.stop()


@pytest.fixture
def admin(cloud):
    return connect(cloud, cloud.conf.admin_token)


def start_job(cloud, host: str, **options) -> tuple[dict, str]:
    """The job and the request id of the request that created it."""
    answer = call(cloud, "POST", body={"host_drain": {"host": host, **options}})
    assert answer.status_code == 202, answer.text
    return answer.json()["host_drain"], answer.headers["x-openstack-request-id"]


def job_notifications(listener: NotificationListener, job_id: str) -> list[dict]:
    """The job's notifications received so far, in order."""
    return [n for n in listener.received if n["event_type"].startswith("host_drain.")
            and job_id in (n["payload"]["nova_object.data"].get("uuid"),
                           n["payload"]["nova_object.data"].get("host_drain_uuid"))]


def wait_for_end(listener: NotificationListener, job_id: str) -> list[dict]:
    wait_until(lambda: any(n["event_type"] == "host_drain.end"
                           for n in job_notifications(listener, job_id)))
    return job_notifications(listener, job_id)


def data(notification: dict) -> dict:
    return notification["payload"]["nova_object.data"]


def only(found: list[dict], event_type: str) -> dict:
    (one,) = [n for n in found if n["event_type"] == event_type]
    return one


def test_a_drain_notifies_its_start_each_servers_result_and_its_end(cloud, admin,
                                                                    notifications):
    plain = servers_on(admin, "compute1", 2)
    (locked,) = servers_on(admin, "compute1", 1)
    admin.compute.lock_server(locked, locked_reason="license check")
    job, request_id = start_job(cloud, "compute1", reason="kernel upgrade", max_per_source=2,
                                auto_confirm=True)
    done = wait_finished(cloud, job["id"])
    found = wait_for_end(notifications, job["id"])

    assert [n["event_type"] for n in found][0] == "host_drain.start"
    assert [n["event_type"] for n in found][-1] == "host_drain.end"
    assert {n["publisher_id"] for n in found} == {f"herder-conductor:{cloud.host_name}"}
    assert len({n["message_id"] for n in found}) == len(found) == 5
    started = only(found, "host_drain.start")
    assert (started["priority"], started["payload"]["nova_object.name"],
            started["payload"]["nova_object.namespace"],
            started["payload"]["nova_object.version"]) == \
        ("INFO", "HostDrainPayload", "herder", "1.0")
    assert {key: data(started)[key] for key in (
        "uuid", "kind", "host", "status", "reason", "disabled_reason", "max_per_source",
        "max_per_destination", "auto_confirm", "servers_total", "request_id")} == {
        "uuid": job["id"], "kind": "drain", "host": "compute1", "status": "running",
        "reason": "kernel upgrade", "disabled_reason": "kernel upgrade", "max_per_source": 2,
        "max_per_destination": 2, "auto_confirm": True, "servers_total": 3,
        "request_id": request_id}
    assert data(started)["servers_by_state"]["waiting"] == 2
    assert data(started)["servers_by_state"]["skipped"] == 1
    assert data(started)["user_id"] == done["user_id"]

    results = {data(n)["instance_uuid"]: n for n in found
               if n["event_type"] == "host_drain.server.end"}
    assert set(results) == {*plain, locked}
    skipped = data(results[locked])
    assert (skipped["result"], skipped["reason"], skipped["source_host"],
            skipped["migration_uuid"]) == ("skipped", "locked: license check", "compute1", None)
    shown = {s["server_id"]: s for s in done["servers"]}
    for server_id in plain:
        moved = data(results[server_id])
        assert results[server_id]["payload"]["nova_object.name"] == "HostDrainServerPayload"
        assert (moved["host_drain_uuid"], moved["kind"], moved["result"],
                moved["source_host"]) == (job["id"], "drain", "moved", "compute1")
        assert moved["destination_host"] == instance_record(cloud, server_id).host != "compute1"
        assert moved["migration_uuid"] == shown[server_id]["migration_id"] is not None
        assert moved["reason"] == f"moved to {moved['destination_host']}"

    ended = data(only(found, "host_drain.end"))
    assert (ended["status"], ended["finished_at"], ended["request_id"]) == \
        ("completed", done["finished_at"], None)
    assert ended["servers_by_state"] == done["servers_by_state"]
    assert (ended["servers_by_state"]["moved"], ended["servers_by_state"]["skipped"]) == (2, 1)


def test_pause_resume_and_cancel_are_notified_once_each_with_who_asked(cloud, admin,
                                                                       notifications):
    servers_on(admin, "compute1", 3)
    job, _ = start_job(cloud, "compute1", max_per_source=1)
    asked = {}
    for action in ("pause", "resume"):
        answer = act(cloud, job["id"], action)
        assert answer.status_code == 202, answer.text
        asked[action] = answer.headers["x-openstack-request-id"]
    wait_until(lambda: show(cloud, job["id"])["servers_by_state"]["moving"] == 1)
    answer = act(cloud, job["id"], "cancel")
    assert answer.status_code == 202, answer.text
    asked["cancel"] = answer.headers["x-openstack-request-id"]
    done = wait_finished(cloud, job["id"])
    found = wait_for_end(notifications, job["id"])

    job_events = [n["event_type"] for n in found if ".server." not in n["event_type"]]
    assert job_events == ["host_drain.start", "host_drain.pause", "host_drain.resume",
                          "host_drain.cancel", "host_drain.end"]
    for action, status in (("pause", "paused"), ("resume", "running"),
                           ("cancel", "cancelling")):
        payload = data(only(found, f"host_drain.{action}"))
        assert (payload["status"], payload["request_id"], payload["action_initiator_user"]) \
            == (status, asked[action], "admin"), action
    results = {data(n)["instance_uuid"]: data(n) for n in found if ".server." in n["event_type"]}
    assert len(results) == 3
    for server in done["servers"]:
        assert (results[server["server_id"]]["result"], results[server["server_id"]]["reason"]) \
            == (server["state"], server["reason"])
    assert "cancelled" in {r["result"] for r in results.values()}
    ended = data(only(found, "host_drain.end"))
    assert (ended["status"], ended["servers_by_state"]) == ("cancelled", done["servers_by_state"])


def test_a_server_no_host_can_take_is_notified_as_an_error(cloud, admin, notifications):
    (server,) = servers_on(admin, "compute1", 1)
    for host in ("compute2", "compute3"):
        admin.compute.disable_service(admin.compute.find_service("nova-compute", host=host),
                                      host=host, binary="nova-compute")
    job, _ = start_job(cloud, "compute1")
    done = wait_finished(cloud, job["id"])
    found = wait_for_end(notifications, job["id"])

    failed = only(found, "host_drain.server.error")
    assert failed["priority"] == "ERROR"
    assert (data(failed)["instance_uuid"], data(failed)["result"]) == (server, "failed")
    assert data(failed)["reason"] == done["servers"][0]["reason"]
    assert data(failed)["reason"].startswith("no host can take it: ")
    assert data(only(found, "host_drain.end"))["servers_by_state"]["failed"] == 1


def test_a_notification_the_bus_refused_is_sent_at_the_next_look_once_and_in_order(
        cloud, admin, notifications, monkeypatch):
    servers_on(admin, "compute1", 1)
    notifier = cloud.conductor.svc.notifier
    refused = []
    send = notifier.send

    def refuse_the_first(priority, event_type, payload, timestamp=None):
        if not refused:
            refused.append(event_type)
            raise ConnectionError("the broker is away")
        send(priority, event_type, payload, timestamp)

    monkeypatch.setattr(notifier, "send", refuse_the_first)
    job, _ = start_job(cloud, "compute1", auto_confirm=True)
    wait_finished(cloud, job["id"])
    found = wait_for_end(notifications, job["id"])

    assert refused == ["host_drain.start"]
    assert [n["event_type"] for n in found] == ["host_drain.start", "host_drain.server.end",
                                                "host_drain.end"]
    assert host_drains.unsent_notifications(cloud.db, job["id"]) == []


def test_a_restore_notifies_as_a_job_of_kind_restore(cloud, admin, notifications):
    (server,) = servers_on(admin, "compute1", 1)
    job, _ = start_job(cloud, "compute1", auto_confirm=True)
    wait_finished(cloud, job["id"])
    answer = call(cloud, "POST", f"/{job['id']}/restore", {"restore": None})
    assert answer.status_code == 202, answer.text
    restore = answer.json()["host_drain"]
    wait_finished(cloud, restore["id"])
    found = wait_for_end(notifications, restore["id"])

    started = data(only(found, "host_drain.start"))
    assert (started["kind"], started["drain_uuid"], started["disabled_reason"]) == \
        ("restore", job["id"], None)
    back = data(only(found, "host_drain.server.end"))
    assert (back["instance_uuid"], back["result"], back["destination_host"]) == \
        (server, "moved", "compute1")


def test_a_finished_job_whose_conductor_died_before_sending_is_sent_by_the_next_one(
        cloud, admin, notifications, monkeypatch):
    """The conductor that finished the job sent none of its notifications (the bus refused
    them all) and is gone: another conductor, once the lease ran out, sends them all, once
    each and in order."""
    servers_on(admin, "compute1", 1)
    notifier = cloud.conductor.svc.notifier
    send = notifier.send
    bus_away = [True]

    def send_unless_away(priority, event_type, payload, timestamp=None):
        if bus_away[0]:
            raise ConnectionError("the broker is away")
        send(priority, event_type, payload, timestamp)

    monkeypatch.setattr(notifier, "send", send_unless_away)
    job, _ = start_job(cloud, "compute1", auto_confirm=True)
    wait_finished(cloud, job["id"])
    # the job's conductor dies: its lease is another host's and runs out
    with cloud.db.transaction() as session:
        session.execute(update(HostDrain).where(HostDrain.uuid == job["id"]).values(
            owner="gone-conductor:0123456789ab", lease_until=datetime(2000, 1, 1)))
    assert job_notifications(notifications, job["id"]) == []
    bus_away[0] = False
    found = wait_for_end(notifications, job["id"])

    assert [n["event_type"] for n in found] == ["host_drain.start", "host_drain.server.end",
                                                "host_drain.end"]
    assert show(cloud, job["id"])["conductor"] == cloud.conductor.incarnation
