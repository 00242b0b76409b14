"""confirmResize and revertResize: the two ways out of VERIFY_RESIZE.

The move's migration is what a confirm, a revert and a delete race for: each takes it from
`finished` with a compare-and-swap before it touches anything else, and the loser is refused.
"""
from typing import Callable

from sqlalchemy.orm import Session

from herder import exception, states
from herder.db import actions, migrations
from herder.db.models import Instance, Migration
from herder.operations.checks import (Services, T, check_lock, check_service_up, check_state,
                                      set_task_state, visible)
from herder.operations.handover import handing_over, send

_CONFIRM, _REVERT = states.ACCEPTED["confirm_resize"], states.ACCEPTED["revert_resize"]
# what a finished move becomes once a confirm or revert takes it
_FINISHING = (states.MIGRATION_CONFIRMING, states.MIGRATION_CONFIRMED,
              states.MIGRATION_REVERTING, states.MIGRATION_REVERTED)


def confirm_resize(svc: Services, context, instance: Instance,
                   migration_uuid: str | None = None) -> None:
    """Keep the server where it moved; the source host's copy goes. `migration_uuid`: only if
    that is the move waiting (an automatic confirm decided on that move's age)."""
    migration = _finished_migration(svc, context, instance, _CONFIRM, migration_uuid)
    check_service_up(svc, migration.source_compute)
    # a confirm changes only the migration: its request is recorded with that change
    handover = _take(svc, instance, migration, _CONFIRM, also=handing_over(
        context, "confirm_resize", instance_uuid=instance.uuid, migration_uuid=migration.uuid))
    actions.start(svc.db, context, instance.uuid, _CONFIRM.action)
    send(svc, context, handover)


def revert_resize(svc: Services, context, instance: Instance,
                  migration_uuid: str | None = None) -> None:
    """Take the server back to its source host and its old flavor. `migration_uuid`: as for
    confirm_resize."""
    migration = _finished_migration(svc, context, instance, _REVERT, migration_uuid)
    # the migration first: a revert that set resize_reverting before losing the migration
    # would break the confirm that won it
    _take(svc, instance, migration, _REVERT)
    try:
        handover = set_task_state(
            svc, instance, _REVERT.action,
            {"vm_state": _REVERT.vm_states, "task_state": _REVERT.task_states},
            also=handing_over(context, "revert_resize", instance_uuid=instance.uuid,
                              migration_uuid=migration.uuid),
            task_state=_REVERT.task_state)
    except exception.Conflict:
        migrations.update(svc.db, migration.uuid, _REVERT.migration_status,
                          status=states.MIGRATION_FINISHED)
        raise
    actions.start(svc.db, context, instance.uuid, _REVERT.action)
    send(svc, context, handover)


def _finished_migration(svc: Services, context, instance: Instance,
                        accepted: states.Accepted, migration_uuid: str | None) -> Migration:
    check_lock(context, instance)
    check_state(instance, accepted)
    migration = migrations.latest_finished(svc.db, instance.uuid)
    if migration is not None and migration_uuid not in (None, migration.uuid):
        # the move named was taken and a newer one finished since: that one has its own age
        raise exception.Conflict(f"Cannot '{accepted.action}' instance {instance.uuid}: "
                                 f"migration {migration_uuid} is no longer the one waiting")
    if migration is None:
        # a confirm or revert may have taken the move since our state check: a conflict
        check_state(visible(svc, context, instance.uuid), accepted)
        latest = migrations.latest_for(svc.db, instance.uuid)
        if latest is not None and latest.status in _FINISHING:
            raise _migration_busy(instance, accepted, latest.status)
        raise exception.Invalid("Instance has not been resized.")
    return migration


def _take(svc: Services, instance: Instance, migration: Migration,
          accepted: states.Accepted, also: Callable[[Session], T] | None = None) -> T | None:
    """The migration from `finished` to the operation's status, or a refusal naming the status
    another request gave it. `also`: what else to write in its transaction (and return)."""
    try:
        with svc.db.transaction() as session:
            migrations.update_in(session, migration.uuid, states.MIGRATION_FINISHED,
                                 status=accepted.migration_status)
            return also(session) if also is not None else None
    except exception.UnexpectedTaskState as error:
        raise _migration_busy(instance, accepted,
                              error.kwargs.get("actual", {}).get("status")) from None


def _migration_busy(instance: Instance, accepted: states.Accepted,
                    status: str | None) -> exception.Conflict:
    return exception.Conflict(f"Cannot '{accepted.action}' instance {instance.uuid} while its "
                              f"migration is {status}")
