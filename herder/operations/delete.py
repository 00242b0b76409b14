"""Deleting a server: from any state but the middle of a move, and more than once."""
from herder import exception, states
from herder.db import actions, instances, moves
from herder.db.models import Instance
from herder.operations.checks import Services, check_lock, visible

_DELETE = states.ACCEPTED["delete"]


def delete(svc: Services, context, instance: Instance) -> None:
    """Hand the server to the conductor to delete. A server already on its way out is left as
    it is: as in Nova, deleting it again is accepted and changes nothing (tempest's cleanups
    delete a server twice)."""
    check_lock(context, instance)
    instance = _mark_deleting(svc, context, instance)
    if instance is None:
        return
    confirm_uuid = None
    if instance.vm_state == states.RESIZED:
        confirm_uuid = _take_finished_move(svc, context, instance)
    actions.start(svc.db, context, instance.uuid, _DELETE.action)
    svc.conductor.delete_instance(context, instance_uuid=instance.uuid,
                                  confirm_migration_uuid=confirm_uuid)


def _mark_deleting(svc: Services, context, instance: Instance,
                   attempts: int = 5) -> Instance | None:
    """Task state `deleting`, from whatever it was; the instance as it was just before, or
    None if it was being deleted already. A build or power change that moves on between our
    read and our write is no reason to refuse a delete (Nova never does): read again."""
    for _ in range(attempts):
        if instance.task_state == _DELETE.task_state:
            return None
        if instance.task_state in _DELETE.refused_task_states:
            raise _refused(instance, f"while it is in task_state {instance.task_state}")
        try:  # a delete that finished since our read leaves a row that must not match
            instances.update(svc.db, instance.uuid,
                             {"task_state": instance.task_state, "deleted": False},
                             task_state=_DELETE.task_state)
            return instance
        except exception.UnexpectedTaskState:
            instance = visible(svc, context, instance.uuid)  # not found if gone meanwhile
    raise _refused(instance, "while it is changing state")


def _take_finished_move(svc: Services, context, instance: Instance) -> str | None:
    """Deleting a server in VERIFY_RESIZE confirms its move first (Nova). Called once the
    server is ours (task_state `deleting`), so no revert can start any more; if a confirm
    took the move since our check, the delete steps back (409) and leaves no trace, rather
    than racing the confirm."""
    migration = moves.finished_for(svc.db, instance.uuid)
    if migration is None and moves.in_progress_for(svc.db, instance.uuid) is None:
        return None  # nothing left to confirm
    confirm = states.ACCEPTED["confirm_resize"]
    if migration is not None:
        try:
            moves.update(svc.db, migration.uuid, states.MIGRATION_FINISHED,
                         status=confirm.migration_status)
            actions.start(svc.db, context, instance.uuid, confirm.action)
            return migration.uuid
        except exception.UnexpectedTaskState:
            pass
    instances.update(svc.db, instance.uuid, {"task_state": _DELETE.task_state},
                     task_state=instance.task_state)
    raise _refused(instance, "while its migration is being confirmed or reverted")


def _refused(instance: Instance, reason: str) -> exception.Conflict:
    return exception.Conflict(f"Cannot '{_DELETE.action}' instance {instance.uuid} {reason}")
