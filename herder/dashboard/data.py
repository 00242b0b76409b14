"""What the dashboard's live panels show, read from the records the API reads: the compute
hosts with their usage and move slots, the moves in flight, the moves waiting in VERIFY_RESIZE
with the time left before their automatic confirm or revert, and the servers. Plain rows, no
HTML; the caller's Access decides what each row may hold."""
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from herder import confirm_policy, move_progress, states
from herder.conductor.expired_resizes import FlavorLayers, project_layer
from herder.dashboard import access as access_rules
from herder.dashboard.access import MOVE_DETAILS, SERVER_HOST, Access
from herder.db import confirm_policies, move_slots, placement, services
from herder.db.models import Instance, Migration
from herder.db.placement import Resources
from herder.db.session import Database

# a move in flight: from its record to its finish, and while a confirm or revert runs; not
# while it waits in VERIFY_RESIZE (the waiting panel shows those), which holds no move slot
IN_FLIGHT = tuple(status for status in states.MIGRATION_IN_PROGRESS
                  if status != states.MIGRATION_FINISHED)
# a page shows at most this many servers (the newest first): the page stays small, and so
# does the work of each refresh, however large the cloud
SERVER_ROWS = 200


@dataclass
class Usage:
    used: int
    total: int

    @property
    def free(self) -> int:
        return max(self.total - self.used, 0)

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.used / self.total)) if self.total else 0


@dataclass
class HostRow:
    name: str
    state: str            # up, down or disabled
    why: str | None       # why disabled, forced down, or when last seen
    vcpus: Usage
    ram_mb: Usage
    disk_gb: Usage
    moving_out: int       # moves in flight with this host as their source
    moving_in: int        # ... as their destination
    slots_held: int
    slots_waiting: int
    limit: int


@dataclass
class MoveRow:
    migration_id: int
    server_id: str
    server_name: str
    project_id: str
    kind: str             # migration or resize
    source: str | None    # None: the caller may not see hosts
    destination: str | None
    status: str
    phase: str
    progress: int         # the server's progress, 0-100, as the API shows it
    total_bytes: int | None   # None: no copy yet, or the caller may not see it
    done_bytes: int | None
    age_seconds: float
    aborting: bool
    may_abort: bool


@dataclass
class WaitingRow:
    """A move in VERIFY_RESIZE: confirmed or reverted automatically once its window passes."""
    migration_id: int
    server_id: str
    server_name: str
    source: str | None
    destination: str | None
    waited_seconds: float
    window_seconds: int   # 0: never
    action: str           # confirm or revert
    decided_by: str       # which place set the window (flavor, project, cloud)
    may_confirm: bool
    may_revert: bool

    @property
    def seconds_left(self) -> float | None:
        return max(self.window_seconds - self.waited_seconds, 0) if self.window_seconds else None


@dataclass
class ServerRow:
    server_id: str
    name: str
    project_id: str
    status: str
    host: str | None      # None: the caller may not see it
    may_migrate: bool


def _now() -> datetime:
    return datetime.utcnow()


def hosts(db: Database, conf) -> list[HostRow]:
    """Every compute host with a compute service, in the order they were registered."""
    service_by_host = {s.host: s for s in
                       services.list_all(db, binary=services.COMPUTE_BINARY)}
    used = placement.usage_by_node(db)
    slots = move_slots.by_host(db)
    moving_out, moving_in = Counter(), Counter()
    with db.transaction() as session:
        for source, destination in session.execute(
                select(Migration.source_compute, Migration.dest_compute)
                .where(Migration.status.in_(IN_FLIGHT),
                       Migration.deleted.is_(False))):
            moving_out[source] += 1
            if destination:
                moving_in[destination] += 1
    rows = []
    for node in placement.nodes(db):
        service = service_by_host.get(node.host)
        if service is None:
            continue
        state, why = _service_state(service, conf.service_down_time)
        capacity, usage = placement.capacity(node), used.get(node.uuid, Resources(0, 0, 0))
        held = slots.get(node.host, {})
        rows.append(HostRow(
            node.host, state, why, Usage(usage.vcpus, capacity.vcpus),
            Usage(usage.memory_mb, capacity.memory_mb), Usage(usage.disk_gb, capacity.disk_gb),
            moving_out[node.host], moving_in[node.host], held.get(move_slots.HELD, 0),
            held.get(move_slots.WAITING, 0),
            node.max_concurrent_migrations or conf.compute.max_concurrent_migrations))
    return rows


def _service_state(service, down_time: int) -> tuple[str, str | None]:
    if service.disabled:
        return "disabled", service.disabled_reason or "no reason given"
    if service.forced_down:
        return "down", "forced down"
    if not services.is_up(service, down_time):
        seen = service.last_seen_up
        return "down", "never reported" if seen is None else \
            f"last report {seen:%Y-%m-%d %H:%M:%S} UTC"
    return "up", None


