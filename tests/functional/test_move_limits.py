"""Per-host move limits: `[compute] max_concurrent_migrations` is how many moves a host takes
part in at once, as source or destination. Moves over the limit wait in order (migration
`queued`, task_state resize_queued, status RESIZE) and go on by themselves when their hosts
have room; a waiting move can be aborted or its server deleted; a waiting move survives
kill -9 of `herder serve`."""
import time
from collections import defaultdict
from datetime import datetime

import pytest
import requests

from herder import states
from herder.db.models import MoveSlot
from tests.conftest import connect, make_cloud
from tests.functional.observe import (assert_consistent, create_server, events_by_name,
                                      instance_record, migration_of, stray_move_slots,
                                      wait_for_status, wait_until)
from tests.functional.serve_process import ServeProcess, free_port

MIGRATIONS_VERSION = "2.80"


@pytest.fixture
def one_move_per_host(tmp_path):
    """Three hosts, each in one move at a time, whose power-off takes long enough for the
    moves to meet."""
    cloud = make_cloud(tmp_path, compute__max_concurrent_migrations=1,
                       compute__fake_power_off_seconds=0.3)
    yield cloud
    cloud.stop()


def listed_migration(conn, server_id: str) -> dict:
    """The server's migration as GET /os-migrations shows it (admin)."""
    resp = conn.compute.get(f"/os-migrations?instance_uuid={server_id}",
                            microversion=MIGRATIONS_VERSION)
    assert resp.status_code == 200, resp.text
    return max(resp.json()["migrations"], key=lambda m: m["id"])


def waiting_in_the_queue(conn, server_id: str) -> bool:
    server = conn.compute.get_server(server_id)
    return server.status == "RESIZE" and server.task_state == states.RESIZE_QUEUED and \
        listed_migration(conn, server_id)["status"] == states.MIGRATION_QUEUED


def at_work(conn, server_id: str) -> tuple[str, datetime, datetime]:
    """When a finished move worked on its hosts: from the destination's prep to the end of its
    finish (the move holds its slots from before the one to after the other)."""
    events = events_by_name(conn, server_id, "migrate")
    return (server_id, datetime.fromisoformat(events["compute_prep_resize"]["start_time"]),
            datetime.fromisoformat(events["compute_finish_resize"]["finish_time"]))


