"""The pre-checks the operations share, and the compare-and-swap that ends them.

An operation runs them in the order the Compute API promises, so that a server wrong in several
ways at once gets the same refusal as from Nova: locked, then vm_state, then task_state, then
launched, then host, then the host's compute service, then the operation's own checks. The last
step is always a compare-and-swap of the state checked, so a request that races another is
refused (409) rather than failing half way.
"""
from typing import Callable, Protocol, TypeVar

from sqlalchemy.orm import Session

from herder import exception, states
from herder.conductor.rpcapi import ConductorAPI
from herder.db import instances, services
from herder.db.models import Instance

T = TypeVar("T")


class Services(Protocol):
    """What the operations use of the api's services (herder.api.handlers.base.ApiServices)."""
    conf: object
    db: object
    bus: object
    conductor: ConductorAPI


def check_lock(context, instance: Instance) -> None:
    """A locked server refuses everyone but admins."""
    if instance.locked and not context.is_admin:
        raise exception.InstanceIsLocked(instance_uuid=instance.uuid)


def check_state(instance: Instance, accepted: states.Accepted) -> None:
    """The vm_state, task_state and launch the operation may start from."""
    def invalid(attr: str, state) -> exception.InstanceInvalidState:
        return exception.InstanceInvalidState(action=accepted.action,
                                              instance_uuid=instance.uuid, attr=attr, state=state)
    if accepted.vm_states is not None and instance.vm_state not in accepted.vm_states:
        raise invalid("vm_state", instance.vm_state)
    if accepted.task_states is not None and instance.task_state not in accepted.task_states:
        raise invalid("task_state", instance.task_state)
    if accepted.launched and instance.launched_at is None:
        raise invalid("launched_at", None)


def check_host_up(svc: Services, instance: Instance) -> None:
    """The server is on a host whose compute service is up."""
    if not instance.host:
        raise exception.InstanceNotReady(instance_uuid=instance.uuid)
    check_service_up(svc, instance.host)


def check_service_up(svc: Services, host: str | None) -> None:
    service = services.compute(svc.db, host) if host else None
    if service is None or not services.is_up(service, svc.conf.service_down_time):
        raise exception.ComputeServiceUnavailable()


def set_task_state(svc: Services, instance: Instance, action: str, expected: dict,
                   also: Callable[[Session], T] | None = None, **values) -> T | None:
    """Write `values` if the server still holds `expected`, else refuse as busy. `also`: what
    else to write in the same transaction (the request's record, handover.handing_over);
    what it returns is returned."""
    try:
        with svc.db.transaction() as session:
            instances.update_in(session, instance.uuid, expected, **values)
            return also(session) if also is not None else None
    except exception.UnexpectedTaskState:
        raise busy(svc, instance, action) from None


def busy(svc: Services, instance: Instance, action: str) -> exception.InstanceInvalidState:
    """The refusal for a server another request changed since we looked (read again, after the
    failed compare-and-swap's transaction ended)."""
    current = instances.get(svc.db, instance.uuid)
    return exception.InstanceInvalidState(action=action, instance_uuid=instance.uuid,
                                          attr="task_state", state=current.task_state)


def visible(svc: Services, context, instance_uuid: str) -> Instance:
    """The server as it is now, if the caller may still see it (admins see all)."""
    return instances.get(svc.db, instance_uuid,
                         None if context.is_admin else context.project_id)
