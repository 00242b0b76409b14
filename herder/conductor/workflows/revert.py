"""Revert a finished move (docs/workflow.md, Revert): back to the source copy, flavor, host.

    revert_resize         destination  stop the guest (its disk stays for now)
    finish_revert_resize  source       restore `_resize`, old flavor, host; start if it was on
    discard_destination   destination  delete the destination copy, drop its claim
    complete_revert       conductor    task_state None: the server is ACTIVE/SHUTOFF again

herder stops the destination guest first and deletes its disk last, after the source copy is
back, so a failure at any point leaves one good copy: a failed revert puts the server back in
VERIFY_RESIZE on the destination, with the migration `finished` again so the user may retry.
"""
from dataclasses import dataclass

from herder import states
from herder.conductor.base import ServerWorkflow
from herder.conductor.engine import Step
from herder.conductor.memory import WorkflowMemory
from herder.db import placement


@dataclass
class RevertMemory(WorkflowMemory):
    """What a revert keeps in its journal: how the server ran before the revert changed it."""
    power_on_after: bool = True        # it ran before the move: start it again on the source
    was_running_on_dest: bool = True   # it ran on the destination: start it there if undone


class RevertWorkflow(ServerWorkflow):
    kind = "revert"
    action = "revertResize"
    Memory = RevertMemory

    def __init__(self, svc, context, instance_uuid: str, migration_uuid: str,
                 memory: RevertMemory | None = None):
        super().__init__(svc, context, instance_uuid, migration_uuid, memory)
        migration = self.migration()
        self.source_host, self.source_node = migration.source_compute, migration.source_node
        self.dest_host = migration.dest_compute
        if memory is None:   # a new revert (a restored one remembers how the server ran)
            instance = self.instance()
            self.power_on_after = instance.system_metadata.get("old_vm_state") != states.STOPPED
            self.was_running_on_dest = instance.power_state == states.RUNNING

    def steps(self) -> list[Step]:
        return [
            Step("revert_resize", "destination", self.revert_resize, self.restart_on_destination),
            # once the source copy is being restored, going back would leave two guests
            Step("finish_revert_resize", "source", self.finish_revert_resize, commits=True,
                 done_if=self.back_on_source),
            Step("discard_destination", "destination", self.discard_destination, critical=False),
            Step("complete_revert", "conductor", self.complete_revert,
                 done_if=self.revert_completed),
        ]

    def revert_resize(self) -> None:
        with self.event("compute_revert_resize", self.dest_host):
            power = self.computes.revert_resize(self.context, self.dest_host, instance=self.wire(),
                                                migration=self.migration_wire())
        self.update_instance(power_state=power)

    def restart_on_destination(self) -> None:
        power = self.computes.undo_revert_resize(
            self.context, self.dest_host, instance=self.wire(), migration=self.migration_wire(),
            power_on=self.was_running_on_dest)
        self.update_instance(power_state=power)

    def finish_revert_resize(self) -> None:
        instance = self.instance()
        with self.event("compute_finish_revert_resize", self.source_host):
            power = self.computes.finish_revert_resize(
                self.context, self.source_host, instance=self.wire(),
                migration=self.migration_wire(), power_on=self.power_on_after)
        # the source allocation, held by the migration, is the server's again (once only: a
        # run before a crash may have done it already)
        placement.give_back(self.db, self.migration_uuid, self.instance_uuid)
        with self.together():
            self.update_migration(states.MIGRATION_REVERTING, status=states.MIGRATION_REVERTED)
            self.update_instance({"task_state": states.RESIZE_REVERTING},
                                 vm_state=states.vm_state_for_power(power), power_state=power,
                                 host=self.source_host, node=self.source_node,
                                 flavor=instance.old_flavor or instance.flavor, old_flavor=None,
                                 new_flavor=None, progress=0)

    def back_on_source(self) -> bool:
        """finish_revert_resize's last write went in."""
        return self.migration().status == states.MIGRATION_REVERTED

    def discard_destination(self) -> None:
        if self.dest_host != self.source_host:
            self.computes.discard_incoming(self.context, self.dest_host, instance=self.wire(),
                                           migration=self.migration_wire())

    def complete_revert(self) -> None:
        """Last, so that a server shown ACTIVE again has nothing left on the destination."""
        self.update_instance({"task_state": states.RESIZE_REVERTING}, task_state=None)
        self.finish_action()

    def revert_completed(self) -> bool:
        return self.instance_now().task_state != states.RESIZE_REVERTING

    def rolled_back(self, error: BaseException, complete: bool) -> None:
        self.fail_open_events(error)
        self.update_migration(states.MIGRATION_REVERTING, status=states.MIGRATION_FINISHED,
                              error_reason=f"revert failed: {error}"[:1000])
        self.update_instance({"task_state": states.RESIZE_REVERTING}, task_state=None,
                             vm_state=states.RESIZED if complete else states.ERROR)
        self.record_fault(error)
        self.notify_error("compute.exception", error)
        self.finish_action()
