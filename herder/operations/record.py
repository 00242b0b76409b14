"""lock, unlock and os-resetState: they change the server's row on the spot and cast nothing."""
from herder import exception, states
from herder.db import actions, instances
from herder.db.models import Instance
from herder.operations.checks import Services


def lock(svc: Services, context, instance: Instance, reason: str | None) -> None:
    instances.update(svc.db, instance.uuid, locked=True, locked_reason=reason,
                     locked_by="admin" if context.is_admin else "owner")
    actions.start(svc.db, context, instance.uuid, "lock", finished=True)


def unlock(svc: Services, context, instance: Instance) -> None:
    instances.update(svc.db, instance.uuid, locked=False, locked_reason=None, locked_by=None)
    actions.start(svc.db, context, instance.uuid, "unlock", finished=True)


def reset_state(svc: Services, context, instance: Instance, vm_state: str) -> None:
    """Set the vm_state and clear the task state, as an admin repairs a server by hand.

    In VERIFY_RESIZE a move waits for confirmResize or revertResize, and both work from there.
    Resetting the server instead would strand that move's source copy and source allocation
    for good (Nova allows it and leaks them), so herder refuses. The update compares and swaps
    the vm_state, so a move reaching VERIFY_RESIZE meanwhile is not reset either."""
    def refused(current: str) -> exception.Conflict:
        return exception.Conflict(f"Cannot 'os-resetState' instance {instance.uuid} while it "
                                  f"is in vm_state {current}")
    if instance.vm_state == states.RESIZED:
        raise refused(states.RESIZED)
    try:
        instances.update(svc.db, instance.uuid, {"vm_state": instance.vm_state},
                         vm_state=vm_state, task_state=None)
    except exception.UnexpectedTaskState as error:
        raise refused(error.kwargs["actual"]["vm_state"]) from None
    actions.start(svc.db, context, instance.uuid, "resetState", finished=True)
