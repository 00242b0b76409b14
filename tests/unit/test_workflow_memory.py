"""What a workflow keeps in its journal row: a versioned dataclass per workflow, written as JSON
and read back in the current version whichever version wrote it."""
import json
import uuid
from dataclasses import dataclass

import pytest

from herder import states
from herder.conductor.base import ConductorServices, ServerWorkflow
from herder.conductor.memory import NewerMemory, WorkflowMemory
from herder.conductor.workflows.confirm import ConfirmWorkflow
from herder.conductor.workflows.lifecycle import (BuildMemory, BuildWorkflow, PowerMemory,
                                                  PowerWorkflow)
from herder.conductor.workflows.migrate import MigrateWorkflow, MoveMemory
from herder.conductor.workflows.revert import RevertMemory
from herder.context import admin_context
from herder.db import journal

TINY = {"id": 1, "flavorid": "1", "name": "m1.tiny", "vcpus": 1, "memory_mb": 512,
        "root_gb": 1}
SMALL = {"id": 2, "flavorid": "2", "name": "m1.small", "vcpus": 1, "memory_mb": 2048,
         "root_gb": 20}
DEST = {"host": "compute2", "node": "compute2", "node_uuid": "a1b2"}


@pytest.fixture
def svc(db):
    return ConductorServices(conf=None, db=db, bus=None, notifier=None, host="conductor1")


def journaled(db, flow, context: dict) -> object:
    """The journal row of `flow` with `context` as written, read back."""
    workflow_uuid = str(uuid.uuid4())
    journal.open_workflow(db, workflow_uuid, flow.kind, flow.instance_uuid, flow.migration_uuid,
                          context)
    return next(row for row in journal.unfinished(db) if row.uuid == workflow_uuid)


@pytest.mark.parametrize("memory", [
    WorkflowMemory(),
    BuildMemory(selection=DEST),
    PowerMemory("reboot_hard"),
    RevertMemory(power_on_after=False, was_running_on_dest=True),
    MoveMemory(new_flavor_requested=SMALL, requested_host="compute2", old_flavor=TINY,
               new_flavor=SMALL, source_host="compute1", source_node="compute1",
               old_vm_state=states.STOPPED, selections=[DEST], dest=DEST),
])
def test_a_memory_reads_back_as_written_through_json(memory):
    written = json.loads(json.dumps({"memory": memory.to_journal()}))
    assert written["memory"]["version"] == type(memory).VERSION
    assert type(memory).from_journal(written) == memory


def test_a_workflow_snapshot_restores_to_the_same_memory(db, svc):
    flow = MigrateWorkflow(svc, admin_context(), str(uuid.uuid4()),
                           memory=MoveMemory(new_flavor_requested=SMALL))
    flow.old_flavor, flow.source_host, flow.dest = TINY, "compute1", DEST   # steps learn
    restored = MigrateWorkflow.restore(svc, journaled(db, flow, flow.snapshot()))
    assert restored.memory == flow.memory and restored.memory is not flow.memory
    assert (restored.migration_uuid, restored.action, restored.restored) == \
        (flow.migration_uuid, "resize", True)
    assert (restored.source_host, restored.dest) == ("compute1", DEST)


def test_a_move_journaled_before_memories_had_versions_restores(db, svc):
    """The layout every journal row had before: the arguments and the remembered attributes,
    no version; a resize's requested flavor was the argument `new_flavor`."""
    context = admin_context()
    flow = MigrateWorkflow(svc, context, str(uuid.uuid4()))
    row = journaled(db, flow, {
        "context": context.to_dict(), "action": "resize",
        "arguments": {"new_flavor": SMALL, "requested_host": "compute2"},
        "remembered": {"old_flavor": TINY, "new_flavor": SMALL, "source_host": "compute1",
                       "source_node": "node1", "old_vm_state": states.STOPPED,
                       "selections": [DEST], "dest": DEST}})
    restored = MigrateWorkflow.restore(svc, row)
    assert restored.memory == MoveMemory(
        new_flavor_requested=SMALL, requested_host="compute2", old_flavor=TINY,
        new_flavor=SMALL, source_host="compute1", source_node="node1",
        old_vm_state=states.STOPPED, selections=[DEST], dest=DEST)
    assert (restored.action, restored.migration_uuid, restored.power_on_after) == \
        ("resize", flow.migration_uuid, False)
    assert restored.context.request_id == context.request_id


