"""The conductor's workflow engine: steps in order, a journal, compensation in reverse."""
import uuid

import pytest
from sqlalchemy import func, select

from herder.conductor.engine import Engine, Parked, Step
from herder.db import journal
from herder.db.models import Workflow
from herder.fault_injection import FaultInjector


class StepFailed(Exception):
    pass


class ScriptedFlow:
    """A workflow whose steps record what ran, in a shared log; some are told to fail."""

    kind = "scripted"
    log_prefix = "[test]"

    def __init__(self, names: list[str], fail: set[str] = frozenset(),
                 fail_compensation: set[str] = frozenset(), non_critical: set[str] = frozenset(),
                 without_compensation: set[str] = frozenset(), stop_before: str | None = None):
        self.instance_uuid = str(uuid.uuid4())
        self.stop_before = stop_before   # a step before which a stop is asked for
        self.migration_uuid = None
        self.log: list[str] = []
        self.rollbacks: list[tuple[BaseException, bool]] = []
        self._steps = [Step(name, "conductor", self._runner(name, name in fail),
                            None if name in without_compensation
                            else self._compensator(name, name in fail_compensation),
                            critical=name not in non_critical)
                       for name in names]

    def _runner(self, name, fails):
        def run():
            self.log.append(f"run {name}")
            if fails:
                raise StepFailed(f"{name} broke")
        return run

    def _compensator(self, name, fails):
        def compensate():
            self.log.append(f"undo {name}")
            if fails:
                raise StepFailed(f"undoing {name} broke")
        return compensate

    def steps(self) -> list[Step]:
        return self._steps

    def snapshot(self) -> dict:
        return {"why": "unit test"}

    def stop_requested(self) -> BaseException | None:
        ran = [entry for entry in self.log if entry.startswith("run ")]
        upcoming = self._steps[len(ran)].name if len(ran) < len(self._steps) else None
        if self.stop_before is not None and upcoming == self.stop_before:
            return StepFailed("stop asked for")
        return None

    def rolled_back(self, error: BaseException, complete: bool) -> None:
        self.log.append("rolled_back")
        self.rollbacks.append((error, complete))


def workflow_row(db, flow) -> Workflow:
    with db.transaction() as session:
        return session.scalars(select(Workflow).where(
            Workflow.instance_uuid == flow.instance_uuid)).one()


def journal_of(db, flow) -> list[tuple[int, str, str, str]]:
    return [(s.position, s.name, s.service, s.state)
            for s in journal.steps(db, workflow_row(db, flow).uuid)]


def test_steps_run_in_order_and_are_journaled_done(db):
    flow = ScriptedFlow(["create_migration", "select_destinations", "prep_resize"])
    outcome = Engine(db).run(flow)
    assert outcome.completed and outcome.error is None
    assert flow.log == ["run create_migration", "run select_destinations", "run prep_resize"]
    assert journal_of(db, flow) == [(0, "create_migration", "conductor", "done"),
                                    (1, "select_destinations", "conductor", "done"),
                                    (2, "prep_resize", "conductor", "done")]
    assert all(s.finished_at is not None for s in journal.steps(db, workflow_row(db, flow).uuid))


def test_completed_workflow_is_recorded_with_its_kind_and_snapshot(db):
    flow = ScriptedFlow(["a"])
    Engine(db).run(flow)
    row = workflow_row(db, flow)
    assert (row.status, row.kind, row.context, row.error) == \
        ("completed", "scripted", {"why": "unit test"}, None)
    assert journal.active_for(db, flow.instance_uuid) is None


def test_what_a_step_learnt_is_journaled_with_its_done_before_the_next_step_runs(db):
    """A restarted conductor restores a workflow from the context saved with its last step."""
    flow = ScriptedFlow(["choose_host", "use_host"])
    learnt = {"why": "unit test"}
    flow.snapshot = lambda: dict(learnt)
    saved = {}

    def choose_host():
        learnt["host"] = "compute2"

    def use_host():
        saved["context"] = workflow_row(db, flow).context
        saved["steps"] = journal_of(db, flow)
    flow._steps[0].run, flow._steps[1].run = choose_host, use_host
    Engine(db).run(flow)
    assert saved["context"] == {"why": "unit test", "host": "compute2"}
    assert saved["steps"] == [(0, "choose_host", "conductor", "done"),
                              (1, "use_host", "conductor", "started")]


