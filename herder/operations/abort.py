"""Aborting a cold migration or resize (DELETE /servers/{id}/migrations/{migration_id}).

Nova aborts only live migrations there. herder also aborts a cold move, in any phase before
the server reaches VERIFY_RESIZE (after that, a revert is the way back): the abort is recorded
on the migration (db/move_aborts.py), and the move's workflow rolls the move back as it does
on a failure, at its next step, with the migration ending `cancelled`. A disk copy under way is
stopped at once: the conductors are told, and they stop the destination's transfer.
"""
import logging

from herder import exception, states
from herder.db import actions, migrations, move_aborts
from herder.db.models import Instance
from herder.operations.checks import Services

LOG = logging.getLogger(__name__)

# the instance action an abort records (Nova records `live_migration_cancel` for its own)
ABORT_ACTION = "migration_cancel"


def abort_move(svc: Services, context, instance: Instance, migration_id: int | None) -> None:
    """Ask for the server's move `migration_id` (the number the API shows) to be aborted.
    404 for a migration that is not the server's or not in progress, 400 for one past the
    point where it can be aborted, 409 for one whose abort was asked for already."""
    migration = None if migration_id is None else \
        migrations.of_instance_by_id(svc.db, instance.uuid, migration_id)
    if migration is None or migration.status not in states.MIGRATION_IN_PROGRESS:
        raise exception.NotFound(f"Migration {migration_id} not found for server "
                                 f"{instance.uuid}, or it is not in progress.")
    if move_aborts.request(svc.db, migration.uuid) is None:
        _refuse(svc, instance, migration_id)
    # the action records the request; the move's own action shows the rollback it led to
    actions.start(svc.db, context, instance.uuid, ABORT_ACTION, finished=True)
    LOG.info("%s [instance: %s] abort of migration %s asked for", context.log_prefix(),
             instance.uuid, migration.uuid)
    try:   # only makes a disk copy stop sooner: the workflow honours the record regardless
        svc.conductor.abort_move(context, instance_uuid=instance.uuid,
                                 migration_uuid=migration.uuid)
    except Exception as error:  # the broker is away: the abort takes effect at the next step
        LOG.warning("%s could not tell the conductors to stop the copy of migration %s: %s",
                    context.log_prefix(), migration.uuid, error)


def _refuse(svc: Services, instance: Instance, migration_id: int) -> None:
    """Why the abort's compare-and-swap found nothing to write, as the refusal to give."""
    current = migrations.of_instance_by_id(svc.db, instance.uuid, migration_id)
    if current is None or current.status not in states.MIGRATION_IN_PROGRESS:
        raise exception.NotFound(f"Migration {migration_id} not found for server "
                                 f"{instance.uuid}, or it is not in progress.")
    if current.abort_requested_at is not None:
        raise exception.Conflict(f"Migration {migration_id} of server {instance.uuid} is "
                                 "being aborted already.")
    raise exception.Invalid(f"Migration {migration_id} of server {instance.uuid} is "
                            f"{current.status}: it can no longer be aborted. Revert the resize "
                            "to go back.")
