"""Server, task, power and migration states, and how they map to the API's server status.

The names and values are Nova's, so that clients written for Nova understand them.
"""

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
RESIZE_PREP = "resize_prep"
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

# the task states the api sets before it casts a power operation (os-stop, pause, reboot, ...)
POWER_TASK_STATES = (POWERING_OFF, POWERING_ON, PAUSING, UNPAUSING, SUSPENDING, RESUMING,
                     REBOOTING, REBOOTING_HARD)

MOVE_TASK_STATES = (RESIZE_PREP, RESIZE_MIGRATING, RESIZE_MIGRATED, RESIZE_FINISH)

# power_state: what the hypervisor says (Nova's integer codes).
NOSTATE = 0
RUNNING = 1
PAUSED_POWER = 3
SHUTDOWN = 4
CRASHED = 6
SUSPENDED_POWER = 7

# Migration record statuses, in the order a cold migration passes through them.
MIGRATION_PRE_MIGRATING = "pre-migrating"
MIGRATION_MIGRATING = "migrating"
MIGRATION_POST_MIGRATING = "post-migrating"
MIGRATION_FINISHED = "finished"
MIGRATION_CONFIRMING = "confirming"
MIGRATION_CONFIRMED = "confirmed"
MIGRATION_REVERTING = "reverting"
MIGRATION_REVERTED = "reverted"
MIGRATION_ERROR = "error"

MIGRATION_IN_PROGRESS = (MIGRATION_PRE_MIGRATING, MIGRATION_MIGRATING, MIGRATION_POST_MIGRATING,
                         MIGRATION_FINISHED, MIGRATION_CONFIRMING, MIGRATION_REVERTING)
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