def test_a_stop_asked_for_between_steps_rolls_back_what_ran_instead_of_going_on(db):
    flow = ScriptedFlow(["a", "b", "c"], stop_before="c")
    outcome = Engine(db).run(flow)
    assert not outcome.completed and str(outcome.error) == "stop asked for"
    assert flow.log == ["run a", "run b", "undo b", "undo a", "rolled_back"]
    assert flow.rollbacks == [(outcome.error, True)]
    # the step that ran last was recorded done before it was undone; the next never began
    assert journal_of(db, flow) == [(0, "a", "conductor", "compensated"),
                                    (1, "b", "conductor", "compensated")]
    assert workflow_row(db, flow).status == journal.ROLLED_BACK


def test_step_journal_row_is_written_before_the_step_runs(db):
    flow = ScriptedFlow(["first", "second"])
    seen = {}

    def look_at_journal():
        row = workflow_row(db, flow)
        seen["status"] = row.status
        seen["steps"] = journal_of(db, flow)
    flow._steps[1].run = look_at_journal
    Engine(db).run(flow)
    assert seen == {"status": "running",
                    "steps": [(0, "first", "conductor", "done"),
                              (1, "second", "conductor", "started")]}


def test_a_conductor_that_lost_the_workflow_stops_before_the_next_step(db):
    """Another conductor adopts the workflow while `first` runs (our lease ran out): we stop
    before `second`, and leave `first` as begun, not done, for the new owner's recovery."""
    flow = ScriptedFlow(["first", "second"])

    def adopted_meanwhile():
        flow.log.append("run first")
        assert journal.adopt(db, workflow_row(db, flow), "conductor-b", 30, force=True)
    flow._steps[0].run = adopted_meanwhile
    outcome = Engine(db, owner="conductor-a", lease_seconds=30).run(flow)
    assert not outcome.completed and isinstance(outcome.error, journal.LostOwnership)
    assert flow.log == ["run first"]
    assert journal_of(db, flow) == [(0, "first", "conductor", "started")]
    row = workflow_row(db, flow)
    assert (row.owner, row.status) == ("conductor-b", "running")


def test_a_conductor_that_lost_the_workflow_in_its_last_step_does_not_complete_it(db):
    flow = ScriptedFlow(["only"])

    def adopted_meanwhile():
        assert journal.adopt(db, workflow_row(db, flow), "conductor-b", 30, force=True)
    flow._steps[0].run = adopted_meanwhile
    outcome = Engine(db, owner="conductor-a", lease_seconds=30).run(flow)
    assert isinstance(outcome.error, journal.LostOwnership)
    assert (workflow_row(db, flow).status, journal_of(db, flow)) == \
        ("running", [(0, "only", "conductor", "started")])


def test_failing_step_compensates_itself_and_every_earlier_step_in_reverse(db):
    flow = ScriptedFlow(["a", "b", "c", "d"], fail={"c"})
    outcome = Engine(db).run(flow)
    assert flow.log == ["run a", "run b", "run c", "undo c", "undo b", "undo a", "rolled_back"]
    assert not outcome.completed
    assert isinstance(outcome.error, StepFailed) and outcome.compensation_errors == []
    [(error, complete)] = flow.rollbacks
    assert error is outcome.error and complete is True
    # every undone step is journaled as compensated; the one that failed keeps its error
    assert journal_of(db, flow) == [(0, "a", "conductor", "compensated"),
                                    (1, "b", "conductor", "compensated"),
                                    (2, "c", "conductor", "compensated")]
    row = workflow_row(db, flow)
    assert row.status == "rolled_back"
    assert row.error == "tests.unit.test_engine.StepFailed: c broke"
    [failed] = [s for s in journal.steps(db, row.uuid) if s.error]
    assert (failed.name, failed.error) == ("c", "tests.unit.test_engine.StepFailed: c broke")


