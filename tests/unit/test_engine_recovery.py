"""Engine.recover: a workflow left unfinished by a crash is rolled back before its point of no
return and resumed after it, from what the journal says was done."""
import uuid

from herder.conductor.engine import Engine, Interrupted
from herder.db import journal
from tests.unit.test_engine import ScriptedFlow, workflow_row


def crashed(db, flow: ScriptedFlow, journaled: list[tuple[str, str]]) -> str:
    """Journal `flow` as a crash would leave it: (step name, state) in the order written."""
    workflow_uuid = str(uuid.uuid4())
    journal.open_workflow(db, workflow_uuid, flow.kind, flow.instance_uuid, None, {})
    positions = {step.name: i for i, step in enumerate(flow.steps())}
    for name, state in journaled:
        step_id = journal.advance(db, workflow_uuid, None, (positions[name], name, "conductor"))
        if state != journal.STEP_STARTED:
            journal.step_state(db, step_id, state)
    return workflow_uuid


def test_crash_before_the_point_of_no_return_rolls_back_what_was_begun(db):
    flow = ScriptedFlow(["a", "b", "c", "d"])
    workflow_uuid = crashed(db, flow, [("a", "done"), ("b", "done"), ("c", "started")])
    outcome = Engine(db).recover(workflow_uuid, flow)
    assert flow.log == ["undo c", "undo b", "undo a", "rolled_back"]
    assert not outcome.completed and isinstance(outcome.error, Interrupted)
    assert journal.steps(db, workflow_uuid)[-1].state == journal.STEP_COMPENSATED
    assert flow.rollbacks[0][1] is True


def test_crash_once_a_committing_step_began_resumes_from_that_step(db):
    flow = ScriptedFlow(["a", "b", "c", "d"])
    flow.steps()[1].commits = True
    workflow_uuid = crashed(db, flow, [("a", "done"), ("b", "started")])
    outcome = Engine(db).recover(workflow_uuid, flow)
    assert flow.log == ["run b", "run c", "run d"]
    assert outcome.completed
    assert workflow_row(db, flow).status == journal.COMPLETED


def test_crash_after_a_committed_step_resumes_at_the_next_step_not_done(db):
    flow = ScriptedFlow(["a", "b", "c", "d"])
    flow.steps()[1].commits = True
    workflow_uuid = crashed(db, flow, [("a", "done"), ("b", "done"), ("c", "done")])
    Engine(db).recover(workflow_uuid, flow)
    assert flow.log == ["run d"]


def test_crash_during_a_rollback_finishes_it_without_undoing_a_step_twice(db):
    flow = ScriptedFlow(["a", "b", "c"])
    workflow_uuid = crashed(db, flow, [("a", "done"), ("b", "done"), ("c", "failed")])
    # the first rollback got as far as compensating c before the crash
    c_row = journal.steps(db, workflow_uuid)[-1]
    journal.step_state(db, c_row.id, journal.STEP_COMPENSATED)
    Engine(db).recover(workflow_uuid, flow)
    assert flow.log == ["undo b", "undo a", "rolled_back"]
    assert workflow_row(db, flow).status == journal.ROLLED_BACK


def test_a_step_whose_last_write_went_in_counts_done_and_the_workflow_completes(db):
    """A crash after the last step's last write and before the journal's: the records show
    the work done, so nothing is undone (a user may already act on the result)."""
    flow = ScriptedFlow(["a", "b"])
    flow.steps()[1].done_if = lambda: True
    workflow_uuid = crashed(db, flow, [("a", "done"), ("b", "started")])
    outcome = Engine(db).recover(workflow_uuid, flow)
    assert outcome.completed and flow.log == []
    assert workflow_row(db, flow).status == journal.COMPLETED
    assert [s.state for s in journal.steps(db, workflow_uuid)] == ["done", "done"]


def test_a_step_whose_records_show_it_unfinished_is_rolled_back_as_before(db):
    flow = ScriptedFlow(["a", "b"])
    flow.steps()[1].done_if = lambda: False
    workflow_uuid = crashed(db, flow, [("a", "done"), ("b", "started")])
    Engine(db).recover(workflow_uuid, flow)
    assert flow.log == ["undo b", "undo a", "rolled_back"]


def test_a_done_check_that_fails_counts_as_unfinished(db):
    flow = ScriptedFlow(["a", "b"])

    def cannot_tell():
        raise RuntimeError("record gone")
    flow.steps()[1].done_if = cannot_tell
    workflow_uuid = crashed(db, flow, [("a", "done"), ("b", "started")])
    Engine(db).recover(workflow_uuid, flow)
    assert flow.log == ["undo b", "undo a", "rolled_back"]


def test_a_finished_step_before_the_last_moves_a_committing_workflow_on(db):
    flow = ScriptedFlow(["a", "b", "c"])
    flow.steps()[1].commits = True
    flow.steps()[1].done_if = lambda: True
    workflow_uuid = crashed(db, flow, [("a", "done"), ("b", "started")])
    assert Engine(db).recover(workflow_uuid, flow).completed
    assert flow.log == ["run c"]
