"""Deleting a server: from any state but the middle of a move, and more than once."""
from dataclasses import replace

from herder import exception, states
from herder.db import accepted_requests, actions, instances, migrations
from herder.db.models import Instance
from herder.operations.checks import Services, check_lock, visible
from herder.operations.handover import Handover, handing_over, send

_DELETE = states.ACCEPTED["delete"]


def delete(svc: Services, context, instance: Instance) -> None:
    """Hand the server to the conductor to delete. A server already on its way out is left as
    it is: as in Nova, deleting it again is accepted and changes nothing (tempest's cleanups
    delete a server twice)."""
    check_lock(context, instance)
    marked = _mark_deleting(svc, context, instance)
    if marked is None:
        return
    instance, handover = marked
    if instance.vm_state == states.RESIZED:
        handover = _take_finished_move(svc, context, instance, handover)
    actions.start(svc.db, context, instance.uuid, _DELETE.action)
    send(svc, context, handover)


def _mark_deleting(svc: Services, context, instance: Instance,
                   attempts: int = 5) -> tuple[Instance, Handover] | None:
    """Task state `deleting`, from whatever it was, with the request recorded; the instance as
    it was just before and the request, or None if it was being deleted already. A build or
    power change that moves on between our read and our write is no reason to refuse a delete
    (Nova never does): read again."""
    for _ in range(attempts):
        if instance.task_state == _DELETE.task_state:
            return None
        if instance.task_state in _DELETE.refused_task_states:
            raise _refused(instance, f"while it is in task_state {instance.task_state}")
        try:  # a delete that finished since our read leaves a row that must not match
            with svc.db.transaction() as session:
                instances.update_in(session, instance.uuid,
                                    {"task_state": instance.task_state, "deleted": False},
                                    task_state=_DELETE.task_state)
                return instance, handing_over(context, "delete_instance",
                                              instance_uuid=instance.uuid)(session)
        except exception.UnexpectedTaskState:
            instance = visible(svc, context, instance.uuid)  # not found if gone meanwhile
    raise _refused(instance, "while it is changing state")


def _take_finished_move(svc: Services, context, instance: Instance,
                        handover: Handover) -> Handover:
    """Deleting a server in VERIFY_RESIZE confirms its move first (Nova): the request, now
    naming the move to confirm. Called once the server is ours (task_state `deleting`), so no
    revert can start any more; if a confirm took the move since our check, the delete steps
    back (409) and leaves no trace, rather than racing the confirm."""
    migration = migrations.latest_finished(svc.db, instance.uuid)
    if migration is None and migrations.latest_in_progress(svc.db, instance.uuid) is None:
        return handover  # nothing left to confirm
    confirm = states.ACCEPTED["confirm_resize"]
    if migration is not None:
        try:
            with svc.db.transaction() as session:
                migrations.update_in(session, migration.uuid, states.MIGRATION_FINISHED,
                                     status=confirm.migration_status)
                accepted_requests.amend(session, handover.uuid,
                                        confirm_migration_uuid=migration.uuid)
            actions.start(svc.db, context, instance.uuid, confirm.action)
            return replace(handover, arguments={**handover.arguments,
                                                "confirm_migration_uuid": migration.uuid})
        except exception.UnexpectedTaskState:
            pass
    with svc.db.transaction() as session:   # the delete steps back, its request with it
        instances.update_in(session, instance.uuid, {"task_state": _DELETE.task_state},
                            task_state=instance.task_state)
        accepted_requests.take(session, handover.uuid)
    raise _refused(instance, "while its migration is being confirmed or reverted")


def _refused(instance: Instance, reason: str) -> exception.Conflict:
    return exception.Conflict(f"Cannot '{_DELETE.action}' instance {instance.uuid} {reason}")