def test_steps_without_compensation_are_skipped_on_rollback(db):
    flow = ScriptedFlow(["a", "b", "c"], fail={"c"}, without_compensation={"b"})
    Engine(db).run(flow)
    assert flow.log == ["run a", "run b", "run c", "undo c", "undo a", "rolled_back"]
    assert workflow_row(db, flow).status == "rolled_back"


def test_failure_of_the_first_step_compensates_only_that_step(db):
    flow = ScriptedFlow(["a", "b"], fail={"a"})
    Engine(db).run(flow)
    assert flow.log == ["run a", "undo a", "rolled_back"]


def test_non_critical_step_failure_is_journaled_but_does_not_roll_back(db):
    flow = ScriptedFlow(["a", "notify", "c"], fail={"notify"}, non_critical={"notify"})
    outcome = Engine(db).run(flow)
    assert outcome.completed
    assert flow.log == ["run a", "run notify", "run c"]
    assert flow.rollbacks == []
    assert journal_of(db, flow) == [(0, "a", "conductor", "done"),
                                    (1, "notify", "conductor", "failed"),
                                    (2, "c", "conductor", "done")]
    assert workflow_row(db, flow).status == "completed"


def test_failed_non_critical_step_is_not_compensated_by_a_later_rollback(db):
    flow = ScriptedFlow(["a", "notify", "c"], fail={"notify", "c"}, non_critical={"notify"})
    Engine(db).run(flow)
    assert flow.log == ["run a", "run notify", "run c", "undo c", "undo a", "rolled_back"]


def test_compensation_failure_keeps_undoing_and_marks_the_workflow_failed(db):
    flow = ScriptedFlow(["a", "b", "c"], fail={"c"}, fail_compensation={"b"})
    outcome = Engine(db).run(flow)
    assert flow.log == ["run a", "run b", "run c", "undo c", "undo b", "undo a", "rolled_back"]
    [(error, complete)] = flow.rollbacks
    assert str(error) == "c broke" and complete is False
    assert [str(e) for e in outcome.compensation_errors] == ["undoing b broke"]
    row = workflow_row(db, flow)
    assert row.status == "failed"
    assert row.error == "tests.unit.test_engine.StepFailed: c broke"


def test_workflow_is_rolling_back_while_compensations_run(db):
    flow = ScriptedFlow(["a", "b"], fail={"b"})
    seen = []
    flow._steps[0].compensate = lambda: seen.append(workflow_row(db, flow).status)
    Engine(db).run(flow)
    assert seen == ["rolling_back"]
    assert journal.active_for(db, flow.instance_uuid) is None


def test_migration_uuid_learned_during_the_steps_is_recorded_on_the_workflow(db):
    flow = ScriptedFlow(["create_migration", "b"])
    migration_uuid = str(uuid.uuid4())
    flow._steps[0].run = lambda: setattr(flow, "migration_uuid", migration_uuid)
    Engine(db).run(flow)
    assert workflow_row(db, flow).migration_uuid == migration_uuid


def test_failing_rolled_back_hook_leaves_the_workflow_failed_not_rolled_back(db):
    flow = ScriptedFlow(["a"], fail={"a"})

    def hook_breaks(error, complete):
        raise StepFailed("could not put the server back")
    flow.rolled_back = hook_breaks
    try:
        Engine(db).run(flow)
    except StepFailed:
        pass  # whether the hook's error propagates is not the point here
    assert workflow_row(db, flow).status == "failed"


def _writing_step(db, writes: list[str]):
    """A step that commits two writes (workflow rows stand in for any record)."""
    def run():
        for _ in range(2):
            journal.open_workflow(db, str(uuid.uuid4()), "record", str(uuid.uuid4()), None, {})
            writes.append("written")
    return run


