"""POST /servers/{id}/action: the move actions and the few others that exercise state checks.

Pre-checks run in the Compute API's order: body schema, visibility (404), policy (403), then, in
herder/operations, lock, vm_state, task_state, launched, host, source service up, and the
action's own checks. The last check is a compare-and-swap of the task_state, so a concurrent
change is a 409, never a 500.
"""
import re

import falcon

from herder import operations
from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler, accepted, no_content
from herder.api.schemas import servers as schemas
from herder.api.validation import validate

# what the console text may not hold in a JSON body clients parse as text (as Nova strips)
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ServerAction(Handler):
    @describe("Run an action on a server: one key, the action's name "
              f"({', '.join(schemas.ACTIONS)}); confirmResize answers 204, "
              "os-getConsoleOutput 200 with the console's text",
              status=(200, 202, 204), body={"oneOf": list(schemas.ACTIONS.values())},
              body_statuses=(200,))
    def on_post(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        body = self.body(req)
        if not isinstance(body, dict) or len(body) != 1:
            raise errors.BadRequest("Malformed request body")
        (name, args), = body.items()
        method = _ACTIONS.get(name)
        if method is None:
            raise errors.BadRequest(f"There is no such action: {name}")
        # a server deleted while we were looking is not found (404), like any other refusal
        # of the operations, in the Compute API's codes
        with errors.refusals_as_errors():
            method(self, req, resp, server_id, body, args)

    # -- migrate / resize --------------------------------------------------------------------
    def migrate(self, req, resp, server_id, body, args) -> None:
        host = None
        if self.version(req).at_least("2.56"):
            validate(schemas.MIGRATE_V256, body)
            host = (args or {}).get("host")
        instance = self.server(req, server_id)
        # as Nova: naming a host is governed by its own rule, in place of the plain one
        rule = "migrate:host" if host else "migrate"
        self.authorize(req, f"os_compute_api:os-migrate-server:{rule}", self.target(instance))
        operations.migrate(self.api, self.context(req), instance, host)
        accepted(resp)

    def resize(self, req, resp, server_id, body, args) -> None:
        validate(schemas.RESIZE, body)
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:servers:resize", self.target(instance))
        operations.resize(self.api, self.context(req), instance,
                          flavor_ref=str(args["flavorRef"]).rsplit("/", 1)[-1],
                          disk_config=args.get("OS-DCF:diskConfig"))
        accepted(resp)

    # -- confirm / revert -------------------------------------------------------------------
    def confirm_resize(self, req, resp, server_id, body, args) -> None:
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:servers:confirm_resize", self.target(instance))
        operations.confirm_resize(self.api, self.context(req), instance)
        no_content(resp)

    def revert_resize(self, req, resp, server_id, body, args) -> None:
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:servers:revert_resize", self.target(instance))
        operations.revert_resize(self.api, self.context(req), instance)
        accepted(resp)

    # -- stop / start / pause / unpause / suspend / resume / reboot --------------------------
    def stop(self, req, resp, server_id, body, args) -> None:
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:servers:stop", self.target(instance))
        operations.stop(self.api, self.context(req), instance)
        accepted(resp)

    def start(self, req, resp, server_id, body, args) -> None:
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:servers:start", self.target(instance))
        operations.start(self.api, self.context(req), instance)
        accepted(resp)

    def _change_guest(self, req, resp, server_id: str, operation: str) -> None:
        instance = self.server(req, server_id)
        self.authorize(req, _GUEST_POLICIES[operation], self.target(instance))
        operations.change_guest(self.api, self.context(req), instance, operation)
        accepted(resp)

    def pause(self, req, resp, server_id, body, args) -> None:
        self._change_guest(req, resp, server_id, "pause")

    def unpause(self, req, resp, server_id, body, args) -> None:
        self._change_guest(req, resp, server_id, "unpause")

    def suspend(self, req, resp, server_id, body, args) -> None:
        self._change_guest(req, resp, server_id, "suspend")

    def resume(self, req, resp, server_id, body, args) -> None:
        self._change_guest(req, resp, server_id, "resume")

    def reboot(self, req, resp, server_id, body, args) -> None:
        validate(schemas.REBOOT, body)
        hard = args["type"].upper() == "HARD"
        self._change_guest(req, resp, server_id, "reboot_hard" if hard else "reboot_soft")

    # -- console ------------------------------------------------------------------------------
    def console_output(self, req, resp, server_id, body, args) -> None:
        """The guest's serial console, read on its host (200 with the text, as Nova)."""
        validate(schemas.CONSOLE_OUTPUT, body)
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:os-console-output", self.target(instance))
        length = (args or {}).get("length")
        length = None if length is None or int(length) == -1 else int(length)
        output = operations.console_output(self.api, self.context(req), instance, length)
        resp.media = {"output": _CONTROL_CHARACTERS.sub("", output)}

    # -- lock / unlock / reset-state ---------------------------------------------------------
    def lock(self, req, resp, server_id, body, args) -> None:
        with_reason = self.version(req).at_least("2.73")
        if with_reason:
            validate(schemas.LOCK, body)
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:os-lock-server:lock", self.target(instance))
        operations.lock(self.api, self.context(req), instance,
                        reason=(args or {}).get("locked_reason") if with_reason else None)
        accepted(resp)

    def unlock(self, req, resp, server_id, body, args) -> None:
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:os-lock-server:unlock", self.target(instance))
        if instance.locked_by == "admin" and not self.context(req).is_admin:
            self.authorize(req, "os_compute_api:os-lock-server:unlock:unlock_override",
                           self.target(instance))
        operations.unlock(self.api, self.context(req), instance)
        accepted(resp)

    def reset_state(self, req, resp, server_id, body, args) -> None:
        validate(schemas.RESET_STATE, body)
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:os-admin-actions:reset_state", self.target(instance))
        operations.reset_state(self.api, self.context(req), instance, args["state"])
        accepted(resp)


# the policy rule of each guest operation (what each may start from is in states.ACCEPTED)
_GUEST_POLICIES = {
    "pause": "os_compute_api:os-pause-server:pause",
    "unpause": "os_compute_api:os-pause-server:unpause",
    "suspend": "os_compute_api:os-suspend-server:suspend",
    "resume": "os_compute_api:os-suspend-server:resume",
    "reboot_soft": "os_compute_api:servers:reboot",
    "reboot_hard": "os_compute_api:servers:reboot",
}


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
