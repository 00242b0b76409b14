"""POST /servers/{id}/action: the move actions and the few others that exercise state checks.

Pre-checks run in Nova's order: body schema, visibility (404), policy (403), lock, vm_state,
task_state, launched, host, source service up, then the action's own checks. The last check is a
compare-and-swap of the task_state, so a concurrent change is a 409, never a 500.
"""
import re

import falcon

from herder import exception, quota, states
from herder.api import faults
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler, accepted, no_content
from herder.api.schemas import servers as schemas
from herder.api.validation import validate
from herder.compute.rpcapi import ComputeAPI
from herder.db import actions, flavors, instances, moves, services
from herder.db.models import Instance
from herder.wire import instance_to_wire

CONSOLE_TIMEOUT = 30.0   # seconds the api waits for a host to read a console log
# what the console text may not hold in a JSON body clients parse as text (as Nova strips)
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MOVABLE = (states.ACTIVE, states.STOPPED)
# what a migrate or resize compares-and-swaps from: still movable, and nothing else under way
_MOVE_FROM = {"vm_state": _MOVABLE, "task_state": None}
# what a finished move becomes once a confirm or revert takes it
_FINISHING = (states.MIGRATION_CONFIRMING, states.MIGRATION_CONFIRMED,
              states.MIGRATION_REVERTING, states.MIGRATION_REVERTED)


