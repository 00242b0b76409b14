"""Watching a cloud the way a user (and an auditor) would: polling, notifications, invariants."""
import os
import queue
import threading
import time

from kombu import Consumer, Queue
from sqlalchemy import select

from herder import states
from herder.bus.rpc import EXCHANGE, Bus
from herder.db import instances, placement
from herder.db.models import Instance, Migration, MoveSlot
from herder.db.placement import Resources


def wait_for_status(conn, server_id: str, status: str, timeout: float = 15.0,
                    seen: list | None = None, interval: float = 0.01):
    """Poll `GET /servers/{id}` like a user until `status`; `seen` collects every status seen."""
    deadline = time.monotonic() + timeout
    while True:
        server = conn.compute.get_server(server_id)
        if seen is not None and (not seen or seen[-1] != server.status):
            seen.append(server.status)
        if server.status == status:
            return server
        if time.monotonic() > deadline:
            raise AssertionError(f"server {server_id} is {server.status} "
                                 f"(task {server.task_state}), not {status}, after {timeout}s")
        time.sleep(interval)


def wait_until(predicate, timeout: float = 15.0, message: str = "condition",
               interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)


def create_server(conn, name: str = "vm", flavor: str = "m1.tiny", stopped: bool = False):
    image = conn.image.find_image("herder-guest")
    server = conn.compute.create_server(name=name, flavor_id=conn.compute.find_flavor(flavor).id,
                                        image_id=image.id, networks="auto")
    server = wait_for_status(conn, server.id, "ACTIVE")
    if stopped:
        conn.compute.stop_server(server)
        server = wait_for_status(conn, server.id, "SHUTOFF")
    return server


class NotificationListener:
    """Binds a queue to versioned_notifications.* and keeps what arrives, in order."""

    def __init__(self, bus: Bus):
        self.bus = bus
        self.received: list[dict] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._queues = [Queue(f"{bus.qualified('test-listener')}-{priority}", EXCHANGE,
                              routing_key=bus.qualified(f"versioned_notifications.{priority}"),
                              durable=False, auto_delete=True) for priority in ("info", "error")]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        with self.bus.connection() as conn:
            def on_message(body, message):
                message.ack()
                self.received.append(body)
            with Consumer(conn, self._queues, callbacks=[on_message], accept=["json"]):
                self._ready.set()
                while not self._stop.is_set():
                    try:
                        conn.drain_events(timeout=0.1)
                    except Exception:
                        pass

    def event_types(self, instance_uuid: str | None = None) -> list[str]:
        return [n["event_type"] for n in self.received
                if instance_uuid is None or
                n["payload"].get("nova_object.data", {}).get("uuid") == instance_uuid]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def _live_servers_and_open_moves(cloud) -> tuple[list[Instance], dict[str, Migration]]:
    with cloud.db.transaction() as session:
        live = list(session.query(Instance).filter(Instance.deleted.is_(False)))
        open_moves = {m.instance_uuid: m for m in session.query(Migration).filter(
            Migration.status.in_(states.MIGRATION_HOLDS_RESOURCES))}
    return live, open_moves


def expected_allocations(cloud) -> dict[tuple[str, str], Resources]:
    """What live servers and open migrations should hold, per (consumer, node uuid)."""
    node_by_host = {n.host: n.uuid for n in placement.nodes(cloud.db)}
    expected = {}
    live, open_moves = _live_servers_and_open_moves(cloud)
    for instance in live:
        if instance.host is None:
            continue
        move = open_moves.get(instance.uuid)
        if move is None:
            expected[(instance.uuid, node_by_host[instance.host])] = \
                Resources.of_flavor(instance.flavor)
            continue
        # a move in VERIFY_RESIZE: the instance holds the new flavor on the destination, the
        # migration the old flavor on the source
        old = instance.old_flavor or instance.flavor
        expected[(instance.uuid, node_by_host[move.dest_compute])] = \
            Resources.of_flavor(instance.new_flavor or instance.flavor)
        expected[(move.uuid, node_by_host[move.source_compute])] = Resources.of_flavor(old)
    return expected


