"""ServerWorkflow's records: action events by id, and `together` blocks that write all or
nothing."""
import pytest

from herder import exception, states
from herder.conductor.base import ConductorServices, ServerWorkflow
from herder.context import admin_context
from herder.db import actions, instances


@pytest.fixture
def flow(db, add_server):
    server = add_server("p", 1, 512)
    context = admin_context()
    actions.start(db, context, server, "migrate")
    workflow = ServerWorkflow(ConductorServices(conf=None, db=db, bus=None, notifier=None,
                                                host="conductor1"), context, server)
    workflow.action = "migrate"
    return workflow


def _events(db, flow) -> dict[str, str | None]:
    return {e.event: e.result for e in actions.events_of(db, flow.action_id())}


def test_events_open_and_close_by_id_even_across_a_restart(db, flow):
    flow.start_event("compute_prep_resize", "compute1")
    flow.start_event("compute_resize_instance", "compute2")
    flow.finish_event("compute_prep_resize")
    # a workflow restored after a restart has no ids in memory: it finds the event by name
    restored = ServerWorkflow(flow.svc, flow.context, flow.instance_uuid)
    restored.action = "migrate"
    restored.finish_event("compute_resize_instance", RuntimeError("copy failed"))
    assert _events(db, flow) == {"compute_prep_resize": "Success",
                                 "compute_resize_instance": "Error"}
    assert actions.get(db, flow.instance_uuid, flow.context.request_id).message == "Error"


def test_a_together_block_that_fails_writes_nothing_and_forgets_what_it_cached(db, flow):
    with pytest.raises(exception.UnexpectedTaskState):
        with flow.together():
            flow.update_instance(task_state=states.RESIZE_MIGRATING)
            flow.start_event("compute_resize_instance", "compute1")
            flow.update_instance({"task_state": states.RESIZE_PREP}, progress=50)  # lost CAS
    assert instances.get(flow.db, flow.instance_uuid).task_state is None
    assert _events(db, flow) == {}
    # nothing of the block is taken for written: the server is read again, and the event,
    # never recorded, is not closed
    assert flow.wire()["task_state"] is None
    # (SQLite hands the rolled-back event's id to the next one: closing by a remembered id
    # would close this one)
    flow.start_event("compute_revert_resize", "compute1")
    flow.finish_event("compute_resize_instance")
    assert _events(db, flow) == {"compute_revert_resize": None}


def test_a_together_block_writes_all_of_its_records_at_once(db, flow):
    with flow.together():
        flow.update_instance(task_state=states.RESIZE_MIGRATING)
        flow.start_event("compute_resize_instance", "compute1")
    flow.finish_event("compute_resize_instance")
    flow.finish_action()
    assert instances.get(db, flow.instance_uuid).task_state == states.RESIZE_MIGRATING
    assert _events(db, flow) == {"compute_resize_instance": "Success"}
    assert actions.get(db, flow.instance_uuid, flow.context.request_id).finish_time is not None


def test_a_compute_step_records_its_event_around_the_call_with_the_writes_around_it(db, flow):
    seen = {}

    def call():
        # the writes before the call are in, and its event open, while the host works
        seen["task_state"] = instances.get(db, flow.instance_uuid).task_state
        seen["events"] = _events(db, flow)
        return 90

    returned = flow.compute_step(
        "compute_resize_instance", "compute1",
        before=lambda: flow.update_instance(task_state=states.RESIZE_MIGRATING),
        call=call, after=lambda progress: flow.update_instance(progress=progress))
    assert returned == 90
    assert seen == {"task_state": states.RESIZE_MIGRATING,
                    "events": {"compute_resize_instance": None}}
    assert instances.get(db, flow.instance_uuid).progress == 90
    assert _events(db, flow) == {"compute_resize_instance": "Success"}


def test_a_compute_step_whose_call_fails_closes_its_event_failed_and_writes_no_result(db,
                                                                                    flow):
    def call():
        raise RuntimeError("the host broke")

    with pytest.raises(RuntimeError):
        flow.compute_step("compute_resize_instance", "compute1",
                          before=lambda: flow.update_instance(task_state=states.RESIZE_MIGRATING),
                          call=call, after=lambda _: flow.update_instance(progress=90))
    assert instances.get(db, flow.instance_uuid).task_state == states.RESIZE_MIGRATING
    assert instances.get(db, flow.instance_uuid).progress != 90
    assert _events(db, flow) == {"compute_resize_instance": "Error"}


def test_a_compute_step_whose_writes_before_fail_records_no_event_and_calls_nothing(db, flow):
    called = []
    with pytest.raises(exception.UnexpectedTaskState):
        flow.compute_step("compute_resize_instance", "compute1",
                          before=lambda: flow.update_instance({"task_state": states.RESIZE_PREP},
                                                              task_state=states.RESIZE_MIGRATING),
                          call=lambda: called.append("call"))
    assert called == [] and _events(db, flow) == {}


def test_a_compute_step_may_read_its_host_in_its_first_transaction(db, flow):
    flow.compute_step("compute_confirm_resize", lambda: "compute2", call=lambda: None)
    [event] = actions.events_of(db, flow.action_id())
    assert (event.event, event.host, event.result) == ("compute_confirm_resize", "compute2",
                                                       "Success")
