"""A dry run of a migrate or resize (the herder API's move plans, docs/herder-api.md): the
move's own pre-checks, so a server a real request could not move is refused the same way; then
every host judged as the scheduler would judge it, and what the disk copy to each candidate
would be. Nothing is written: no task state, no migration, no allocation, no claim."""
from herder import exception
from herder.compute.rpcapi import ComputeAPI
from herder.db import instances, placement
from herder.db.models import Instance
from herder.operations import copy_estimate
from herder.operations.checks import Services
from herder.operations.move import check_migrate, check_resize, check_resize_quota
from herder.scheduler.move_request import hosts_to_leave, move_request
from herder.scheduler.rpcapi import SchedulerAPI
from herder.wire import instance_to_wire

# seconds the api waits for the source host to measure the server's disks; a plan without
# them still answers where the move would go
DISK_USAGE_TIMEOUT = 10.0


def plan_migrate(svc: Services, context, instance: Instance, host: str | None) -> dict:
    """Where a migrate (to `host`, or where the scheduler would choose) would go."""
    check_migrate(svc, context, instance, host)
    return _plan(svc, context, instance, "migrate", instance.flavor, host)


def plan_resize(svc: Services, context, instance: Instance, flavor_ref: str) -> dict:
    """Where a resize to `flavor_ref` would go."""
    new = check_resize(svc, context, instance, flavor_ref)
    check_resize_quota(svc, instance, new)
    return _plan(svc, context, instance, "resize", new, None)


def _plan(svc: Services, context, instance: Instance, action: str, flavor: dict,
          host: str | None) -> dict:
    judged = _judge_hosts(svc, context, instance, flavor, action == "resize", host)
    disk = _disk_usage(svc, context, instance)
    nodes = {node.host: node for node in placement.nodes(svc.db)}
    rates: dict = {}   # each kind's measured rate, read once for all candidates
    candidates = []
    for rank, candidate in enumerate(judged["candidates"], 1):
        kind = copy_estimate.copy_kind(nodes.get(instance.host), nodes.get(candidate["host"]))
        candidates.append({
            "host": candidate["host"], "rank": rank, "weight": candidate["weight"],
            "weighers": candidate["weighers"], "disk_copy": kind,
            "bytes_to_move": disk["allocated_bytes"],
            **copy_estimate.estimate(svc.db, kind, disk["allocated_bytes"], rates)})
    return {"server_id": instance.uuid, "action": action, "source_host": instance.host,
            "requested_host": host, "flavor": _flavor_summary(flavor), "disk": disk,
            "candidates": candidates, "rejected": judged["rejected"]}


def _judge_hosts(svc: Services, context, instance: Instance, flavor: dict, resize: bool,
                 host: str | None) -> dict:
    """The scheduler's judgement of every host for this move, built as the conductor builds
    the move's own request (herder/scheduler/move_request.py)."""
    try:
        return SchedulerAPI(svc.bus).evaluate_destinations(
            context, request=move_request(instances.request_spec(svc.db, instance.uuid),
                                          flavor),
            instance_uuid=instance.uuid,
            ignore_hosts=hosts_to_leave(instance.host, resize, svc.conf), requested_host=host)
    except (exception.MessagingTimeout, exception.IncompatibleRPCVersion) as error:
        raise exception.ServiceUnavailable(
            f"No scheduler could judge the hosts: {error}") from None


def _disk_usage(svc: Services, context, instance: Instance) -> dict:
    """What the source host measures of the server's disks (what a copy would send: their
    allocated bytes, not their virtual size); unknown, with the reason, if it cannot say."""
    try:
        usage = ComputeAPI(svc.bus, timeout=DISK_USAGE_TIMEOUT).disk_usage(
            context, instance.host, instance=instance_to_wire(instance))
    except exception.HerderError as error:   # no answer, an older host, or its own failure
        return {"files": None, "allocated_bytes": None, "unknown_because": str(error)}
    return {"files": usage["files"], "allocated_bytes": usage["allocated_bytes"],
            "unknown_because": None}


def _flavor_summary(flavor: dict) -> dict:
    """The flavor the server would have after the move, in the Compute API's words."""
    return {"id": flavor["flavorid"], "name": flavor["name"], "vcpus": flavor["vcpus"],
            "ram": flavor["memory_mb"], "disk": flavor["root_gb"],
            "ephemeral": flavor.get("ephemeral_gb", 0)}