def most_at_once(intervals: list[tuple[datetime, datetime]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, change in edges:   # an end sorts before a start at the same instant
        current += change
        most = max(most, current)
    return most


def moves_at_once_per_host(cloud, conn, servers) -> dict[str, int]:
    """For each host, the most of the servers' finished moves that worked on it at once."""
    intervals_by_host = defaultdict(list)
    for server in servers:
        _, start, end = at_work(conn, server.id)
        move = migration_of(cloud, server.id)
        for host in (move.source_compute, move.dest_compute):
            intervals_by_host[host].append((start, end))
    return {host: most_at_once(spans) for host, spans in intervals_by_host.items()}


def test_moves_over_a_hosts_limit_wait_in_order_and_never_overlap(one_move_per_host):
    cloud = one_move_per_host
    admin = connect(cloud, cloud.conf.admin_token)
    servers = [create_server(admin, name=f"vm{n}") for n in range(4)]
    for server in servers:
        admin.compute.migrate_server(server)

    # with 3 hosts and one move each, no two moves (two hosts each) can run together
    wait_until(lambda: sum(waiting_in_the_queue(admin, s.id) for s in servers) >= 2,
               message="moves waiting in the queue")
    for server in servers:
        wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=60)

    at_once = moves_at_once_per_host(cloud, admin, servers)
    assert at_once == dict.fromkeys(at_once, 1)
    for server in servers:
        admin.compute.confirm_server_resize(server)
    for server in servers:
        wait_for_status(admin, server.id, "ACTIVE")
    assert_consistent(cloud)


def test_moves_within_the_limit_do_not_wait(tmp_path):
    cloud = make_cloud(tmp_path, compute__max_concurrent_migrations=2,
                       compute__fake_power_off_seconds=0.5)
    try:
        admin = connect(cloud, cloud.conf.admin_token)
        first, second = create_server(admin, name="a"), create_server(admin, name="b")
        for server in (first, second):
            admin.compute.migrate_server(server)
        for server in (first, second):
            wait_for_status(admin, server.id, "VERIFY_RESIZE", timeout=30)
        # two moves over three hosts share at most one host, which takes two: neither
        # waited for the other, so their work on the hosts overlapped
        assert most_at_once([at_work(admin, s.id)[1:] for s in (first, second)]) == 2
    finally:
        cloud.stop()


def _one_move_held_and_one_waiting(cloud, admin):
    """A move held in its source's power-off, and a second server whose move waits for it
    (on three hosts, the second move needs one of the first one's two hosts)."""
    held, waiting = create_server(admin, name="held"), create_server(admin, name="waiting")
    holds = [compute.driver.fault_points.hold("power_off") for compute in cloud.computes.values()]
    admin.compute.migrate_server(held)
    wait_until(lambda: any(h._reached.is_set() for h in holds), message="the power-off held")
    admin.compute.migrate_server(waiting)
    wait_until(lambda: waiting_in_the_queue(admin, waiting.id), message="the second move queued")
    return held, waiting, holds


def test_a_waiting_move_can_be_aborted_and_the_move_it_waited_for_goes_on(one_move_per_host):
    cloud = one_move_per_host
    admin = connect(cloud, cloud.conf.admin_token)
    held, waiting, holds = _one_move_held_and_one_waiting(cloud, admin)
    source = instance_record(cloud, waiting.id).host

    resp = admin.compute.delete(
        f"/servers/{waiting.id}/migrations/{listed_migration(admin, waiting.id)['id']}",
        microversion="2.24")
    assert resp.status_code == 202, resp.text
    back = wait_until(lambda: (s := admin.compute.get_server(waiting.id)).status == "ACTIVE"
                      and s.task_state is None and s, message="the aborted move rolled back")
    assert back.fault is None
    assert instance_record(cloud, waiting.id).host == source
    assert listed_migration(admin, waiting.id)["status"] == states.MIGRATION_CANCELLED

    for hold in holds:
        hold.release()
    wait_for_status(admin, held.id, "VERIFY_RESIZE", timeout=30)
    assert_consistent(cloud)


def test_deleting_a_server_whose_move_waits_deletes_it(one_move_per_host):
    cloud = one_move_per_host
    admin = connect(cloud, cloud.conf.admin_token)
    held, waiting, holds = _one_move_held_and_one_waiting(cloud, admin)

    admin.compute.delete_server(waiting)
    wait_until(lambda: admin.compute.find_server(waiting.id) is None, timeout=30,
               message="the waiting server deleted")
    assert migration_of(cloud, waiting.id).status == states.MIGRATION_CANCELLED

    for hold in holds:
        hold.release()
    wait_for_status(admin, held.id, "VERIFY_RESIZE", timeout=30)
    assert_consistent(cloud)


def _api(server: ServeProcess, method: str, path: str, microversion: str = "2.80", **kwargs):
    return requests.request(method, f"{server.endpoint}/v2.1{path}", timeout=10, headers={
        "X-Auth-Token": "herder-admin-token",
        "OpenStack-API-Version": f"compute {microversion}"}, **kwargs)


def _wait(server: ServeProcess, server_id: str, predicate, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = _api(server, "GET", f"/servers/{server_id}").json()["server"]
        if predicate(body):
            return body
        assert time.monotonic() < deadline, f"server never matched: {body}"
        time.sleep(0.05)


def test_a_waiting_move_goes_on_after_kill_9_and_a_restart(tmp_path):
    state_dir, port = str(tmp_path / "state"), free_port()
    config = tmp_path / "herder.conf"
    config.write_text("[compute]\nmax_concurrent_migrations = 1\n")
    first = ServeProcess(state_dir, port, "--power-off-seconds", "5",
                         config_file=str(config))
    try:
        image = _api(first, "GET", "/images").json()["images"][0]["id"]
        ids = []
        for name in ("held", "waiting"):
            created = _api(first, "POST", "/servers", json={"server": {
                "name": name, "flavorRef": "1", "imageRef": image, "networks": "none"}})
            ids.append(created.json()["server"]["id"])
        for server_id in ids:
            _wait(first, server_id, lambda s: s["status"] == "ACTIVE")
        held, waiting = ids
        assert _api(first, "POST", f"/servers/{held}/action",
                    json={"migrate": None}).status_code == 202
        _wait(first, held, lambda s: s["OS-EXT-STS:task_state"] == "resize_migrating")
        assert _api(first, "POST", f"/servers/{waiting}/action",
                    json={"migrate": None}).status_code == 202
        _wait(first, waiting, lambda s: s["OS-EXT-STS:task_state"] == "resize_queued")
    finally:
        first.kill()

    second = ServeProcess(state_dir, port, config_file=str(config))
    try:
        # the held move was interrupted in its power-off and rolls back; that frees its
        # hosts, and the waiting move goes on to the end
        _wait(second, held, lambda s: s["status"] == "ACTIVE" and not s["OS-EXT-STS:task_state"])
        _wait(second, waiting, lambda s: s["status"] == "VERIFY_RESIZE")
        statuses = {m["instance_uuid"]: m["status"] for m in _api(
            second, "GET", "/os-migrations").json()["migrations"]}
        assert statuses == {held: "error", waiting: "finished"}
    finally:
        second.stop()


def test_no_slot_is_left_behind_by_moves_that_ended(one_move_per_host):
    cloud = one_move_per_host
    admin = connect(cloud, cloud.conf.admin_token)
    server = create_server(admin)
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    admin.compute.revert_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    assert stray_move_slots(cloud) == []
    with cloud.db.transaction() as session:
        assert session.query(MoveSlot).count() == 0
