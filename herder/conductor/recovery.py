"""What a conductor does when it starts: finish or undo what a previous run left half done.

Two kinds of leftovers exist after a crash:
- journaled workflows still `running` or `rolling_back`: the engine resumes or rolls them back
  from the journal (see Engine.recover);
- servers whose request was accepted by the api but whose cast to the conductor was lost before
  any workflow began: their task_state (or their migration's status) is put back where the api
  found it, and the action is closed as failed.
"""
import logging

from herder import states
from herder.conductor.base import ConductorServices, ServerWorkflow
from herder.conductor.engine import Engine, Interrupted
from herder.conductor.workflows.confirm import ConfirmWorkflow
from herder.conductor.workflows.lifecycle import BuildWorkflow, DeleteWorkflow, PowerWorkflow
from herder.conductor.workflows.migrate import MigrateWorkflow
from herder.conductor.workflows.revert import RevertWorkflow
from herder.context import admin_context
from herder.db import instances, journal, moves

LOG = logging.getLogger(__name__)

WORKFLOWS: dict[str, type[ServerWorkflow]] = {
    cls.kind: cls for cls in (MigrateWorkflow, ConfirmWorkflow, RevertWorkflow, BuildWorkflow,
                              PowerWorkflow, DeleteWorkflow)}

# task states the api sets before it casts to the conductor, and what they go back to
_ACCEPTED_TASK_STATES = (states.RESIZE_PREP, states.RESIZE_REVERTING, states.POWERING_OFF,
                         states.POWERING_ON, "scheduling")


def recover(svc: ConductorServices, engine: Engine) -> int:
    """Resume or roll back every unfinished workflow, then sweep lost requests; returns how
    many workflows were recovered."""
    rows = journal.unfinished(svc.db)
    for row in rows:
        try:
            flow = WORKFLOWS[row.kind].restore(svc, row)
            outcome = engine.recover(row.uuid, flow)
            LOG.warning("%s recovered %s workflow %s: %s", flow.log_prefix, row.kind, row.uuid,
                        "completed" if outcome.completed else "rolled back")
        except Exception:  # one broken record must not keep the others stuck
            LOG.exception("could not recover %s workflow %s", row.kind, row.uuid)
    _sweep_lost_requests(svc)
    return len(rows)


def _sweep_lost_requests(svc: ConductorServices) -> None:
    db = svc.db
    for instance in instances.list_all(db, None):
        if journal.active_for(db, instance.uuid) is not None:
            continue
        if instance.task_state == states.DELETING:
            LOG.warning("[instance: %s] delete was accepted but never ran: running it",
                        instance.uuid)
            Engine(db).run(DeleteWorkflow(svc, admin_context(), instance.uuid))
            continue
        finished_move = moves.in_progress_for(db, instance.uuid)
        if finished_move is not None and finished_move.status in (
                states.MIGRATION_CONFIRMING, states.MIGRATION_REVERTING):
            moves.update(db, finished_move.uuid, finished_move.status,
                         status=states.MIGRATION_FINISHED,
                         error_reason=str(Interrupted("the request was lost in a restart")))
        if instance.task_state in _ACCEPTED_TASK_STATES:
            vm_state = states.ERROR if instance.task_state == "scheduling" else instance.vm_state
            LOG.warning("[instance: %s] %s was accepted but never ran: back to %s",
                        instance.uuid, instance.task_state, vm_state)
            instances.update(db, instance.uuid, {"task_state": instance.task_state},
                             task_state=None, vm_state=vm_state)
            instances.add_fault(db, instance.uuid, 500, f"{instance.task_state} was interrupted "
                                "by a restart before it started; nothing was changed")
