"""What the dashboard's buttons do: the API's own checks, in the API's order (the server
visible to the caller, else 404; the policy rule with the server as its target, else 403),
then the same operation the API's handler calls (herder/operations), whose pre-checks and
compare-and-swaps refuse what the API would refuse, with the API's messages."""
from collections.abc import Callable
from dataclasses import dataclass

from herder import operations
from herder.api import errors
from herder.api.handlers.base import ApiServices
from herder.dashboard import access as rules
from herder.dashboard.access import Access
from herder.db.models import Instance


@dataclass(frozen=True)
class Action:
    rule: str
    run: Callable[[ApiServices, object, Instance, dict], None]
    done: str   # what the note says once accepted, with {name}


def _migration_id(form: dict) -> int:
    value = form.get("migration_id", "")
    if not value.isdigit():
        raise errors.BadRequest(f"Invalid migration id {value!r}: a whole number is needed.")
    return int(value)


ACTIONS = {
    "confirm": Action(rules.CONFIRM,
                      lambda api, ctx, server, form: operations.confirm_resize(api, ctx, server),
                      "Confirming the move of {name}."),
    "revert": Action(rules.REVERT,
                     lambda api, ctx, server, form: operations.revert_resize(api, ctx, server),
                     "Reverting the move of {name}."),
    "abort": Action(rules.ABORT,
                    lambda api, ctx, server, form: operations.abort_move(
                        api, ctx, server, _migration_id(form)),
                    "Aborting the move of {name}: it is being rolled back."),
    "migrate": Action(rules.MIGRATE,
                      lambda api, ctx, server, form: operations.migrate(api, ctx, server, None),
                      "Migrating {name}: the scheduler chooses its host."),
}


def run(api: ApiServices, access: Access, server: Instance, form: dict) -> str:
    """Do the form's action to `server` (already looked up as visible to the caller); the
    note to show. Refusals are errors.ApiError with the API's code and message."""
    name = form.get("action", "")
    action = ACTIONS.get(name)
    if action is None:
        raise errors.BadRequest(f"There is no such action: {name!r}. "
                                f"Known: {', '.join(sorted(ACTIONS))}.")
    if not access.on_server(action.rule, server):
        raise errors.Forbidden(f"Policy doesn't allow {action.rule} to be performed.")
    with errors.refusals_as_errors():
        action.run(api, access.context, server, form)
    return action.done.format(name=server.display_name)
