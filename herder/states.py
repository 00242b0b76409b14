"""Server, task, power and migration states, and how they map to the API's server status.

The names and values are Nova's, so that clients written for Nova understand them.

ACCEPTED, at the end, is the one table of what the api does to a server when it accepts an
operation: the compute API layer (herder/operations) checks and sets what it says, the conductor's
workflows expect the task state it names, and the conductor's recovery reads from it what to put
back when a request was accepted but its cast never reached a workflow.
"""
from dataclasses import dataclass
from enum import Enum

# vm_state: what the server is, at rest.
ACTIVE = "active"
BUILDING = "building"
STOPPED = "stopped"
RESIZED = "resized"
PAUSED = "paused"
SUSPENDED = "suspended"
ERROR = "error"
DELETED = "deleted"

# task_state: what is being done to the server right now (None at rest).
SCHEDULING = "scheduling"
RESIZE_PREP = "resize_prep"
# herder's own: the move is scheduled and waits for its source or destination host to have a
# free move slot (`[compute] max_concurrent_migrations`); it goes on in resize_prep
RESIZE_QUEUED = "resize_queued"
RESIZE_MIGRATING = "resize_migrating"
RESIZE_MIGRATED = "resize_migrated"
RESIZE_FINISH = "resize_finish"
RESIZE_REVERTING = "resize_reverting"
RESIZE_CONFIRMING = "resize_confirming"
POWERING_OFF = "powering-off"
POWERING_ON = "powering-on"
DELETING = "deleting"
SPAWNING = "spawning"
PAUSING = "pausing"
UNPAUSING = "unpausing"
SUSPENDING = "suspending"
RESUMING = "resuming"
REBOOTING = "rebooting"
REBOOTING_HARD = "rebooting_hard"

MOVE_TASK_STATES = (RESIZE_PREP, RESIZE_QUEUED, RESIZE_MIGRATING, RESIZE_MIGRATED, RESIZE_FINISH)

# power_state: what the hypervisor says (Nova's integer codes).
NOSTATE = 0
RUNNING = 1
PAUSED_POWER = 3
SHUTDOWN = 4
CRASHED = 6
SUSPENDED_POWER = 7

# Migration record statuses, in the order a cold migration passes through them.
MIGRATION_PRE_MIGRATING = "pre-migrating"
MIGRATION_QUEUED = "queued"   # waiting for a move slot on its hosts (Nova's live-migration name)
MIGRATION_MIGRATING = "migrating"
MIGRATION_POST_MIGRATING = "post-migrating"
MIGRATION_FINISHED = "finished"
MIGRATION_CONFIRMING = "confirming"
MIGRATION_CONFIRMED = "confirmed"
MIGRATION_REVERTING = "reverting"
MIGRATION_REVERTED = "reverted"
MIGRATION_ERROR = "error"
MIGRATION_CANCELLED = "cancelled"   # aborted by request, and rolled back

MIGRATION_IN_PROGRESS = (MIGRATION_PRE_MIGRATING, MIGRATION_QUEUED, MIGRATION_MIGRATING,
                         MIGRATION_POST_MIGRATING, MIGRATION_FINISHED, MIGRATION_CONFIRMING, MIGRATION_REVERTING)
# Statuses of a move that an abort can still stop and roll back: from its record until the
# destination has finished it (VERIFY_RESIZE). After that, a revert is the way back.
MIGRATION_ABORTABLE = (MIGRATION_PRE_MIGRATING, MIGRATION_QUEUED, MIGRATION_MIGRATING,
                       MIGRATION_POST_MIGRATING)
# Statuses of a move whose data path is over: the server waits in VERIFY_RESIZE, or went on.
MIGRATION_AFTER_FINISH = (MIGRATION_FINISHED, MIGRATION_CONFIRMING, MIGRATION_CONFIRMED,
                          MIGRATION_REVERTING, MIGRATION_REVERTED)
# Statuses whose migration still holds an allocation (the source half of a move).
MIGRATION_HOLDS_RESOURCES = MIGRATION_IN_PROGRESS

_STATUS_BY_VM_STATE = {
    ACTIVE: "ACTIVE",
    BUILDING: "BUILD",
    STOPPED: "SHUTOFF",
    RESIZED: "VERIFY_RESIZE",
    PAUSED: "PAUSED",
    SUSPENDED: "SUSPENDED",
    ERROR: "ERROR",
    DELETED: "DELETED",
}

_STATUS_BY_TASK_STATE = {
    RESIZE_PREP: "RESIZE",
    RESIZE_QUEUED: "RESIZE",
    RESIZE_MIGRATING: "RESIZE",
    RESIZE_MIGRATED: "RESIZE",
    RESIZE_FINISH: "RESIZE",
    RESIZE_REVERTING: "REVERT_RESIZE",
}

# Nova shows a reboot only while the server is active; a stopped, paused or suspended server
# being hard rebooted keeps its status until it comes up
_REBOOT_STATUS = {REBOOTING: "REBOOT", REBOOTING_HARD: "HARD_REBOOT"}