class ServerAction(Handler):
    @describe("Run an action on a server: one key, the action's name "
              f"({', '.join(schemas.ACTIONS)}); confirmResize answers 204, "
              "os-getConsoleOutput 200 with the console's text",
              status=(200, 202, 204), body={"oneOf": list(schemas.ACTIONS.values())},
              body_statuses=(200,))
    def on_post(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        body = self.body(req)
        if not isinstance(body, dict) or len(body) != 1:
            raise faults.BadRequest("Malformed request body")
        (name, args), = body.items()
        method = _ACTIONS.get(name)
        if method is None:
            raise faults.BadRequest(f"There is no such action: {name}")
        try:
            method(self, req, resp, server_id, body, args)
        except exception.InstanceNotFound as error:  # deleted while we were looking
            raise faults.NotFound(str(error)) from None

    # -- shared checks -----------------------------------------------------------------------
    def _check_lock(self, req, instance: Instance) -> None:
        if instance.locked and not self.context(req).is_admin:
            raise faults.Conflict(f"Instance {instance.uuid} is locked")

    @staticmethod
    def _check_state(instance: Instance, action: str, vm_states: tuple,
                     task_states: tuple = (None,), must_have_launched: bool = True) -> None:
        def invalid(attr: str, value) -> faults.Fault:
            return faults.Conflict(f"Cannot '{action}' instance {instance.uuid} while it is in "
                                   f"{attr} {value}")
        if instance.vm_state not in vm_states:
            raise invalid("vm_state", instance.vm_state)
        if instance.task_state not in task_states:
            raise invalid("task_state", instance.task_state)
        if must_have_launched and instance.launched_at is None:
            raise invalid("launched_at", None)

    def _check_host_up(self, instance: Instance) -> None:
        if not instance.host:
            raise faults.Conflict(f"Instance {instance.uuid} is not ready")
        service = services.compute(self.db, instance.host)
        if service is None or not services.is_up(service, self.conf.service_down_time):
            raise faults.Conflict("Service is unavailable at this time.")

    def _set_task_state(self, instance: Instance, action: str, expected: dict,
                        **values) -> None:
        try:
            instances.update(self.db, instance.uuid, expected, **values)
        except exception.UnexpectedTaskState:
            raise self._busy(instance, action) from None

    def _busy(self, instance: Instance, action: str) -> faults.Conflict:
        """The 409 for a server another request changed since we looked (read again, after
        the failed compare-and-swap's transaction ended)."""
        current = instances.get(self.db, instance.uuid)
        return faults.Conflict(f"Cannot '{action}' instance {instance.uuid} while it is in "
                               f"task_state {current.task_state}")

    # -- migrate / resize --------------------------------------------------------------------
    def migrate(self, req, resp, server_id, body, args) -> None:
        version = self.version(req)
        host = None
        if version.at_least("2.56"):
            validate(schemas.MIGRATE_V256, body)
            host = (args or {}).get("host")
        instance = self.server(req, server_id)
        # as Nova: naming a host is governed by its own rule, in place of the plain one
        rule = "migrate:host" if host else "migrate"
        self.authorize(req, f"os_compute_api:os-migrate-server:{rule}", self.target(instance))
        self._check_move_preconditions(req, instance, "migrate")
        if host:
            if host == instance.host:
                raise faults.BadRequest("Cannot migrate to the host where the server exists.")
            if services.compute(self.db, host) is None:
                raise faults.BadRequest(f"Compute host {host} could not be found.")
        self._set_task_state(instance, "migrate", _MOVE_FROM, task_state=states.RESIZE_PREP,
                             progress=0)
        self._start_move(req, resp, instance, "migrate", flavor=None, host=host)

    def resize(self, req, resp, server_id, body, args) -> None:
        validate(schemas.RESIZE, body)
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:servers:resize", self.target(instance))
        self._check_move_preconditions(req, instance, "resize")
        flavor_ref = str(args["flavorRef"]).rsplit("/", 1)[-1]
        new, old = self._new_flavor(req, flavor_ref, instance.flavor), instance.flavor
        booted_from_volume = not instance.image_ref
        if not booted_from_volume:
            if new["root_gb"] == 0 and old["root_gb"] != 0:
                raise _cannot_resize_disk("Resize to zero disk flavor is not allowed.")
            if new["root_gb"] < old["root_gb"] or \
                    new.get("ephemeral_gb", 0) < old.get("ephemeral_gb", 0):
                # Nova finds this late, on the source host; herder refuses it up front
                raise _cannot_resize_disk(
                    f"Resizing to a smaller disk is not supported: flavor {new['flavorid']} has "
                    f"{new['root_gb']} GB root and {new.get('ephemeral_gb', 0)} GB ephemeral "
                    f"disk, the server has {old['root_gb']} GB and "
                    f"{old.get('ephemeral_gb', 0)} GB.")
        disk_config = {"disk_config": args["OS-DCF:diskConfig"]} \
            if "OS-DCF:diskConfig" in args else {}
        try:
            # the check and the new flavor's reservation (new_flavor counts in the project's
            # usage) commit together under the project's quota lock
            with quota.admitted(self.db, self.conf, instance.project_id,
                                quota.resize_delta(old, new)) as session:
                instances.update_in(session, instance.uuid, _MOVE_FROM,
                                    task_state=states.RESIZE_PREP, progress=0, new_flavor=new,
                                    **disk_config)
        except exception.QuotaExceeded as error:
            raise faults.Forbidden(str(error)) from None
        except exception.UnexpectedTaskState:
            raise self._busy(instance, "resize") from None
        self._start_move(req, resp, instance, "resize", flavor=new, host=None)

    def _new_flavor(self, req, flavor_ref: str, current: dict) -> dict:
        """The flavor a resize asks for, as Nova judges it: a flavor the caller may not use
        (missing, private without access, disabled) is not found, unless it is the server's
        own flavor, which is refused as the same flavor."""
        context = self.context(req)
        try:
            flavor = flavors.get(self.db, flavor_ref,
                                 None if context.is_admin else context.project_id)
            usable = not flavor.disabled
        except exception.FlavorNotFound:
            try:
                flavor, usable = flavors.get(self.db, flavor_ref), False
            except exception.FlavorNotFound:
                raise faults.BadRequest(f"Flavor {flavor_ref} could not be found.") from None
        new = flavors.as_dict(flavor)
        if new["id"] == current["id"]:
            raise faults.BadRequest("When resizing, instances must change flavor!")
        if not usable:
            raise faults.BadRequest(f"Flavor {flavor_ref} could not be found.")
        return new

    def _check_move_preconditions(self, req, instance: Instance, action: str) -> None:
        self._check_lock(req, instance)
        self._check_state(instance, action, _MOVABLE)
        self._check_host_up(instance)

    def _start_move(self, req, resp, instance: Instance, action: str, flavor: dict | None,
                    host: str | None) -> None:
        """The server is in resize_prep already: record the action and hand it over."""
        context = self.context(req)
        actions.start(self.db, context, instance.uuid, action)
        self.api.conductor.migrate_server(context, instance_uuid=instance.uuid, flavor=flavor,
                                          host=host)
        accepted(resp)

    # -- confirm / revert -------------------------------------------------------------------
    def _finished_migration(self, req, instance: Instance, action: str):
        self._check_lock(req, instance)
        self._check_state(instance, action, (states.RESIZED,), must_have_launched=False)
        migration = moves.finished_for(self.db, instance.uuid)
        if migration is None:
            # a confirm or revert may have taken the move since our state check: a conflict
            now = self.server(req, instance.uuid)
            self._check_state(now, action, (states.RESIZED,), must_have_launched=False)
            latest = moves.latest_for(self.db, instance.uuid)
            if latest is not None and latest.status in _FINISHING:
                raise _migration_busy(instance, action, latest.status)
            raise faults.BadRequest("Instance has not been resized.")
        return migration

    def confirm_resize(self, req, resp, server_id, body, args) -> None:
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:servers:confirm_resize", self.target(instance))
        migration = self._finished_migration(req, instance, "confirmResize")
        source = services.compute(self.db, migration.source_compute)
        if source is None or not services.is_up(source, self.conf.service_down_time):
            raise faults.Conflict("Service is unavailable at this time.")
        try:
            moves.update(self.db, migration.uuid, states.MIGRATION_FINISHED,
                         status=states.MIGRATION_CONFIRMING)
        except exception.UnexpectedTaskState as error:
            raise _migration_busy(instance, "confirmResize",
                                  error.kwargs.get("actual", {}).get("status")) from None
        context = self.context(req)
        actions.start(self.db, context, instance.uuid, "confirmResize")
        self.api.conductor.confirm_resize(context, instance_uuid=instance.uuid,
                                          migration_uuid=migration.uuid)
        no_content(resp)

    def revert_resize(self, req, resp, server_id, body, args) -> None:
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:servers:revert_resize", self.target(instance))
        migration = self._finished_migration(req, instance, "revertResize")
        # The migration is what a confirm, a revert and a delete race for, so it is taken
        # first: a loser then never touches the server (a revert that set resize_reverting
        # before losing would break the confirm that won).
        try:
            moves.update(self.db, migration.uuid, states.MIGRATION_FINISHED,
                         status=states.MIGRATION_REVERTING)
        except exception.UnexpectedTaskState as error:
            raise _migration_busy(instance, "revertResize",
                                  error.kwargs.get("actual", {}).get("status")) from None
        try:
            self._set_task_state(instance, "revertResize",
                                 {"vm_state": states.RESIZED, "task_state": None},
                                 task_state=states.RESIZE_REVERTING)
        except faults.Fault:
            moves.update(self.db, migration.uuid, states.MIGRATION_REVERTING,
                         status=states.MIGRATION_FINISHED)
            raise
        context = self.context(req)
        actions.start(self.db, context, instance.uuid, "revertResize")
        self.api.conductor.revert_resize(context, instance_uuid=instance.uuid,
                                         migration_uuid=migration.uuid)
        accepted(resp)

    # -- power -------------------------------------------------------------------------------
    def _power(self, req, resp, server_id, power_on: bool) -> None:
        action = "start" if power_on else "stop"
        instance = self.server(req, server_id)
        self.authorize(req, f"os_compute_api:servers:{action}", self.target(instance))
        self._check_lock(req, instance)
        wanted_vm_state = states.STOPPED if power_on else states.ACTIVE
        self._check_state(instance, action, (wanted_vm_state,) if power_on
                          else (states.ACTIVE, states.ERROR))
        self._set_task_state(instance, action,
                             {"vm_state": instance.vm_state, "task_state": None},
                             task_state=states.POWERING_ON if power_on else states.POWERING_OFF)
        context = self.context(req)
        actions.start(self.db, context, instance.uuid, action)
        power = self.api.conductor.start_instance if power_on else self.api.conductor.stop_instance
        power(context, instance_uuid=instance.uuid)
        accepted(resp)

    def stop(self, req, resp, server_id, body, args) -> None:
        self._power(req, resp, server_id, power_on=False)

    def start(self, req, resp, server_id, body, args) -> None:
        self._power(req, resp, server_id, power_on=True)

    # -- pause / unpause / suspend / resume / reboot -----------------------------------------
    def _guest_operation(self, req, resp, server_id: str, action: str, operation: str) -> None:
        """Nova's checks (lock, vm_state, task_state None, launched), then the task state and
        the action are recorded and the conductor changes the guest on its host."""
        rule, vm_states, task_state = _GUEST_OPERATIONS[operation]
        instance = self.server(req, server_id)
        self.authorize(req, rule, self.target(instance))
        self._check_lock(req, instance)
        self._check_state(instance, action, vm_states)
        self._set_task_state(instance, action,
                             {"vm_state": instance.vm_state, "task_state": None},
                             task_state=task_state)
        context = self.context(req)
        actions.start(self.db, context, instance.uuid, action)
        self.api.conductor.power_action(context, instance_uuid=instance.uuid,
                                        operation=operation)
        accepted(resp)

    def pause(self, req, resp, server_id, body, args) -> None:
        self._guest_operation(req, resp, server_id, "pause", "pause")

    def unpause(self, req, resp, server_id, body, args) -> None:
        self._guest_operation(req, resp, server_id, "unpause", "unpause")

    def suspend(self, req, resp, server_id, body, args) -> None:
        self._guest_operation(req, resp, server_id, "suspend", "suspend")

    def resume(self, req, resp, server_id, body, args) -> None:
        self._guest_operation(req, resp, server_id, "resume", "resume")

    def reboot(self, req, resp, server_id, body, args) -> None:
        validate(schemas.REBOOT, body)
        hard = args["type"].upper() == "HARD"
        self._guest_operation(req, resp, server_id, "reboot",
                              "reboot_hard" if hard else "reboot_soft")

    # -- console ------------------------------------------------------------------------------
    def console_output(self, req, resp, server_id, body, args) -> None:
        """The guest's serial console, read on its host (200 with the text, as Nova)."""
        validate(schemas.CONSOLE_OUTPUT, body)
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:os-console-output", self.target(instance))
        length = (args or {}).get("length")
        length = None if length is None or int(length) == -1 else int(length)
        if not instance.host or instance.vm_state == states.BUILDING:
            raise faults.Conflict(f"Instance {instance.uuid} has no console yet: it is not "
                                  "on a host")
        try:
            output = ComputeAPI(self.api.bus, timeout=CONSOLE_TIMEOUT).get_console_output(
                self.context(req), instance.host, instance=instance_to_wire(instance),
                length=length)
        except exception.MessagingTimeout:
            raise faults.Fault(503, f"The console of {instance.uuid} could not be read: "
                                    f"{instance.host} did not answer") from None
        resp.media = {"output": _CONTROL_CHARACTERS.sub("", output)}

    # -- lock / unlock / reset-state ---------------------------------------------------------
    def lock(self, req, resp, server_id, body, args) -> None:
        if self.version(req).at_least("2.73"):
            validate(schemas.LOCK, body)
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:os-lock-server:lock", self.target(instance))
        context = self.context(req)
        reason = (args or {}).get("locked_reason") if self.version(req).at_least("2.73") else None
        instances.update(self.db, instance.uuid, locked=True, locked_reason=reason,
                         locked_by="admin" if context.is_admin else "owner")
        actions.start(self.db, context, instance.uuid, "lock", finished=True)
        accepted(resp)

    def unlock(self, req, resp, server_id, body, args) -> None:
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:os-lock-server:unlock", self.target(instance))
        context = self.context(req)
        if instance.locked_by == "admin" and not context.is_admin:
            self.authorize(req, "os_compute_api:os-lock-server:unlock:unlock_override",
                           self.target(instance))
        instances.update(self.db, instance.uuid, locked=False, locked_reason=None,
                         locked_by=None)
        actions.start(self.db, context, instance.uuid, "unlock", finished=True)
        accepted(resp)

    def reset_state(self, req, resp, server_id, body, args) -> None:
        validate(schemas.RESET_STATE, body)
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:os-admin-actions:reset_state", self.target(instance))
        # In VERIFY_RESIZE a move waits for confirmResize or revertResize, and both work from
        # there. Resetting the server instead would strand that move's source copy and source
        # allocation for good (Nova allows it and leaks them), so herder refuses. The update
        # compares and swaps the vm_state, so a move reaching VERIFY_RESIZE meanwhile is not
        # reset either.
        def refused(vm_state: str) -> faults.Conflict:
            return faults.Conflict(f"Cannot 'os-resetState' instance {instance.uuid} while it "
                                   f"is in vm_state {vm_state}")
        if instance.vm_state == states.RESIZED:
            raise refused(states.RESIZED)
        try:
            instances.update(self.db, instance.uuid, {"vm_state": instance.vm_state},
                             vm_state=args["state"], task_state=None)
        except exception.UnexpectedTaskState as error:
            raise refused(error.kwargs["actual"]["vm_state"]) from None
        context = self.context(req)
        actions.start(self.db, context, instance.uuid, "resetState", finished=True)
        accepted(resp)


# operation -> (policy rule, vm_states it may start from, task state while it runs); the task
# states are the ones the conductor's PowerWorkflow expects (conductor/workflows/lifecycle.py).
# Nova also lets a hard reboot interrupt a pending reboot, pause or suspend; herder's steps
# compare-and-swap their task state, so it answers 409 until the running operation is done.
_GUEST_OPERATIONS = {
    "pause": ("os_compute_api:os-pause-server:pause", (states.ACTIVE,), states.PAUSING),
    "unpause": ("os_compute_api:os-pause-server:unpause", (states.PAUSED,), states.UNPAUSING),
    "suspend": ("os_compute_api:os-suspend-server:suspend", (states.ACTIVE,),
                states.SUSPENDING),
    "resume": ("os_compute_api:os-suspend-server:resume", (states.SUSPENDED,),
               states.RESUMING),
    "reboot_soft": ("os_compute_api:servers:reboot", (states.ACTIVE,), states.REBOOTING),
    "reboot_hard": ("os_compute_api:servers:reboot",
                    (states.ACTIVE, states.STOPPED, states.PAUSED, states.SUSPENDED,
                     states.ERROR), states.REBOOTING_HARD),
}


def _migration_busy(instance: Instance, action: str, status: str) -> faults.Fault:
    return faults.Conflict(f"Cannot '{action}' instance {instance.uuid} while its migration "
                           f"is {status}")


def _cannot_resize_disk(reason: str) -> faults.Fault:
    return faults.BadRequest(f"Server disk was unable to be resized because: {reason}")


_ACTIONS = {
    "migrate": ServerAction.migrate,
    "resize": ServerAction.resize,
    "confirmResize": ServerAction.confirm_resize,
    "revertResize": ServerAction.revert_resize,
    "os-stop": ServerAction.stop,
    "os-start": ServerAction.start,
    "lock": ServerAction.lock,
    "unlock": ServerAction.unlock,
    "os-resetState": ServerAction.reset_state,
    "pause": ServerAction.pause,
    "unpause": ServerAction.unpause,
    "suspend": ServerAction.suspend,
    "resume": ServerAction.resume,
    "reboot": ServerAction.reboot,
    "os-getConsoleOutput": ServerAction.console_output,
}