def test_a_fault_point_after_a_steps_first_write_fires_with_that_write_committed(db, tmp_path):
    """`<kind>.<step>.first_write`: where the crash matrix kills a conductor inside a step."""
    fault_points = FaultInjector("conductor", ["conductor:scripted.a.first_write"], str(tmp_path))
    flow = ScriptedFlow(["a"])
    writes: list[str] = []
    flow._steps[0].run = _writing_step(db, writes)
    outcome = Engine(db, fault_points).run(flow)
    assert not outcome.completed and "injected fault" in str(outcome.error)
    assert writes == []   # failed on the way out of the first write's transaction...
    with db.transaction() as session:   # ...which had committed
        assert session.scalar(select(func.count()).select_from(Workflow).where(
            Workflow.kind == "record")) == 1


def test_a_fault_point_after_a_steps_last_write_fires_once_it_returned(db, tmp_path):
    fault_points = FaultInjector("conductor", ["conductor:scripted.a.last_write"], str(tmp_path))
    flow = ScriptedFlow(["a", "b"])
    writes: list[str] = []
    flow._steps[0].run = _writing_step(db, writes)
    outcome = Engine(db, fault_points).run(flow)
    assert not outcome.completed and writes == ["written", "written"]
    assert flow.log == ["undo a", "rolled_back"]   # b never ran


class WaitingFlow(ScriptedFlow):
    """Steps a, wait, b: `wait` parks the workflow until `ready` is set."""

    def __init__(self):
        super().__init__(["a", "wait", "b"])
        self.ready = False
        self._steps[1] = Step("wait", "conductor", self._wait, waits=True)

    def _wait(self):
        self.log.append("run wait")
        if not self.ready:
            raise Parked("not yet")


def test_a_waiting_step_parks_the_workflow_without_an_owner_until_resumed(db):
    flow, parked = WaitingFlow(), []
    engine = Engine(db, owner="conductor-1")
    engine.when_parked = lambda: parked.append(True)
    outcome = engine.run(flow)
    assert outcome.parked and not outcome.completed and parked == [True]
    row = workflow_row(db, flow)
    assert (row.status, row.owner, row.lease_until) == (journal.PARKED, None, None)
    assert journal.active_for(db, flow.instance_uuid) is not None   # busy, not lost
    assert row.uuid not in {r.uuid for r in journal.unfinished(db)}  # no recovery takes it

    flow.ready = True
    assert journal.unpark(db, row.uuid, "conductor-2", 30)
    assert not journal.unpark(db, row.uuid, "conductor-3", 30)   # one conductor wins
    assert Engine(db, owner="conductor-2").resume(row.uuid, flow).completed
    assert flow.log == ["run a", "run wait", "run wait", "run b"]
    assert [state for *_, state in journal_of(db, flow)] == ["done", "started", "done", "done"]


def test_a_workflow_interrupted_in_its_waiting_step_waits_again_instead_of_rolling_back(db):
    flow = WaitingFlow()
    assert Engine(db, owner="conductor-1").run(flow).parked
    assert journal.unpark(db, workflow_row(db, flow).uuid, "conductor-1", 30)
    # conductor-1 died before it went on: another one adopts the workflow and recovers it
    row = workflow_row(db, flow)
    assert journal.adopt(db, row, "conductor-2", 30, force=True)
    outcome = Engine(db, owner="conductor-2").recover(row.uuid, flow)
    assert outcome.parked
    assert flow.log == ["run a", "run wait", "run wait"]
    assert workflow_row(db, flow).status == journal.PARKED


def test_a_parked_workflow_asked_to_stop_rolls_back_when_resumed(db):
    flow = WaitingFlow()
    engine = Engine(db)
    assert engine.run(flow).parked
    flow.stop_before = "wait"
    row = workflow_row(db, flow)
    assert journal.unpark(db, row.uuid, None, 0)
    flow.log.remove("run wait")   # stop_requested counts the steps that ran
    outcome = engine.resume(row.uuid, flow)
    assert not outcome.completed and str(outcome.error) == "stop asked for"
    assert flow.log[-2:] == ["undo a", "rolled_back"]
    assert workflow_row(db, flow).status == journal.ROLLED_BACK


def test_only_a_step_marked_waits_may_park(db):
    flow = ScriptedFlow(["a"])

    def parks():
        raise Parked("not allowed here")
    flow._steps[0].run = parks
    with pytest.raises(TypeError):
        Engine(db).run(flow)
