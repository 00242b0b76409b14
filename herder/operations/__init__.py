"""The compute API layer: what the api does to servers, between its HTTP handlers and the
conductor, as Nova's compute/api.py sits between its API and its conductor.

Named `operations` so that it is not taken for herder/compute/, the service on each compute
host. A handler parses the request, checks policy and microversion, calls one function here and
renders what it returns. A function here takes plain values (the api's services, the caller's
context, the server's row as the handler loaded it, the body's values, and a flag where the
microversion changes what it does), runs the pre-checks in the order the Compute API promises,
writes the state change with a compare-and-swap, records the instance action and casts to the
conductor. It knows nothing of HTTP: it refuses with herder.exception errors, which the api
turns into API errors (herder/api/errors.py, refusals_as_errors). What each operation may start
from and the task state it sets are in herder/states.py's ACCEPTED table.

move_plan.py alone writes nothing: a dry run of a migrate or resize, for herder's own API,
runs the move's pre-checks and asks where it would go.
"""
from herder.operations.abort import abort_move
from herder.operations.create import create
from herder.operations.delete import delete
from herder.operations.guest import change_guest, console_output, start, stop
from herder.operations.move import migrate, resize
from herder.operations.record import lock, reset_state, unlock
from herder.operations.verify_resize import confirm_resize, revert_resize

__all__ = ["abort_move", "change_guest", "confirm_resize", "console_output", "create", "delete", "lock",
           "migrate", "reset_state", "resize", "revert_resize", "start", "stop", "unlock"]
