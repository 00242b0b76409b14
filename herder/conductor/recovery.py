"""What a conductor does when it starts, and then periodically: finish or undo what a crashed
service left half done.

Two kinds of leftovers exist after a crash:
- journaled workflows still `running` or `rolling_back` whose conductor stopped renewing its
  lease (it died; or it is this one, restarted): one conductor adopts each (journal.adopt) and
  the engine resumes or rolls it back from the journal (see Engine.recover). A conductor that
  starts takes its own host's earlier processes' workflows at once, lease or not: a host name
  runs one conductor at a time, so an earlier process of that name is dead (`[DEFAULT] host`);
- requests the api accepted whose cast to the conductors was lost before any workflow began
  (the broker, or the conductor that took it, died in between). The api records each request
  with the server's new task state; a record still there after `request_resend_after` seconds
  is cast again (pending_requests.py), so the request runs within seconds of the fault.
  Servers left in such a task state with no record (an api from before requests were
  recorded) are put back where the api found them once `lost_request_timeout` passed (by the
  server's row, or by its migration's for a confirm, which changes only the migration), with
  a fault that says so.
"""
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from herder import states
from herder.conductor import pending_requests
from herder.conductor.base import ConductorServices, ServerWorkflow
from herder.conductor.engine import Engine, Interrupted
from herder.conductor.workflows.confirm import ConfirmWorkflow
from herder.conductor.workflows.lifecycle import BuildWorkflow, DeleteWorkflow, PowerWorkflow
from herder.conductor.workflows.migrate import MigrateWorkflow
from herder.conductor.workflows.revert import RevertWorkflow
from herder.context import admin_context
from herder.db import accepted_requests, instances, journal, migrations

LOG = logging.getLogger(__name__)

WORKFLOWS: dict[str, type[ServerWorkflow]] = {
    cls.kind: cls for cls in (MigrateWorkflow, ConfirmWorkflow, RevertWorkflow, BuildWorkflow,
                              PowerWorkflow, DeleteWorkflow)}

# what the api did to accept a request, by the task state it set (and by the status it gave
# the migration, for a confirm or a revert): the sweep of lost requests reads what to put back
_ACCEPTED_BY_TASK_STATE = states.accepted_by_task_state()
_ACCEPTED_MIGRATION_STATUSES = tuple(accepted.migration_status
                                     for accepted in states.ACCEPTED.values()
                                     if accepted.migration_status is not None)


def recover(svc: ConductorServices, engine: Engine, sole_conductor: bool = False,
            lost_after: float = 0.0, starting: bool = False) -> int:
    """Resume or roll back every unfinished workflow this conductor can adopt, then sweep the
    requests lost more than `lost_after` seconds ago; returns how many workflows it recovered.

    `sole_conductor`: this is the only conductor there is (the embedded cloud), so whatever is
    unfinished was left by a previous run of this one and is adopted at once, lease or not.
    `starting`: the conductor has just started, so the workflows of earlier processes of its
    host name are adopted at once too.
    """
    adopted = []
    for row in journal.unfinished(svc.db):
        if row.owner == engine.owner and (engine.owner is None or engine.runs(row.uuid)):
            continue  # running here
        # Ours, yet no thread here runs it: its run stopped on an error that the journal could
        # not record (the database went away between two steps). No other conductor adopts
        # it while this one renews its lease, so this one recovers it.
        force = sole_conductor or row.owner == engine.owner or \
            (starting and incarnation_host(row.owner) == svc.host)
        if not journal.adopt(svc.db, row, engine.owner, engine.lease_seconds, force=force):
            continue  # its conductor is alive, or another one adopted it first
        adopted.append(row)
    if adopted:
        # side by side: a rollback may wait for a host still at work on the step a dead
        # conductor sent it (up to the step deadline), and the others need not wait behind it
        with ThreadPoolExecutor(max_workers=min(len(adopted), svc.conf.conductor.workers),
                                thread_name_prefix="recovery") as pool:
            for row in adopted:
                pool.submit(_recover_one, svc, engine, row)
    # the only conductor, starting: the requests recorded before it stopped went down with
    # its in-process queue, so they are sent again at once
    starting_alone = sole_conductor and starting
    pending_requests.resend_overdue(svc, 0.0 if starting_alone
                                    else svc.conf.workflow.request_resend_after,
                                    give_up_after=svc.conf.workflow.lost_request_timeout,
                                    holds_count=not starting_alone)
    _sweep_lost_requests(svc, datetime.utcnow() - timedelta(seconds=lost_after))
    return len(adopted)


def _recover_one(svc: ConductorServices, engine: Engine, row: journal.Workflow) -> None:
    try:
        flow = WORKFLOWS[row.kind].restore(svc, row)
        outcome = engine.recover(row.uuid, flow)
        LOG.warning("%s recovered %s workflow %s: %s", flow.log_prefix, row.kind, row.uuid,
                    "completed" if outcome.completed else "rolled back")
    except Exception:  # one broken record must not keep the others stuck
        LOG.exception("could not recover %s workflow %s", row.kind, row.uuid)


def incarnation(host: str) -> str:
    """A name for one process of the conductor of `host`: the owner of the workflows it runs."""
    return f"{host}:{uuid.uuid4().hex[:12]}"


def incarnation_host(owner: str | None) -> str | None:
    return owner.rpartition(":")[0] if owner else None


def _sweep_lost_requests(svc: ConductorServices, accepted_before: datetime) -> None:
    db = svc.db
    # one changed since may have a conductor about to start on it (a new server: its build)
    for instance in instances.busy_or_resized(db, unchanged_since=accepted_before):
        # a confirm is accepted on the migration alone: the server's row stays as it was
        open_move = migrations.latest_in_progress(db, instance.uuid)
        if open_move is not None and open_move.updated_at is not None and \
                open_move.updated_at > accepted_before:
            continue
        # the record first: a conductor takes it in the transaction that journals its
        # workflow, so a request taken between the two reads is seen running by the second
        if accepted_requests.pending_for(db, instance.uuid) or \
                journal.active_for(db, instance.uuid) is not None:
            continue  # recorded and sent again until a conductor takes it, or running
        accepted = _ACCEPTED_BY_TASK_STATE.get(instance.task_state)
        if accepted is not None and accepted.when_lost is states.WhenLost.RUN:
            LOG.warning("[instance: %s] %s was accepted but never ran: running it",
                        instance.uuid, accepted.action)
            Engine(db).run(DeleteWorkflow(svc, admin_context(), instance.uuid))
            continue
        if open_move is not None and open_move.status in _ACCEPTED_MIGRATION_STATUSES:
            migrations.update(db, open_move.uuid, open_move.status,
                              status=states.MIGRATION_FINISHED,
                              error_reason=str(Interrupted("the request was lost in a restart")))
        if accepted is not None:
            vm_state = states.ERROR if accepted.when_lost is states.WhenLost.FAIL \
                else instance.vm_state
            LOG.warning("[instance: %s] %s was accepted but never ran: back to %s",
                        instance.uuid, instance.task_state, vm_state)
            # a lost resize also gives back the flavor it held in the project's quota usage
            released = dict.fromkeys(accepted.lost_clears)
            instances.update(db, instance.uuid, {"task_state": instance.task_state},
                             task_state=None, vm_state=vm_state, **released)
            instances.add_fault(db, instance.uuid, 500, f"{instance.task_state} was interrupted "
                                "by a restart before it started; nothing was changed")