def _servers_of(session, uuids, project_id: str | None) -> dict[str, Instance]:
    query = select(Instance).where(Instance.uuid.in_(uuids))
    if project_id is not None:
        query = query.where(Instance.project_id == project_id)
    return {server.uuid: server for server in session.scalars(query)}


def moves_in_flight(db: Database, access: Access) -> list[MoveRow]:
    """The moves in flight (queued ones too), oldest first."""
    project_id = access.project_scope()
    with db.transaction() as session:
        found = list(session.scalars(
            select(Migration).where(Migration.status.in_(IN_FLIGHT),
                                    Migration.deleted.is_(False)).order_by(Migration.id)))
        servers = _servers_of(session, [m.instance_uuid for m in found], project_id)
    show_hosts, now = access.sees_move_hosts(), _now()
    rows = []
    for migration in found:
        server = servers.get(migration.instance_uuid)
        if server is None:
            continue   # another project's, for this caller
        details = access.on_server(MOVE_DETAILS, server)
        status = states.server_status(server.vm_state, server.task_state)
        rows.append(MoveRow(
            migration.id, server.uuid, server.display_name, server.project_id,
            migration.migration_type, migration.source_compute if show_hosts else None,
            migration.dest_compute if show_hosts else None, migration.status,
            _phase(server, status, migration),
            server.progress or 0, migration.disk_total_bytes if details else None,
            migration.disk_processed_bytes if details else None,
            (now - migration.created_at).total_seconds(),
            migration.abort_requested_at is not None,
            access.on_server(access_rules.ABORT, server)
            and migration.status in states.MIGRATION_ABORTABLE))
    return rows


def _phase(server: Instance, status: str, migration: Migration) -> str:
    if migration.status in (states.MIGRATION_CONFIRMING, states.MIGRATION_REVERTING):
        return migration.status   # past the seed's steps: its confirm or revert runs
    return move_progress.phase({"OS-EXT-STS:task_state": server.task_state, "status": status},
                               {"dest_compute": migration.dest_compute,
                                "disk_total_bytes": migration.disk_total_bytes})


def waiting_to_confirm(db: Database, conf, access: Access) -> list[WaitingRow]:
    """The moves in VERIFY_RESIZE, the longest waiting first, with the policy that will
    settle each (herder/confirm_policy.py; the cloud's settings as this api has them, which
    are the compute hosts' own when they share its configuration)."""
    project_id = access.project_scope()
    with db.transaction() as session:
        found = list(session.scalars(
            select(Migration).where(Migration.status == states.MIGRATION_FINISHED,
                                    Migration.deleted.is_(False)).order_by(Migration.id)))
        servers = _servers_of(session, [m.instance_uuid for m in found], project_id)
    projects = confirm_policies.of_projects(db, {s.project_id for s in servers.values()})
    cloud = confirm_policy.Layer("the cloud's settings", window=conf.resize_confirm_window,
                                 action=conf.resize_confirm_action)
    show_hosts, now = access.sees_move_hosts(), _now()
    flavor_layers = FlavorLayers(db, found)
    rows = []
    for migration in found:
        server = servers.get(migration.instance_uuid)
        if server is None:
            continue
        policy = confirm_policy.resolve(flavor_layers.of(migration, server),
                                        project_layer(projects.get(server.project_id)), cloud)
        finished_at = migration.updated_at or migration.created_at
        rows.append(WaitingRow(
            migration.id, server.uuid, server.display_name,
            migration.source_compute if show_hosts else None,
            migration.dest_compute if show_hosts else None,
            (now - finished_at).total_seconds(), policy.window.value, policy.action.value,
            policy.window.source, access.on_server(access_rules.CONFIRM, server),
            access.on_server(access_rules.REVERT, server)))
    return rows


def servers(db: Database, access: Access, uuids: list[str] | None = None) -> list[ServerRow]:
    """The caller's servers (every project's for an admin), the newest first, at most
    SERVER_ROWS of them; `uuids`: only those."""
    if not access.sees_servers():
        return []
    project_id = access.project_scope()
    with db.transaction() as session:
        query = select(Instance).where(Instance.deleted.is_(False)) \
            .order_by(Instance.created_at.desc(), Instance.id.desc()).limit(SERVER_ROWS)
        if project_id is not None:
            query = query.where(Instance.project_id == project_id)
        if uuids is not None:
            query = query.where(Instance.uuid.in_(uuids))
        found = list(session.scalars(query))
    return [ServerRow(server.uuid, server.display_name, server.project_id,
                      states.server_status(server.vm_state, server.task_state),
                      server.host if access.on_server(SERVER_HOST, server) else None,
                      access.on_server(access_rules.MIGRATE, server))
            for server in found]
