"""kill -9 of each service at each step of migrate, resize, confirm and revert.

Each case holds one service at one fault point (herder/fault_injection.py), kills it there with
SIGKILL, starts it again, and then checks that the move completed or rolled back by itself
within a bounded time: no transitional task_state, no ERROR, no unfinished workflow, no leaked
allocation, no orphaned file, and the guest's disk holding the same data as before. The
conductor is killed at three places of each of its steps: before the step runs, after the
step's first committed write, and after its last write, before the journal records it done.

CI runs a representative subset (one case per service and phase); `HERDER_CRASH_MATRIX=full`
runs every case (see docs/crash-matrix.md for the last full run), and
`HERDER_CRASH_MATRIX_REPORT=<file>` appends each case's outcome there as a line of JSON.
"""
import os
import time

import pytest

from tests.integration.crash import Case, report
from tests.integration.deployment import Deployment

SETTLE_WITHIN = 60  # seconds from the restart to a settled server: the bound we promise


def conductor_points(kind: str, steps: tuple[str, ...],
                     writing_nothing: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Each step of a conductor workflow: before it runs, after its first write (unless it
    writes nothing), after its last write (the engine's fault points,
    herder/conductor/engine.py)."""
    return [("conductor", f"{kind}.{step}{where}") for step in steps
            for where in ("", ".first_write", ".last_write")
            if not (where == ".first_write" and step in writing_nothing)]


MOVE_POINTS = [  # (who holds, fault point): the conductor's steps, then the services' own
    *conductor_points("migrate", ("create_migration", "move_source_allocation",
                                  "select_destinations", "take_move_slots", "prep_resize",
                                  "resize_instance",
                                  "finish_resize")),
    ("scheduler", "select_destinations"), ("*", "prep_resize"), ("*", "power_off"),
    ("*", "copy_disk"), ("*", "finish_migration"),
    ("api", "cast.migrate_server"),   # accepted, never handed to a conductor
    ("conductor", "migrate.take_request"),   # taken off the queue, nothing journaled
]
CASES = [
    *[("migrate", owner, point) for owner, point in MOVE_POINTS],
    *[("resize", owner, point) for owner, point in MOVE_POINTS],
    ("confirm", "api", "cast.confirm_resize"),
    *[("confirm", owner, point) for owner, point in conductor_points("confirm",
                                                                      ("confirm_resize",))],
    ("confirm", "*", "confirm_migration"),
    ("revert", "api", "cast.revert_resize"),
    *[("revert", owner, point) for owner, point in conductor_points(
        "revert", ("revert_resize", "finish_revert_resize", "discard_destination",
                   "complete_revert"), writing_nothing=("discard_destination",))],
    ("revert", "*", "revert_resize"), ("revert", "*", "finish_revert_migration"),
    ("revert", "*", "discard_incoming"),
]
REPRESENTATIVE = {
    ("migrate", "api", "cast.migrate_server"),
    ("migrate", "conductor", "migrate.take_request"),
    ("migrate", "conductor", "migrate.create_migration.first_write"),
    ("migrate", "conductor", "migrate.prep_resize"),
    ("migrate", "scheduler", "select_destinations"),
    ("migrate", "*", "copy_disk"),                   # the source, mid-copy
    ("resize", "conductor", "migrate.finish_resize.last_write"),
    ("resize", "*", "finish_migration"),             # the destination, at cut-over
    ("confirm", "conductor", "confirm.confirm_resize.first_write"),
    ("confirm", "*", "confirm_migration"),
    ("revert", "conductor", "revert.finish_revert_resize.last_write"),
    ("revert", "*", "revert_resize"),
}
SELECTED = CASES if os.environ.get("HERDER_CRASH_MATRIX") == "full" else \
    [case for case in CASES if case in REPRESENTATIVE]


@pytest.fixture(scope="module")
def cloud(rabbitmq, tmp_path_factory):
    """One deployment for the whole matrix; every case restarts what it kills."""
    with Deployment(
            tmp_path_factory.mktemp("crash"),
            messaging={"rpc_timeout": 5},      # how long a dead service's step is waited for
            workflow={"lease_seconds": 3, "recovery_interval": 0.5, "lost_request_timeout": 3,
                      "request_resend_after": 1},
            # one server per case
            quota={"instances": 100, "cores": 200, "ram": 204800}) as deployment:
        yield deployment


@pytest.mark.parametrize("operation,owner,point", SELECTED,
                         ids=[f"{o}-{p}" for o, _, p in SELECTED])
def test_kill_at_step_then_restart_completes_or_rolls_back(cloud, operation, owner, point):
    case = Case.prepare(cloud, operation, name=f"{operation}-{point}")
    victim, killed_at = case.kill_at(owner, point)
    if victim == "api":
        cloud.wait_ready()
    settled = case.wait_settled(SETTLE_WITHIN)
    seconds = time.monotonic() - killed_at
    report(case, point, victim, case.check_outcome(settled, victim), seconds)


# (operation, fault point) inside a step a compute host runs for the conductor
HOST_AT_WORK = [("migrate", "power_off"), ("migrate", "copy_disk"),
                ("resize", "finish_migration")]


@pytest.mark.parametrize("operation,point", HOST_AT_WORK, ids=[f"{o}-{p}" for o, p in HOST_AT_WORK])
def test_a_conductor_killed_while_a_host_works_on_its_step(cloud, operation, point):
    """The restarted conductor rolls the move back while the host still runs the dead
    conductor's step: the host runs the undoing requests only after that step, so nothing is
    left behind (before hosts ran a server's requests one at a time, a file was, in 3 runs of
    4)."""
    case = Case.prepare(cloud, operation, name=f"host-at-work-{operation}-{point}")
    restarted_at = case.kill_conductor_while_a_host_works(point)
    settled = case.wait_settled(SETTLE_WITHIN)
    outcome = case.check_outcome(settled, "conductor")
    assert outcome == "rolled back"
    report(case, f"{point} (host at work)", "conductor", outcome,
           time.monotonic() - restarted_at)
