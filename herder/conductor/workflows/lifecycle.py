"""Creating, stopping, starting and deleting servers: short workflows through the same engine."""
from dataclasses import dataclass
from datetime import datetime

from herder import exception, states
from herder.conductor.base import ServerWorkflow
from herder.conductor.engine import Step
from herder.db import instances, moves, placement, server_groups
from herder.db.placement import Resources


def _now() -> datetime:
    return datetime.utcnow()


class BuildWorkflow(ServerWorkflow):
    kind = "build"
    action = "create"

    def __init__(self, svc, context, instance_uuid: str):
        super().__init__(svc, context, instance_uuid)
        self.selection: dict = {}

    remembered = ("selection",)

    def steps(self) -> list[Step]:
        return [Step("select_destinations", "scheduler", self.schedule, self.release_allocation),
                Step("build_and_run_instance", "compute", self.spawn, self.destroy,
                     done_if=self.launched)]

    def schedule(self) -> None:
        spec = instances.request_spec(self.db, self.instance_uuid)
        request = {"resources": Resources.of_flavor(self.instance().flavor).as_dict(),
                   "availability_zone": spec.get("availability_zone"),
                   "image_properties": spec.get("image_properties", {})}
        with self.event("conductor_schedule_and_build_instances", self.svc.host):
            self.selection = self.svc.bus.call(
                "scheduler", "select_destinations", self.context, request=request,
                instance_uuid=self.instance_uuid, ignore_hosts=[],
                requested_host=spec.get("requested_host"))[0]
        self.update_instance({"task_state": "scheduling"}, task_state=states.SPAWNING,
                             host=self.selection["host"], node=self.selection["node"])

    def release_allocation(self) -> None:
        placement.remove(self.db, self.instance_uuid)

    def spawn(self) -> None:
        host = self.selection["host"]
        with self.event("compute_build_and_run_instance", host):
            power = self.compute(host, "spawn", instance=self.guest_wire())
        with self.together():
            self.update_instance({"task_state": states.SPAWNING}, vm_state=states.ACTIVE,
                                 task_state=None, power_state=power, launched_at=_now(),
                                 progress=0)
            self.finish_action()

    def launched(self) -> bool:
        return self.instance_now().launched_at is not None

    def destroy(self) -> None:
        if self.selection:
            self.compute(self.selection["host"], "destroy", instance=self.wire())

    def rolled_back(self, error: BaseException, complete: bool) -> None:
        self.fail_open_events(error)
        self.update_instance(vm_state=states.ERROR, task_state=None)
        self.record_fault(error)
        self.notify_error("instance.create.error", error)
        self.finish_action()


@dataclass(frozen=True)
class PowerOperation:
    """One way of changing a guest's power state, done on its host in one step: the instance
    action it records, the task state the api set for it, and the compute agent's method."""
    action: str
    task_state: str
    agent_method: str
    agent_arguments: tuple[tuple[str, object], ...] = ()


POWER_OPERATIONS = {
    "start": PowerOperation("start", states.POWERING_ON, "power_on"),
    "stop": PowerOperation("stop", states.POWERING_OFF, "power_off"),
    "pause": PowerOperation("pause", states.PAUSING, "pause"),
    "unpause": PowerOperation("unpause", states.UNPAUSING, "unpause"),
    "suspend": PowerOperation("suspend", states.SUSPENDING, "suspend"),
    "resume": PowerOperation("resume", states.RESUMING, "resume"),
    "reboot_soft": PowerOperation("reboot", states.REBOOTING, "reboot", (("hard", False),)),
    "reboot_hard": PowerOperation("reboot", states.REBOOTING_HARD, "reboot", (("hard", True),)),
}


class PowerWorkflow(ServerWorkflow):
    """`os-stop`, `os-start`, `pause`, `unpause`, `suspend`, `resume` or `reboot`: one step on
    the server's host; the server's vm_state follows the power state the host reports."""
    kind = "power"

    def __init__(self, svc, context, instance_uuid: str, power_on: bool | None = None,
                 operation: str | None = None):
        super().__init__(svc, context, instance_uuid)
        # journals written before the other operations existed name only `power_on`
        self.operation = operation or ("start" if power_on else "stop")
        self.power = POWER_OPERATIONS[self.operation]
        self.action = self.power.action
        self.task_state = self.power.task_state

    def arguments(self) -> dict:
        return {"operation": self.operation}

    def steps(self) -> list[Step]:
        return [Step(f"{self.action}_instance", "compute", self.change_power,
                     done_if=self.power_changed)]

    def change_power(self) -> None:
        instance = self.instance()
        with self.event(f"compute_{self.action}_instance", instance.host):
            power = self.compute(instance.host, self.power.agent_method, instance=self.wire(),
                                 **dict(self.power.agent_arguments))
        with self.together():
            self.update_instance({"task_state": self.task_state}, task_state=None,
                                 power_state=power, vm_state=states.vm_state_for_power(power))
            self.finish_action()

    def power_changed(self) -> bool:
        return self.instance_now().task_state != self.task_state

    def rolled_back(self, error: BaseException, complete: bool) -> None:
        self.fail_open_events(error)
        self.update_instance({"task_state": self.task_state}, task_state=None)
        self.record_fault(error)
        self.finish_action()


class DeleteWorkflow(ServerWorkflow):
    kind = "delete"
    action = "delete"

    def steps(self) -> list[Step]:
        # a half-done delete is finished, not undone: the guest may already be gone
        return [Step("terminate_instance", "compute", self.terminate, commits=True,
                     done_if=lambda: self.instance_now().deleted)]

    def terminate(self) -> None:
        instance = self.instance()
        if instance.host:
            with self.event("compute_terminate_instance", instance.host):
                self.compute(instance.host, "destroy", instance=self.wire())
        open_move = moves.in_progress_for(self.db, self.instance_uuid)
        if open_move is not None:
            if open_move.source_compute and open_move.source_compute != instance.host:
                # the source still keeps the `_resize` copy of an unconfirmed move
                self.compute(open_move.source_compute, "destroy", instance=self.wire())
            placement.remove(self.db, open_move.uuid)
            moves.update(self.db, open_move.uuid, status=states.MIGRATION_ERROR,
                         error_reason="server deleted")
        placement.remove(self.db, self.instance_uuid)
        with self.together():
            self.update_instance(vm_state=states.DELETED, task_state=None, deleted=True,
                                 deleted_at=_now(), terminated_at=_now(),
                                 power_state=states.NOSTATE)
            server_groups.remove_member(self.db, self.instance_uuid)
            self.finish_action()

    def rolled_back(self, error: BaseException, complete: bool) -> None:
        self.fail_open_events(error)
        try:
            self.update_instance({"task_state": states.DELETING}, task_state=None)
        except exception.UnexpectedTaskState:
            pass
        self.record_fault(error)
        self.finish_action()
