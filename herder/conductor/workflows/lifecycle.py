"""Creating, stopping, starting and deleting servers: short workflows through the same engine."""
import logging
from dataclasses import dataclass, field
from datetime import datetime

from herder import exception, states
from herder.conductor.base import ServerWorkflow
from herder.conductor.engine import Interrupted, Step
from herder.conductor.memory import WorkflowMemory
from herder.conductor.rpcapi import ConductorAPI
from herder.db import accepted_requests, instances, journal, migrations, placement, server_groups
from herder.db.placement import Resources
from herder.db.session import lost_the_database

LOG = logging.getLogger(__name__)

# what another service raises when it lost the database (it reaches us by class name)
_LOST_DATABASE_REMOTELY = ("OperationalError", "InterfaceError")


def _now() -> datetime:
    return datetime.utcnow()


@dataclass
class BuildMemory(WorkflowMemory):
    """What a build keeps in its journal: the host the scheduler chose."""
    selection: dict = field(default_factory=dict)


class BuildWorkflow(ServerWorkflow):
    kind = "build"
    action = "create"
    Memory = BuildMemory

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
            self.selection = self.scheduler.select_destinations(
                self.context, request=request, instance_uuid=self.instance_uuid, ignore_hosts=[],
                requested_host=spec.get("requested_host"))[0]
        self.update_instance({"task_state": states.SCHEDULING}, task_state=states.SPAWNING,
                             host=self.selection["host"], node=self.selection["node"])

    def release_allocation(self) -> None:
        placement.remove(self.db, self.instance_uuid)

    def spawn(self) -> None:
        host = self.selection["host"]
        with self.event("compute_build_and_run_instance", host):
            power = self.computes.spawn(self.context, host, instance=self.guest_wire())
        with self.together():
            self.update_instance({"task_state": states.SPAWNING}, vm_state=states.ACTIVE,
                                 task_state=None, power_state=power, launched_at=_now(),
                                 progress=0)
            self.finish_action()

    def launched(self) -> bool:
        return self.instance_now().launched_at is not None

    def destroy(self) -> None:
        if self.selection:
            self.computes.destroy(self.context, self.selection["host"], instance=self.wire())

    def rolled_back(self, error: BaseException, complete: bool) -> None:
        self.fail_open_events(error)
        if complete and _cut_short(error) and self._build_again(error):
            return
        # As in Nova, a build undone on its host leaves the server on no host (its allocation
        # went with the rollback). One whose undoing failed keeps the host, where a delete
        # finds what is left of the guest.
        with self.together():   # never ERROR without the fault that says why
            self.update_instance(vm_state=states.ERROR, task_state=None,
                                 **({"host": None, "node": None} if complete else {}))
            self.record_fault(error)
        self.notify_error("instance.create.error", error)
        self.finish_action()

    def _build_again(self, error: BaseException) -> bool:
        """Start a build that was cut short over, now that it is undone: the server back to
        scheduling on no host, with the request recorded in the same transaction (so a lost
        cast is sent again, as an api's is), then cast. False once the build has had all its
        attempts. A server being deleted meanwhile is left to its delete."""
        builds = journal.count_of_kind(self.db, self.instance_uuid, self.kind)
        attempts = self.svc.conf.workflow.build_attempts
        reason = str(error).splitlines()[0]
        if builds >= attempts:
            LOG.warning("%s build cut short (%s) on its last attempt (%d of %d)",
                        self.log_prefix, reason, builds, attempts)
            return False
        try:
            with self.together():
                self.update_instance({"vm_state": states.BUILDING, "deleted": False,
                                      "task_state": (states.SCHEDULING, states.SPAWNING)},
                                     task_state=states.SCHEDULING, host=None, node=None)
                with self.db.transaction() as session:
                    request_uuid = accepted_requests.accept(
                        session, self.context, "build_instance",
                        {"instance_uuid": self.instance_uuid})
        except exception.UnexpectedTaskState:
            LOG.info("%s build cut short (%s) while the server is being deleted: not "
                     "started again", self.log_prefix, reason)
            return True
        LOG.warning("%s build cut short (%s): undone, and started again (attempt %d of %d)",
                    self.log_prefix, reason, builds + 1, attempts)
        try:
            ConductorAPI(self.svc.bus, cast_patience=0.0).build_instance(
                self.context, instance_uuid=self.instance_uuid, request_uuid=request_uuid)
        except Exception as cast_error:   # the broker is away: the record outlives it
            LOG.warning("%s could not cast the build (%s): a conductor will send it again",
                        self.log_prefix, cast_error)
        return True