def server_status(vm_state: str, task_state: str | None) -> str:
    """The API `status` of a server, as Nova derives it from vm_state and task_state."""
    if vm_state in (ACTIVE, STOPPED, RESIZED) and task_state in _STATUS_BY_TASK_STATE:
        return _STATUS_BY_TASK_STATE[task_state]
    if vm_state == ACTIVE and task_state in _REBOOT_STATUS:
        return _REBOOT_STATUS[task_state]
    return _STATUS_BY_VM_STATE.get(vm_state, "UNKNOWN")


def vm_state_for_power(power_state: int) -> str:
    """The resting vm_state that matches a guest's actual power state."""
    return {RUNNING: ACTIVE, PAUSED_POWER: PAUSED,
            SUSPENDED_POWER: SUSPENDED}.get(power_state, STOPPED)


# -- what the api accepts -------------------------------------------------------------------

class WhenLost(Enum):
    """What the conductor's recovery does with a request the api accepted whose cast never
    reached a workflow (the api or the conductor died in between)."""
    PUT_BACK = "put back"  # the server (and its migration) go back to where the api found them
    FAIL = "fail"          # a build: there is nothing to go back to, so the server is in ERROR
    RUN = "run"            # a delete: it is run, since the caller wants the server gone


@dataclass(frozen=True)
class Accepted:
    """How the api accepts one operation on a server.

    `action` is the instance action it records and the name its refusals use ("Cannot
    'migrate' instance ..."). The api checks that the server is in one of `vm_states` (None:
    any) and `task_states` (None: any but `refused_task_states`), and, if `launched`, that it
    was launched; then it compares and swaps the task state to `task_state` (None: the
    server's row is left as it is) and, for the operations that end a move, the migration
    from `finished` to `migration_status`. `lost_clears` names the columns recovery empties
    when it puts a lost request back.
    """
    action: str
    task_state: str | None
    vm_states: tuple[str, ...] | None
    task_states: tuple[str | None, ...] | None = (None,)
    refused_task_states: tuple[str, ...] = ()
    launched: bool = True
    migration_status: str | None = None
    when_lost: WhenLost = WhenLost.PUT_BACK
    lost_clears: tuple[str, ...] = ()


MOVABLE = (ACTIVE, STOPPED)

# The operations that change a server through the conductor, by the names the conductor's
# workflows know them by. lock, unlock and os-resetState change the row and cast nothing, so
# no request of theirs can be lost: they are not here.
ACCEPTED: dict[str, Accepted] = {
    # a new server: no state to start from; it is made building and scheduling at once
    "create": Accepted("create", SCHEDULING, vm_states=(), task_states=(), launched=False,
                       when_lost=WhenLost.FAIL),
    # from anything but the middle of a move, which must finish or roll back first
    "delete": Accepted("delete", DELETING, vm_states=None, task_states=None,
                       refused_task_states=(*MOVE_TASK_STATES, RESIZE_REVERTING),
                       launched=False, when_lost=WhenLost.RUN),
    # a migrate and a resize share resize_prep, so recovery treats them alike: the new flavor
    # a resize holds in the project's quota usage is given back (a migrate has none)
    "migrate": Accepted("migrate", RESIZE_PREP, vm_states=MOVABLE,
                        lost_clears=("new_flavor",)),
    "resize": Accepted("resize", RESIZE_PREP, vm_states=MOVABLE, lost_clears=("new_flavor",)),
    # a confirm takes the migration alone: the server's row stays as it was
    "confirm_resize": Accepted("confirmResize", None, vm_states=(RESIZED,), launched=False,
                               migration_status=MIGRATION_CONFIRMING),
    "revert_resize": Accepted("revertResize", RESIZE_REVERTING, vm_states=(RESIZED,),
                              launched=False, migration_status=MIGRATION_REVERTING),
    # Nova also lets a hard reboot interrupt a pending reboot, pause or suspend; herder's steps
    # compare and swap their task state, so it refuses (409) until that operation is done
    "stop": Accepted("stop", POWERING_OFF, vm_states=(ACTIVE, ERROR)),
    "start": Accepted("start", POWERING_ON, vm_states=(STOPPED,)),
    "pause": Accepted("pause", PAUSING, vm_states=(ACTIVE,)),
    "unpause": Accepted("unpause", UNPAUSING, vm_states=(PAUSED,)),
    "suspend": Accepted("suspend", SUSPENDING, vm_states=(ACTIVE,)),
    "resume": Accepted("resume", RESUMING, vm_states=(SUSPENDED,)),
    "reboot_soft": Accepted("reboot", REBOOTING, vm_states=(ACTIVE,)),
    "reboot_hard": Accepted("reboot", REBOOTING_HARD,
                            vm_states=(ACTIVE, STOPPED, PAUSED, SUSPENDED, ERROR)),
}


def accepted_by_task_state() -> dict[str, Accepted]:
    """The table by the task state each operation sets: what recovery finds on a server whose
    request was lost. Operations that share a task state (migrate and resize) are handled
    alike, so either one stands for both."""
    return {accepted.task_state: accepted for accepted in ACCEPTED.values()
            if accepted.task_state is not None}
