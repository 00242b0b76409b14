"""Confirm a finished move (docs/workflow.md, Confirm): the source copy and allocation go.

The api has already moved the migration to `confirming`. If the source host fails to clean up,
nothing is lost: the server stays in VERIFY_RESIZE on the destination, the migration returns to
`finished` (with the reason recorded), and confirm or revert can be tried again.

A confirm interrupted by a crash is finished, never undone: the source host may have deleted
the source copy already, and then a revert could no longer work. So the step may run a second
time over its own partial work.
"""
from herder import states
from herder.conductor.base import ServerWorkflow
from herder.conductor.engine import Step
from herder.db import placement


class ConfirmWorkflow(ServerWorkflow):
    kind = "confirm"
    action = "confirmResize"

    def steps(self) -> list[Step]:
        return [Step("confirm_resize", "source", self.confirm_resize, commits=True,
                     done_if=self.confirmed)]

    def confirm_resize(self) -> None:
        # the source host as the migration record names it, read as the event starts
        self.compute_step(
            "compute_confirm_resize", lambda: self.migration().source_compute,
            call=lambda: self.computes.confirm_resize(
                self.context, self._migration.source_compute, instance=self.wire(),
                migration=self.migration_wire()),
            # already `confirmed` if a run before a crash got this far
            after=lambda _: self.update_migration(
                (states.MIGRATION_CONFIRMING, states.MIGRATION_CONFIRMED),
                status=states.MIGRATION_CONFIRMED))
        placement.remove(self.db, self.migration_uuid)
        with self.together():
            instance = self.instance()
            # a delete in VERIFY_RESIZE confirms first, with the server already `deleting`
            self.update_instance({"vm_state": states.RESIZED,
                                  "task_state": (None, states.DELETING)},
                                 vm_state=states.vm_state_for_power(instance.power_state),
                                 old_flavor=None, new_flavor=None)
            self.finish_action()

    def confirmed(self) -> bool:
        """The step's last write went in: the server left VERIFY_RESIZE."""
        return self.migration().status == states.MIGRATION_CONFIRMED and \
            self.instance_now().vm_state != states.RESIZED

    def rolled_back(self, error: BaseException, complete: bool) -> None:
        self.fail_open_events(error)
        self.update_migration(states.MIGRATION_CONFIRMING, status=states.MIGRATION_FINISHED,
                              error_reason=f"confirm failed: {error}"[:1000])
        self.record_fault(error)
        self.notify_error("compute.exception", error)
        self.finish_action()