def _cut_short(error: BaseException) -> bool:
    """The build failed for nothing to do with it, and may succeed if started again: its
    conductor was restarted (or its run stopped because the database went away, which
    recovery then undoes as it does a restart's), or a step lost the database, here or on
    the service it called."""
    if isinstance(error, Interrupted) or lost_the_database(error):
        return True
    return isinstance(error, exception.RemoteError) and \
        error.kwargs.get("exc_type") in _LOST_DATABASE_REMOTELY


@dataclass(frozen=True)
class PowerOperation:
    """One way of changing a guest's power state, done on its host in one step: the instance
    action it records, the task state the api set for it, and the compute agent's method."""
    action: str
    task_state: str
    agent_method: str
    agent_arguments: tuple[tuple[str, object], ...] = ()


def _power_operation(name: str, agent_method: str, **agent_arguments) -> PowerOperation:
    """The operation `name` as the api accepts it (states.ACCEPTED), done by `agent_method`."""
    accepted = states.ACCEPTED[name]
    return PowerOperation(accepted.action, accepted.task_state, agent_method,
                          tuple(agent_arguments.items()))


POWER_OPERATIONS = {
    "start": _power_operation("start", "power_on"),
    "stop": _power_operation("stop", "power_off"),
    "pause": _power_operation("pause", "pause"),
    "unpause": _power_operation("unpause", "unpause"),
    "suspend": _power_operation("suspend", "suspend"),
    "resume": _power_operation("resume", "resume"),
    "reboot_soft": _power_operation("reboot_soft", "reboot", hard=False),
    "reboot_hard": _power_operation("reboot_hard", "reboot", hard=True),
}


def _operation_from_unversioned(old: dict) -> dict:
    """Version 0 kept the operation among the arguments; journals written before the other
    operations existed say only whether the server was to be powered on."""
    arguments = old.get("arguments", {})
    return {"operation": arguments.get("operation")
            or ("start" if arguments.get("power_on") else "stop")}


@dataclass
class PowerMemory(WorkflowMemory):
    """What a power change keeps in its journal: which one it is (a key of POWER_OPERATIONS)."""
    UPGRADES = (_operation_from_unversioned,)
    operation: str


class PowerWorkflow(ServerWorkflow):
    """`os-stop`, `os-start`, `pause`, `unpause`, `suspend`, `resume` or `reboot`: one step on
    the server's host; the server's vm_state follows the power state the host reports."""
    kind = "power"
    Memory = PowerMemory

    def __init__(self, svc, context, instance_uuid: str, migration_uuid: str | None = None,
                 memory: PowerMemory | None = None):
        super().__init__(svc, context, instance_uuid, migration_uuid, memory)
        self.power = POWER_OPERATIONS[self.operation]
        self.action = self.power.action
        self.task_state = self.power.task_state

    def steps(self) -> list[Step]:
        return [Step(f"{self.action}_instance", "compute", self.change_power,
                     done_if=self.power_changed)]

    def change_power(self) -> None:
        instance = self.instance()
        with self.event(f"compute_{self.action}_instance", instance.host):
            power = getattr(self.computes, self.power.agent_method)(
                self.context, instance.host, instance=self.wire(),
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
                self.computes.destroy(self.context, instance.host, instance=self.wire())
        open_move = migrations.latest_in_progress(self.db, self.instance_uuid)
        if open_move is not None:
            if open_move.source_compute and open_move.source_compute != instance.host:
                # the source still keeps the `_resize` copy of an unconfirmed move
                self.computes.destroy(self.context, open_move.source_compute, instance=self.wire())
            placement.remove(self.db, open_move.uuid)
            migrations.update(self.db, open_move.uuid, status=states.MIGRATION_ERROR,
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
