"""Servers: lookup, listing, creation and compare-and-swap state updates."""
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from herder import exception, states
from herder.db.cas import compare_and_swap
from herder.db.models import Instance, InstanceAction, InstanceFault, RequestSpec
from herder.db.session import Database


def get(db: Database, uuid: str, project_id: str | None = None,
        include_deleted: bool = False) -> Instance:
    """The server, or InstanceNotFound; `project_id` hides other projects' servers."""
    with db.transaction() as session:
        query = select(Instance).where(Instance.uuid == uuid)
        if not include_deleted:
            query = query.where(Instance.deleted.is_(False))
        if project_id is not None:
            query = query.where(Instance.project_id == project_id)
        instance = session.scalars(query).first()
    if instance is None:
        raise exception.InstanceNotFound(instance_id=uuid)
    return instance


def create(db: Database, instance: Instance, request_spec: dict) -> Instance:
    with db.transaction() as session:
        add(session, instance, request_spec)
    return instance


def add(session: Session, instance: Instance, request_spec: dict) -> None:
    """Create the server within the caller's transaction (the quota check's, see quota.py)."""
    session.add(instance)
    session.add(RequestSpec(instance_uuid=instance.uuid, spec=request_spec))


def update(db: Database, uuid: str, expected: dict | None = None, **values) -> Instance:
    """Write `values` if the server's columns still hold `expected`, else UnexpectedTaskState."""
    with db.transaction() as session:
        return update_in(session, uuid, expected, **values)


def update_in(session: Session, uuid: str, expected: dict | None = None, **values) -> Instance:
    """`update` inside the caller's transaction (say, one that holds a quota lock)."""
    values["updated_at"] = datetime.utcnow()
    written = compare_and_swap(session, Instance, Instance.uuid, uuid, expected or {}, values)
    if written is None:
        current = session.scalars(select(Instance).where(Instance.uuid == uuid)).first()
        if current is None:
            raise exception.InstanceNotFound(instance_id=uuid)
        actual = {name: getattr(current, name) for name in (expected or {})}
        raise exception.UnexpectedTaskState(instance_uuid=uuid, expected=expected,
                                            actual=actual)
    return written


def list_all(db: Database, project_id: str | None, include_deleted: bool = False
             ) -> list[Instance]:
    """Servers newest first (one project's, or every project's for None)."""
    with db.transaction() as session:
        query = select(Instance).order_by(Instance.created_at.desc(), Instance.id.desc())
        if project_id is not None:
            query = query.where(Instance.project_id == project_id)
        if not include_deleted:
            query = query.where(Instance.deleted.is_(False))
        return list(session.scalars(query))


def busy_or_resized(db: Database, unchanged_since: datetime) -> list[Instance]:
    """Live servers a request may be waiting on: those with a task state, and those in
    VERIFY_RESIZE (a confirm is accepted without changing the server's row), that have not
    changed since `unchanged_since`. (The time is compared in the database: a burst of moves
    keeps a thousand servers busy, and loading each one, every recovery round, to pass it by
    was a tenth of a conductor's CPU in py-spy's samples.)"""
    with db.transaction() as session:
        return list(session.scalars(select(Instance).where(
            Instance.deleted.is_(False),
            or_(Instance.task_state.is_not(None), Instance.vm_state == states.RESIZED),
            func.coalesce(Instance.updated_at, Instance.created_at) <= unchanged_since)))


def on_host(db: Database, host: str) -> list[Instance]:
    with db.transaction() as session:
        return list(session.scalars(select(Instance).where(Instance.host == host,
                                                           Instance.deleted.is_(False))))


def placements(db: Database, uuids: list[str]) -> dict[str, Instance]:
    """uuid -> the live server, for those of `uuids` that are one."""
    if not uuids:
        return {}
    with db.transaction() as session:
        found = session.scalars(select(Instance).where(Instance.uuid.in_(uuids),
                                                       Instance.deleted.is_(False)))
        return {instance.uuid: instance for instance in found}


def add_fault(db: Database, uuid: str, code: int, message: str, details: str | None = None,
              host: str | None = None) -> None:
    with db.transaction() as session:
        session.add(InstanceFault(instance_uuid=uuid, code=code, message=message[:255],
                                  details=details, host=host))


def latest_fault(db: Database, uuid: str) -> InstanceFault | None:
    with db.transaction() as session:
        return session.scalars(select(InstanceFault).where(InstanceFault.instance_uuid == uuid)
                               .order_by(InstanceFault.id.desc())).first()


def current_fault(db: Database, instance: Instance) -> InstanceFault | None:
    """The fault a server's body shows. Nova shows the latest fault of a server in ERROR or
    DELETED; herder also shows it while it belongs to the server's latest action, so that a
    move which failed and rolled back says why on the server itself."""
    return current_faults(db, [instance]).get(instance.uuid)


def current_faults(db: Database, servers: list[Instance]) -> dict[str, InstanceFault]:
    """uuid -> current_fault, for the servers that have one: in two queries at the most,
    however many servers (a detailed list shows a page of them)."""
    if not servers:
        return {}
    uuids = [server.uuid for server in servers]
    with db.transaction() as session:
        latest = select(func.max(InstanceFault.id)).where(
            InstanceFault.instance_uuid.in_(uuids)).group_by(InstanceFault.instance_uuid)
        faults = {fault.instance_uuid: fault for fault in session.scalars(
            select(InstanceFault).where(InstanceFault.id.in_(latest)))}
        # a fault of a server at rest counts only if no action started after it
        at_rest = [server.uuid for server in servers if server.uuid in faults and
                   states.server_status(server.vm_state, server.task_state)
                   not in ("ERROR", "DELETED")]
        latest_action = dict(session.execute(
            select(InstanceAction.instance_uuid, func.max(InstanceAction.start_time))
            .where(InstanceAction.instance_uuid.in_(at_rest))
            .group_by(InstanceAction.instance_uuid)).all()) if at_rest else {}
    return {uuid: fault for uuid, fault in faults.items()
            if latest_action.get(uuid) is None or fault.created_at >= latest_action[uuid]}


def request_spec(db: Database, uuid: str) -> dict:
    with db.transaction() as session:
        row = session.get(RequestSpec, uuid)
        return dict(row.spec) if row else {}


def request_specs(db: Database, uuids: list[str]) -> dict[str, dict]:
    """The request specs of many servers at once (a detailed list shows parts of them)."""
    if not uuids:
        return {}
    with db.transaction() as session:
        rows = session.scalars(select(RequestSpec).where(RequestSpec.instance_uuid.in_(uuids)))
        return {row.instance_uuid: dict(row.spec) for row in rows}


def save_request_spec(db: Database, uuid: str, spec: dict) -> None:
    """Persist the spec a move leaves behind: never the one-off hints of that move."""
    durable = {k: v for k, v in spec.items()
               if k not in ("ignore_hosts", "requested_destination", "retry")}
    with db.transaction() as session:
        row = session.get(RequestSpec, uuid)
        if row is None:
            session.add(RequestSpec(instance_uuid=uuid, spec=durable))
        else:
            row.spec = durable
