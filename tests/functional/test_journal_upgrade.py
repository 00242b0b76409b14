"""herder upgraded while workflows are in flight: the new conductor picks each one up from the
journal row the older herder wrote, in the layout from before workflow memories had versions
(the constructor's arguments under "arguments", what the steps learnt under "remembered")."""
import uuid

from sqlalchemy import select

from herder import states
from herder.conductor.workflows.lifecycle import PowerMemory, PowerWorkflow
from herder.conductor.workflows.migrate import MigrateWorkflow, MoveMemory
from herder.context import admin_context
from herder.db import actions, flavors, instances, journal, placement
from herder.db.models import Workflow
from herder.db.placement import Resources
from tests.functional.observe import (actual_allocations, create_server, host_entries,
                                      instance_record, migration_of, wait_for_status,
                                      wait_until)

# the conductor that stopped before the upgrade; its lease is still running, so that only the
# upgraded conductor's start (which adopts everything, see below) picks its workflows up
GONE = "conductor-before-the-upgrade:0123456789ab"


# the steps of a move as the older herder had them: no take_move_slots yet
OLDER_MOVE_STEPS = ("create_migration", "move_source_allocation", "select_destinations",
                    "prep_resize", "resize_instance", "finish_resize")


def _journal_as_left(cloud, flow, saved: dict, steps_done: int,
                     older_steps: tuple[str, ...] | None = None) -> str:
    """`flow`'s journal row as the older conductor left it when it stopped: `saved` as its
    context, its first `steps_done` steps done and the next one begun; `older_steps`: the
    names of the steps it had, where they differ from this herder's."""
    workflow_uuid = str(uuid.uuid4())
    journal.open_workflow(cloud.db, workflow_uuid, flow.kind, flow.instance_uuid,
                          flow.migration_uuid, saved, owner=GONE, lease_seconds=3600)
    step_of = {step.name: step for step in flow.steps()}
    names = older_steps or tuple(step_of)
    for position, name in enumerate(names[:steps_done + 1]):
        step_id = journal.advance(cloud.db, workflow_uuid, None,
                                  (position, name, step_of[name].service))
        if position < steps_done:
            journal.step_state(cloud.db, step_id, journal.STEP_DONE)
    return workflow_uuid


def _status(cloud, workflow_uuid: str) -> str:
    with cloud.db.transaction() as session:
        return session.scalar(select(Workflow.status).where(Workflow.uuid == workflow_uuid))


def _upgraded_conductor_starts(cloud) -> None:
    # what a conductor does when it starts as the only one: adopt whatever is unfinished
    cloud.conductor.recover(sole_conductor=True)


def test_a_resize_journaled_before_memories_had_versions_rolls_back_to_its_source(cloud,
                                                                                  admin):
    server = create_server(admin)
    before = instance_record(cloud, server.id)
    source, tiny = before.host, before.flavor
    small = flavors.as_dict(flavors.get(cloud.db, "2"))
    # the api accepted a resize and handed it over; the older conductor ran the move up to
    # prep_resize (the steps are run here as it ran them) and stopped as resize_instance began
    context = admin_context()
    instances.update(cloud.db, server.id, task_state=states.RESIZE_PREP, progress=0,
                     new_flavor=small)
    actions.start(cloud.db, context, server.id, "resize")
    flow = MigrateWorkflow(cloud.conductor.svc, context, server.id,
                           memory=MoveMemory(new_flavor_requested=small))
    step_of = {step.name: step for step in flow.steps()}
    for name in OLDER_MOVE_STEPS[:4]:
        step_of[name].run()
    dest = flow.dest["host"]
    assert instance_record(cloud, server.id).task_state == states.RESIZE_PREP
    assert host_entries(cloud.instances_dirs()[dest])   # the destination holds its claim
    workflow_uuid = _journal_as_left(cloud, flow, {
        "context": context.to_dict(), "action": "resize",
        "arguments": {"new_flavor": small, "requested_host": None},
        "remembered": {"old_flavor": tiny, "new_flavor": small, "source_host": source,
                       "source_node": before.node, "old_vm_state": states.ACTIVE,
                       "selections": flow.selections, "dest": flow.dest}}, steps_done=4,
        older_steps=OLDER_MOVE_STEPS)

    _upgraded_conductor_starts(cloud)

    wait_until(lambda: _status(cloud, workflow_uuid) == journal.ROLLED_BACK,
               message="the resize rolled back")
    wait_for_status(admin, server.id, "ACTIVE")
    after = instance_record(cloud, server.id)
    assert (after.host, after.node, after.flavor["name"], after.new_flavor, after.task_state) \
        == (source, before.node, "m1.tiny", None, None)
    assert migration_of(cloud, server.id).status == states.MIGRATION_ERROR
    node = placement.node_by_host(cloud.db, source).uuid
    assert actual_allocations(cloud) == {(server.id, node): Resources(1, 512, 1)}
    assert host_entries(cloud.instances_dirs()[dest]) == set()
    assert server.id in host_entries(cloud.instances_dirs()[source])


def test_a_stop_journaled_when_power_changes_named_only_power_on_is_picked_up(cloud, admin):
    """The oldest layout of a power change: `power_on` (false: a stop), from before the other
    power operations existed."""
    server = create_server(admin)
    context = admin_context()
    instances.update(cloud.db, server.id, task_state=states.POWERING_OFF)
    actions.start(cloud.db, context, server.id, "stop")
    flow = PowerWorkflow(cloud.conductor.svc, context, server.id, memory=PowerMemory("stop"))
    workflow_uuid = _journal_as_left(cloud, flow, {
        "context": context.to_dict(), "action": "stop", "arguments": {"power_on": False},
        "remembered": {}}, steps_done=0)

    _upgraded_conductor_starts(cloud)

    # begun and not known to be done: undone, which gives the server back as it was
    wait_until(lambda: _status(cloud, workflow_uuid) == journal.ROLLED_BACK,
               message="the stop rolled back")
    assert instance_record(cloud, server.id).task_state is None
    assert admin.compute.get_server(server.id).status == "ACTIVE"
