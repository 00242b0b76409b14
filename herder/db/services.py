"""Service records and heartbeats: whether a host is up is decided from `last_seen_up`."""
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from herder import exception
from herder.db.models import Service
from herder.db.session import Database


# The services' `binary`, stored as Nova names it. Clients and scripts written for Nova find
# and switch services by these names (`?binary=nova-compute`, `openstack compute service set
# HOST nova-compute`, tempest), so the database holds Nova's names rather than the API
# translating herder's at its edge: every reader (the API's filters and updates, the
# scheduler's and the hypervisors' lookups) then sees the one name, and nothing can forget to
# translate. The processes keep herder's names in their logs, threads and notifications.
COMPUTE_BINARY = "nova-compute"
CONDUCTOR_BINARY = "nova-conductor"
SCHEDULER_BINARY = "nova-scheduler"


def _now() -> datetime:
    return datetime.utcnow()


def heartbeat(db: Database, host: str, binary: str, topic: str, zone: str) -> Service:
    """Create the service on its first report; afterwards record that it is alive."""
    with db.transaction() as session:
        service = session.scalars(select(Service).where(Service.host == host,
                                                        Service.binary == binary)).first()
        if service is None:
            service = Service(uuid=str(uuid.uuid4()), host=host, binary=binary, topic=topic,
                              zone=zone, report_count=0)
            session.add(service)
        service.last_seen_up = service.updated_at = _now()
        service.report_count = (service.report_count or 0) + 1
        return service


def is_up(service: Service, service_down_time: int) -> bool:
    if service.forced_down or service.last_seen_up is None:
        return False
    # whole seconds, as when heartbeats were stored to the second: a host whose heartbeat is
    # a fraction of a second past the limit keeps that much grace (under load, a heartbeat
    # delayed by a reconnect would otherwise show the host down to the scheduler and the API)
    elapsed = _now().replace(microsecond=0) - service.last_seen_up.replace(microsecond=0)
    return elapsed <= timedelta(seconds=service_down_time)


def list_all(db: Database, host: str | None = None, binary: str | None = None) -> list[Service]:
    with db.transaction() as session:
        query = select(Service).order_by(Service.id)
        if host is not None:
            query = query.where(Service.host == host)
        if binary is not None:
            query = query.where(Service.binary == binary)
        return list(session.scalars(query))


def compute(db: Database, host: str) -> Service | None:
    found = list_all(db, host=host, binary=COMPUTE_BINARY)
    return found[0] if found else None


def computes_on(db: Database, hosts: set[str]) -> dict[str, Service]:
    """host -> its compute service, for many hosts in one query (as `compute` finds each)."""
    if not hosts:
        return {}
    with db.transaction() as session:
        found = session.scalars(select(Service).where(
            Service.binary == COMPUTE_BINARY, Service.host.in_(sorted(hosts)))
            .order_by(Service.id.desc()))
        return {service.host: service for service in found}   # the first by id wins


def get(db: Database, service_id: str) -> Service:
    with db.transaction() as session:
        service = session.scalars(select(Service).where(
            (Service.uuid == service_id) | (Service.id == _int_or_none(service_id)))).first()
    if service is None:
        raise exception.NotFound(f"Service {service_id} not found.")
    return service


def _int_or_none(value: str) -> int | None:
    return int(value) if str(value).isdigit() else None


def update_service(db: Database, service_id: str, **values) -> Service:
    with db.transaction() as session:
        service = session.scalars(select(Service).where(Service.uuid == service_id)).first()
        if service is None:
            raise exception.NotFound(f"Service {service_id} not found.")
        for key, value in values.items():
            setattr(service, key, value)
        service.updated_at = _now()
        return service