def actual_allocations(cloud) -> dict[tuple[str, str], Resources]:
    return {(a.consumer_uuid, a.node_uuid): Resources(a.vcpus, a.memory_mb, a.disk_gb)
            for a in placement.all_allocations(cloud.db)}


def host_entries(instances_dir: str) -> set[str]:
    """What a host's instances directory holds for its guests: their directories, and the
    files of moves under way: the agent's move claims (`_move_claims/<host>/<uuid>.json`) and
    shared-storage probes (`_shared_probes/<migration>.json`). The image cache (`_base`) is
    not a guest's."""
    names = {name for name in os.listdir(instances_dir) if not name.startswith("_")}
    for kept_per_move in ("_move_claims", "_shared_probes"):
        for directory, _subdirectories, files in os.walk(os.path.join(instances_dir,
                                                                      kept_per_move)):
            names |= {os.path.relpath(os.path.join(directory, name), instances_dir)
                      for name in files}
    return names


def instance_files(cloud) -> dict[str, set[str]]:
    """instances directory -> host_entries of it (hosts may share one)."""
    return {path: host_entries(path) for path in set(cloud.instances_dirs().values())}


def assert_consistent(cloud) -> None:
    """The accounting invariant, and no orphan files: each live server's disk is on its host
    (plus the `_resize` copy on the source while a move awaits confirm), nothing else."""
    assert actual_allocations(cloud) == expected_allocations(cloud)
    directory_of = cloud.instances_dirs()
    wanted: dict[str, set[str]] = {path: set() for path in directory_of.values()}
    live, open_moves = _live_servers_and_open_moves(cloud)
    for instance in live:
        if instance.host is None:
            continue
        wanted[directory_of[instance.host]].add(instance.uuid)
        move = open_moves.get(instance.uuid)
        if move is not None:
            wanted[directory_of[move.source_compute]].add(instance.uuid + "_resize")
    assert instance_files(cloud) == wanted
    assert stray_move_slots(cloud) == []


def stray_move_slots(cloud) -> list[tuple[str, str, str]]:
    """Move slots (db/move_slots.py) held or waited for by moves that are past their finish
    or gone: (migration, host, state) of each."""
    with cloud.db.transaction() as session:
        return [(slot.migration_uuid, slot.host, slot.state) for slot, status in session.execute(
            select(MoveSlot, Migration.status).outerjoin(
                Migration, Migration.uuid == MoveSlot.migration_uuid))
            if status not in states.MIGRATION_ABORTABLE]


def instance_record(cloud, server_id: str) -> Instance:
    return instances.get(cloud.db, server_id)


def migrated(cloud, conn, stopped: bool = False):
    """A new server migrated to VERIFY_RESIZE: (server, source host, destination host)."""
    server = create_server(conn, stopped=stopped)
    source = instance_record(cloud, server.id).host
    conn.compute.migrate_server(server)
    wait_for_status(conn, server.id, "VERIFY_RESIZE")
    return server, source, instance_record(cloud, server.id).host


def migration_of(cloud, server_id: str) -> Migration:
    """The server's newest migration record."""
    with cloud.db.transaction() as session:
        return session.query(Migration).filter(Migration.instance_uuid == server_id) \
            .order_by(Migration.id.desc()).first()


def events_by_name(conn, server_id: str, action: str) -> dict[str, dict]:
    """event name -> event of the server's newest `action`, read through the API (admin)."""
    for summary in conn.compute.server_actions(server_id):
        if summary.action == action:
            detail = conn.compute.get_server_action(summary.request_id, server_id)
            return {e["event"]: e for e in detail.events}
    raise AssertionError(f"no {action} action for {server_id}")
