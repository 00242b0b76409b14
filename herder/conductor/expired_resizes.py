"""The automatic confirm or revert of moves that waited in VERIFY_RESIZE past their window.

A compute host's periodic task asks for it, for the moves out of that host, with the cloud's
settings as the host has them configured. For each such move this decides its policy
(herder/confirm_policy.py: the flavor it moved to, then its project, then the cloud) and, once
the window has passed, confirms or reverts it **through the api's own operation**
(herder/operations/verify_resize.py), exactly as a user's confirmResize or revertResize:
the same compare-and-swap of the migration from `finished` (a user's confirm, revert or delete
that came first wins, and this one is dropped), the same instance action, the same recorded
request and the same journaled workflow, in herder's own name.
"""
import logging
from dataclasses import dataclass, field
from datetime import datetime

from herder import confirm_policy, exception
from herder.conductor.base import ConductorServices
from herder.conductor.rpcapi import ConductorAPI
from herder.context import RequestContext
from herder.db import confirm_policies, flavors, instances, migrations
from herder.db.models import Instance, Migration
from herder.operations import checks, verify_resize

LOG = logging.getLogger(__name__)


@dataclass
class OperationServices:
    """What the api's operations use (operations.checks.Services), from the conductor's."""
    conf: object
    db: object
    bus: object
    # the request is recorded before its cast (operations/handover.py): a cast the broker
    # refuses is sent again by a conductor, so there is no waiting for the broker here
    conductor: ConductorAPI = field(init=False)

    def __post_init__(self):
        self.conductor = ConductorAPI(self.bus, cast_patience=0.0)


def settle(svc: ConductorServices, context: RequestContext, host: str,
           cloud: confirm_policy.Layer) -> None:
    """Confirm or revert the moves out of `host` whose window has passed."""
    waiting = migrations.finished_out_of(svc.db, host)
    if not waiting:
        return
    servers = instances.placements(svc.db, [m.instance_uuid for m in waiting])
    projects = confirm_policies.of_projects(svc.db, {s.project_id for s in servers.values()})
    flavor_layers = FlavorLayers(svc.db, waiting)
    operations = OperationServices(svc.conf, svc.db, svc.bus)
    now = datetime.utcnow()
    for migration in waiting:
        server = servers.get(migration.instance_uuid)
        if server is None:
            continue   # deleted meanwhile: its delete confirmed the move
        policy = confirm_policy.resolve(flavor_layers.of(migration, server),
                                        project_layer(projects.get(server.project_id)), cloud)
        if policy.expired(migration.updated_at or migration.created_at, now):
            _act(operations, context, server, migration, policy)


class FlavorLayers:
    """The flavor layer of each of these moves' policies: the flavor the server moved to, as
    it is now (an operator's change applies to moves already waiting); once deleted, the copy
    the server keeps of it. The flavors are read once for all the moves: a host asks every
    second, and a thousand moves may wait. (The dashboard shows a waiting move's time left
    from these and project_layer too.)"""

    def __init__(self, db, moves: list[Migration]):
        self._flavors = flavors.by_internal_ids(
            db, {m.new_instance_type_id for m in moves if m.new_instance_type_id is not None})

    def of(self, migration: Migration, server: Instance) -> confirm_policy.Layer:
        flavor = self._flavors.get(migration.new_instance_type_id)
        if flavor is not None:
            return confirm_policy.flavor_layer(flavor.name, flavor.extra_specs or {})
        kept = server.new_flavor or server.flavor or {}
        return confirm_policy.flavor_layer(kept.get("name", "?"), kept.get("extra_specs") or {})


def project_layer(row) -> confirm_policy.Layer:
    if row is None:
        return confirm_policy.Layer("no project policy")
    return confirm_policy.Layer(f"project {row.project_id}'s confirm policy",
                                window=row.window_seconds, action=row.action)


def _act(operations: OperationServices, context: RequestContext, server: Instance,
         migration: Migration, policy: confirm_policy.ConfirmPolicy) -> None:
    reverting = policy.action.value == confirm_policy.REVERT
    try:
        if reverting:
            # both hosts take part in a revert; one that is down would fail it at once (and
            # again at every period): wait for it instead
            checks.check_service_up(operations, migration.dest_compute)
            verify_resize.revert_resize(operations, context, server, migration.uuid)
        else:
            verify_resize.confirm_resize(operations, context, server, migration.uuid)
    except (exception.Conflict, exception.Invalid, exception.NotFound) as refused:
        # a user's confirm, revert or delete took the move first, or a host is down; the
        # next period asks again, so this is no news worth a line each time
        LOG.debug("%s [instance: %s] Not automatically %s migration %s: %s",
                 context.log_prefix(), server.uuid,
                 "reverting" if reverting else "confirming", migration.uuid, refused)
        return
    LOG.info("%s [instance: %s] Automatically %s migration %s (%s)", context.log_prefix(),
             server.uuid, "reverting" if reverting else "confirming", migration.uuid,
             policy.explain())
