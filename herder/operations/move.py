"""migrate and resize: the checks, the server put in resize_prep, the action recorded, and the
move handed to the conductor."""
from herder import exception, quota, states
from herder.db import actions, flavors, instances, services
from herder.db.models import Instance
from herder.operations.checks import (Services, busy, check_host_up, check_lock, check_state,
                                      set_task_state)
from herder.operations.handover import Handover, handing_over, send

_MIGRATE, _RESIZE = states.ACCEPTED["migrate"], states.ACCEPTED["resize"]


def _expected(accepted: states.Accepted) -> dict:
    """What the compare-and-swap that starts a move expects: still movable, nothing under way."""
    return {"vm_state": accepted.vm_states, "task_state": accepted.task_states}


def check_migrate(svc: Services, context, instance: Instance, host: str | None) -> None:
    """What a migrate checks before it changes anything (a dry run checks the same)."""
    _check_movable(svc, context, instance, _MIGRATE)
    if host:
        if host == instance.host:
            raise exception.Invalid("Cannot migrate to the host where the server exists.")
        if services.compute(svc.db, host) is None:
            raise exception.Invalid(f"Compute host {host} could not be found.")


def migrate(svc: Services, context, instance: Instance, host: str | None) -> None:
    """Move the server to `host`, or to where the scheduler chooses (None)."""
    check_migrate(svc, context, instance, host)
    handover = set_task_state(
        svc, instance, _MIGRATE.action, _expected(_MIGRATE),
        also=handing_over(context, "migrate_server", instance_uuid=instance.uuid, flavor=None,
                          host=host),
        task_state=_MIGRATE.task_state, progress=0)
    _start_move(svc, context, instance, _MIGRATE, handover)


def check_resize(svc: Services, context, instance: Instance, flavor_ref: str) -> dict:
    """What a resize checks before it changes anything, but the quota (check_resize_quota):
    the new flavor, if the server may take it."""
    _check_movable(svc, context, instance, _RESIZE)
    new, old = _new_flavor(svc, context, flavor_ref, instance.flavor), instance.flavor
    booted_from_volume = not instance.image_ref
    if not booted_from_volume:
        if new["root_gb"] == 0 and old["root_gb"] != 0:
            raise _cannot_resize_disk("Resize to zero disk flavor is not allowed.")
        if new["root_gb"] < old["root_gb"] or \
                new.get("ephemeral_gb", 0) < old.get("ephemeral_gb", 0):
            # Nova finds this late, on the source host; herder refuses it up front
            raise _cannot_resize_disk(
                f"Resizing to a smaller disk is not supported: flavor {new['flavorid']} has "
                f"{new['root_gb']} GB root and {new.get('ephemeral_gb', 0)} GB ephemeral "
                f"disk, the server has {old['root_gb']} GB and "
                f"{old.get('ephemeral_gb', 0)} GB.")
    return new


def check_resize_quota(svc: Services, instance: Instance, new: dict) -> None:
    """The quota check of a resize to `new`, alone: for a dry run, which reserves nothing."""
    with quota.admitted(svc.db, svc.conf, instance.project_id,
                        quota.resize_delta(instance.flavor, new)):
        pass


def resize(svc: Services, context, instance: Instance, flavor_ref: str,
           disk_config: str | None = None) -> None:
    """Move the server to the flavor `flavor_ref` (on a host the scheduler chooses)."""
    new, old = check_resize(svc, context, instance, flavor_ref), instance.flavor
    disk = {"disk_config": disk_config} if disk_config is not None else {}
    # the check and the new flavor's reservation (new_flavor counts in the project's usage)
    # commit together under the project's quota lock; QuotaExceeded goes to the caller
    try:
        with quota.admitted(svc.db, svc.conf, instance.project_id,
                            quota.resize_delta(old, new)) as session:
            instances.update_in(session, instance.uuid, _expected(_RESIZE),
                                task_state=_RESIZE.task_state, progress=0, new_flavor=new,
                                **disk)
            handover = handing_over(context, "migrate_server", instance_uuid=instance.uuid,
                                    flavor=new, host=None)(session)
    except exception.UnexpectedTaskState:
        raise busy(svc, instance, _RESIZE.action) from None
    _start_move(svc, context, instance, _RESIZE, handover)


def _check_movable(svc: Services, context, instance: Instance,
                   accepted: states.Accepted) -> None:
    check_lock(context, instance)
    check_state(instance, accepted)
    check_host_up(svc, instance)


def _new_flavor(svc: Services, context, flavor_ref: str, current: dict) -> dict:
    """The flavor a resize asks for, as Nova judges it: a flavor the caller may not use
    (missing, private without access, disabled) is not found, unless it is the server's own
    flavor, which is refused as the same flavor."""
    try:
        flavor = flavors.get(svc.db, flavor_ref,
                             None if context.is_admin else context.project_id)
        usable = not flavor.disabled
    except exception.FlavorNotFound:
        try:
            flavor, usable = flavors.get(svc.db, flavor_ref), False
        except exception.FlavorNotFound:
            raise exception.Invalid(f"Flavor {flavor_ref} could not be found.") from None
    new = flavors.as_dict(flavor)
    if new["id"] == current["id"]:
        raise exception.Invalid("When resizing, instances must change flavor!")
    if not usable:
        raise exception.Invalid(f"Flavor {flavor_ref} could not be found.")
    return new


def _cannot_resize_disk(reason: str) -> exception.Invalid:
    return exception.Invalid(f"Server disk was unable to be resized because: {reason}")


def _start_move(svc: Services, context, instance: Instance, accepted: states.Accepted,
                handover: Handover) -> None:
    """The server is in resize_prep already: record the action and hand the move over."""
    actions.start(svc.db, context, instance.uuid, accepted.action)
    send(svc, context, handover)
