"""kill -9 inside a move with the production defaults: how long a user waits for a settled server.

The crash matrix shortens leases and timeouts to run every point quickly; a user gets the
defaults ([workflow] lease_seconds 30, recovery_interval 10, [messaging] rpc_timeout 60,
heartbeats every 10 s). Here the deployment keeps them, and the representative cases check the
bounds docs/crash-matrix.md promises:

- a conductor killed and started again on the same host takes over its earlier process's
  workflows at once: the server settles within 10 s of the restart;
- a conductor killed and never started again: another conductor adopts its workflows once
  their lease ran out, so the server settles within lease_seconds + recovery_interval of the
  kill, plus the time the rollback's own calls take;
- a compute host killed mid-step and started again gets the step again from the broker.
"""
import time

import pytest

from tests.functional.observe import wait_until
from tests.integration.crash import Case, report
from tests.integration.deployment import Deployment

LEASE_SECONDS, RECOVERY_INTERVAL = 30.0, 10.0       # the defaults, herder/conf.py
SAME_HOST_RESTART_WITHIN = 10.0
ROLLBACK_CALLS = 10.0   # a rollback's own work: compensations on two compute hosts

RESTARTED = [
    ("migrate", "conductor", "migrate.create_migration.first_write"),
    ("migrate", "conductor", "migrate.resize_instance.first_write"),
    ("resize", "conductor", "migrate.finish_resize.last_write"),
    ("confirm", "conductor", "confirm.confirm_resize.first_write"),
    ("revert", "conductor", "revert.finish_revert_resize.first_write"),
    ("migrate", "*", "copy_disk"),                  # the source compute, mid-copy
]


@pytest.fixture(scope="module")
def cloud(rabbitmq, tmp_path_factory):
    """Two conductors, so that one can adopt what the other leaves; production timings
    (the deployment's own shortened heartbeats and RPC timeout put back to the defaults)."""
    with Deployment(tmp_path_factory.mktemp("crash-defaults"), conductors=2,
                    DEFAULT={"report_interval": 10, "service_down_time": 60},
                    messaging={"rpc_timeout": 60},
                    compute={"periodic_interval": 1.0}) as deployment:
        yield deployment


@pytest.mark.parametrize("operation,owner,point", RESTARTED,
                         ids=[f"{o}-{p}" for o, _, p in RESTARTED])
def test_a_service_restarted_after_a_kill_settles_the_server_within_seconds(
        cloud, operation, owner, point):
    case = Case.prepare(cloud, operation, name=f"defaults-{operation}-{point}")
    victim, _ = case.kill_at(owner, point)
    restarted_at = time.monotonic()
    settled = case.wait_settled(SAME_HOST_RESTART_WITHIN)
    seconds = time.monotonic() - restarted_at
    report(case, point, victim, case.check_outcome(settled, victim), seconds, "defaults",
           "restart")


def test_a_conductor_that_never_comes_back_has_its_move_adopted_after_the_lease(cloud):
    case = Case.prepare(cloud, "migrate", name="defaults-adopted")
    point = "migrate.prep_resize.first_write"
    victim, killed_at = case.kill_at("conductor", point, restart=False)
    settled = case.wait_settled(LEASE_SECONDS + RECOVERY_INTERVAL + ROLLBACK_CALLS)
    seconds = time.monotonic() - killed_at
    survivor = next(name for name in cloud.conductors if name != victim)
    # logged once its recovery returned, a moment after the journal's last write
    wait_until(lambda: "recovered migrate workflow" in cloud.log(survivor), timeout=10,
               message="the survivor to log the recovery")
    cloud.restart(victim)   # back for the cases after this one
    report(case, point, victim, case.check_outcome(settled, victim), seconds, "defaults",
           "kill")