def test_a_move_journaled_before_its_first_step_learnt_anything_restores(db, svc):
    flow = MigrateWorkflow(svc, admin_context(), str(uuid.uuid4()))
    row = journaled(db, flow, {"context": admin_context().to_dict(), "action": "migrate",
                               "arguments": {"new_flavor": None, "requested_host": None},
                               "remembered": {"old_flavor": {}, "new_flavor": {},
                                              "source_host": None, "source_node": None,
                                              "old_vm_state": "active", "selections": [],
                                              "dest": {}}})
    restored = MigrateWorkflow.restore(svc, row)
    assert restored.memory == MoveMemory() and restored.action == "migrate"


@pytest.mark.parametrize("arguments, operation", [
    ({"operation": "suspend"}, "suspend"),
    ({"power_on": True}, "start"),      # from before the other power operations existed
    ({"power_on": False}, "stop"),
])
def test_a_power_change_journaled_before_memories_had_versions_restores(db, svc, arguments,
                                                                        operation):
    flow = PowerWorkflow(svc, admin_context(), str(uuid.uuid4()), memory=PowerMemory("stop"))
    row = journaled(db, flow, {"context": admin_context().to_dict(), "action": "stop",
                               "arguments": arguments, "remembered": {}})
    restored = PowerWorkflow.restore(svc, row)
    assert restored.operation == operation
    assert restored.task_state == {"suspend": states.SUSPENDING, "start": states.POWERING_ON,
                                   "stop": states.POWERING_OFF}[operation]


def test_a_confirm_journaled_before_memories_had_versions_takes_its_migration_from_the_row(
        db, svc):
    migration_uuid = str(uuid.uuid4())
    flow = ConfirmWorkflow(svc, admin_context(), str(uuid.uuid4()), migration_uuid)
    row = journaled(db, flow, {"context": admin_context().to_dict(), "action": "confirmResize",
                               "arguments": {"migration_uuid": migration_uuid},
                               "remembered": {}})
    restored = ConfirmWorkflow.restore(svc, row)
    assert restored.migration_uuid == migration_uuid and restored.memory == WorkflowMemory()


def test_a_build_journaled_before_memories_had_versions_restores(db, svc):
    flow = BuildWorkflow(svc, admin_context(), str(uuid.uuid4()))
    row = journaled(db, flow, {"context": admin_context().to_dict(), "action": "create",
                               "arguments": {}, "remembered": {"selection": DEST}})
    assert BuildWorkflow.restore(svc, row).selection == DEST


def test_a_revert_memory_journaled_before_memories_had_versions_reads():
    saved = {"arguments": {"migration_uuid": str(uuid.uuid4())},
             "remembered": {"power_on_after": False, "was_running_on_dest": True}}
    assert RevertMemory.from_journal(saved) == RevertMemory(power_on_after=False,
                                                            was_running_on_dest=True)


def test_a_memory_from_a_newer_herder_is_refused():
    saved = {"memory": {"version": MoveMemory.VERSION + 1, "source_host": "compute1"}}
    with pytest.raises(NewerMemory):
        MoveMemory.from_journal(saved)


def test_each_version_goes_through_every_later_upgrade_in_order():
    @dataclass
    class Example(WorkflowMemory):
        VERSION = 3
        UPGRADES = (lambda v0: {"host": v0["remembered"]["host"], "log": v0["arguments"]["log"]},
                    lambda v1: {"where": v1["host"], "log": v1["log"]},
                    lambda v2: {"where": v2["where"], "tries": len(v2["log"])})
        where: str = ""
        tries: int = 0

    assert Example.from_journal({"arguments": {"log": ["a", "b"]},
                                 "remembered": {"host": "h"}}) == Example("h", 2)
    assert Example.from_journal({"memory": {"version": 2, "where": "h", "log": ["a"]}}) == \
        Example("h", 1)
    assert Example.from_journal({"memory": {"version": 3, "where": "h", "tries": 5}}) == \
        Example("h", 5)


def test_a_memory_must_bring_an_upgrade_from_each_earlier_version():
    with pytest.raises(TypeError, match="one from each earlier version"):
        @dataclass
        class Skipped(WorkflowMemory):
            VERSION = 2


def test_a_memory_field_may_not_hide_an_attribute_of_the_workflow():
    @dataclass
    class Clashing(WorkflowMemory):
        kind: str = "x"

    with pytest.raises(TypeError, match="kind"):
        class Broken(ServerWorkflow):
            Memory = Clashing
