"""Deleting a server: from any state, more than once, and in the middle of a move (which is
aborted first)."""
import logging
from dataclasses import replace

from herder import exception, states
from herder.db import accepted_requests, actions, instances, migrations, move_aborts
from herder.db.models import Instance
from herder.operations.checks import Services, check_lock, visible
from herder.operations.handover import Handover, handing_over, send

LOG = logging.getLogger(__name__)
_DELETE = states.ACCEPTED["delete"]


def delete(svc: Services, context, instance: Instance) -> None:
    """Hand the server to the conductor to delete. A server already on its way out is left as
    it is: as in Nova, deleting it again is accepted and changes nothing (tempest's cleanups
    delete a server twice)."""
    check_lock(context, instance)
    if instance.task_state in states.MOVE_TASK_STATES:
        return _abort_then_delete(svc, context, instance)
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


def _abort_then_delete(svc: Services, context, instance: Instance) -> None:
    """A server in the middle of a move: the move is aborted (operations/abort.py) and the
    delete recorded, in one transaction; the move's rollback then hands the server to the
    delete (MigrateWorkflow.rolled_back), so that the two never run at once. A move with no
    record yet (just accepted), or past the point where it can be aborted, refuses (409)."""
    migration = migrations.latest_in_progress(svc.db, instance.uuid)
    if migration is None or migration.status not in states.MIGRATION_ABORTABLE:
        raise _refused(instance, f"while it is in task_state {instance.task_state}")
    if accepted_requests.waiting(svc.db, instance.uuid, "delete_instance") is not None:
        return   # deleted already, waiting for the rollback: as any delete again, a no-op
    with svc.db.one_transaction():
        if move_aborts.request(svc.db, migration.uuid) is None and \
                not move_aborts.requested(svc.db, migration.uuid):
            raise _refused(instance, "while its move is finishing")   # it just finished
        with svc.db.transaction() as session:
            accepted_requests.accept(session, context, "delete_instance",
                                     {"instance_uuid": instance.uuid})
    actions.start(svc.db, context, instance.uuid, _DELETE.action)
    try:   # only makes a disk copy stop sooner, as for an abort
        svc.conductor.abort_move(context, instance_uuid=instance.uuid,
                                 migration_uuid=migration.uuid)
    except Exception as error:
        LOG.warning("%s could not tell the conductors to stop the copy of migration %s: %s",
                    context.log_prefix(), migration.uuid, error)


def _refused(instance: Instance, reason: str) -> exception.Conflict:
    return exception.Conflict(f"Cannot '{_DELETE.action}' instance {instance.uuid} {reason}")
