"""Host drains and restores, as the api starts, pauses, resumes and cancels them (the herder
API's /herder/v1/host-drains; docs/herder-api.md).

A drain disables the host's compute service (so the scheduler sends it nothing more) and
lists every server on it, in one transaction; a conductor then moves them off a few at a time
(herder/conductor/host_drains.py). A restore lists the servers a finished drain moved that are
still where it put them, enables the host's service again, and a conductor moves them back.
Every check runs before anything is written, so a refused request leaves nothing behind.
"""
import logging
import uuid
from dataclasses import dataclass

from herder import drain_notifications as notices
from herder import exception, states
from herder.db import host_drains, instances, services
from herder.db.host_drains import DRAIN, RESTORE
from herder.db.models import HostDrain, HostDrainServer, Instance
from herder.operations.checks import Services

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """How many moves may run at once out of one host and into one host (every move herder
    runs there counts, the job's own and any other; herder/conductor/host_drains.py)."""
    max_per_source: int
    max_per_destination: int
    auto_confirm: bool


def start_drain(svc: Services, context, host: str, reason: str | None,
                limits: Limits) -> HostDrain:
    """Disable `host`'s compute service with `reason` and list its servers for moving off."""
    _check_host(svc, host)
    job = _job(context, DRAIN, host, reason, limits)
    servers = [_drain_server(job.uuid, server) for server in instances.on_host(svc.db, host)]
    _create(svc, context, job, servers)
    LOG.info("%s host drain %s of %s started: %d servers, %d skipped", context.log_prefix(),
             job.uuid, host, len(servers),
             sum(s.state == host_drains.SKIPPED for s in servers))
    return job


def start_restore(svc: Services, context, drain_uuid: str,
                  limits: Limits | None) -> HostDrain:
    """Bring back the servers drain `drain_uuid` moved off its host, once it is over: enable
    the host's compute service again and list the servers still where the drain put them.
    `limits` None: the drain's own."""
    drain = host_drains.get(svc.db, drain_uuid)
    if drain.kind != DRAIN:
        raise exception.Conflict(f"Host drain {drain_uuid} is a restore: only a drain can be "
                                 f"restored.")
    if drain.status not in (host_drains.COMPLETED, host_drains.CANCELLED):
        raise exception.Conflict(f"Host drain {drain_uuid} is {drain.status}: a drain can be "
                                 f"restored once it is completed or cancelled.")
    _check_host(svc, drain.host)
    limits = limits or Limits(drain.max_per_source, drain.max_per_destination,
                              drain.auto_confirm)
    job = _job(context, RESTORE, drain.host, drain.reason, limits, drain_uuid=drain_uuid)
    moved = [row for row in host_drains.servers_of(svc.db, [drain_uuid])[drain_uuid]
             if row.state == host_drains.MOVED]
    now_at = instances.placements(svc.db, [row.instance_uuid for row in moved])
    servers = [_restore_server(job.uuid, drain.host, row, now_at.get(row.instance_uuid))
               for row in moved]
    # the scheduler takes no server to a disabled host, even one a move names: the host is
    # enabled again, with the job, so that its servers can come back
    _create(svc, context, job, servers)
    LOG.info("%s host restore %s of %s (drain %s) started: %d servers", context.log_prefix(),
             job.uuid, drain.host, drain_uuid, len(servers))
    return job


def pause(svc: Services, context, job_uuid: str) -> HostDrain:
    return _switch(svc, context, job_uuid, "pause", (host_drains.RUNNING,),
                   host_drains.PAUSED)


def resume(svc: Services, context, job_uuid: str) -> HostDrain:
    return _switch(svc, context, job_uuid, "resume", (host_drains.PAUSED,),
                   host_drains.RUNNING)


def cancel(svc: Services, context, job_uuid: str) -> HostDrain:
    """No server of the job starts moving any more; the moves under way are left to finish
    (an abort would undo work nearly done, and each can be aborted on its own: `server
    migration abort`). The conductor ends the job, cancelled, once they have."""
    job = _switch(svc, context, job_uuid, "cancel", (host_drains.RUNNING, host_drains.PAUSED),
                  host_drains.CANCELLING)
    host_drains.drop_waiting(svc.db, job_uuid, CANCELLED_REASON, notices.server_event)
    return job


# what a server a cancelled job never started moving is told
CANCELLED_REASON = "the job was cancelled before it moved"


def _create(svc: Services, context, job: HostDrain, servers: list[HostDrainServer]) -> None:
    """Write the job, with its notification and those of the servers it will not move."""
    host_drains.create(svc.db, job, servers, notices.job_event("start", context),
                       notices.server_event)


def _switch(svc: Services, context, job_uuid: str, action: str, expected: tuple[str, ...],
            status: str) -> HostDrain:
    job = host_drains.get(svc.db, job_uuid)
    if not host_drains.set_status(svc.db, job_uuid, expected, status,
                                  notices.job_event(action, context)):
        current = host_drains.get(svc.db, job_uuid).status
        raise exception.Conflict(f"Cannot {action} host {job.kind} {job_uuid} while it is "
                                 f"{current}.")
    LOG.info("%s host %s %s of %s: %s -> %s", context.log_prefix(), job.kind, job_uuid,
             job.host, job.status, status)
    return host_drains.get(svc.db, job_uuid)


def _check_host(svc: Services, host: str) -> None:
    """The host is a compute host whose service is up (its servers' moves start there), with
    no unfinished job. The last is checked again when the job is written (a unique column):
    this is for the clear message."""
    service = services.compute(svc.db, host)
    if service is None:
        raise exception.NotFound(f"Compute host {host} could not be found.")
    if not services.is_up(service, svc.conf.service_down_time):
        raise exception.Conflict(f"Compute service of host {host} is down: its servers "
                                 f"cannot be moved.")
    running = host_drains.unfinished_on(svc.db, host)
    if running is not None:
        raise exception.Conflict(f"Host {host} has an unfinished host {running.kind} "
                                 f"already: {running.uuid}.")


def _job(context, kind: str, host: str, reason: str | None, limits: Limits,
         drain_uuid: str | None = None) -> HostDrain:
    return HostDrain(uuid=str(uuid.uuid4()), kind=kind, host=host, active_host=host,
                     reason=reason, status=host_drains.RUNNING,
                     max_per_source=limits.max_per_source,
                     max_per_destination=limits.max_per_destination,
                     auto_confirm=limits.auto_confirm, drain_uuid=drain_uuid,
                     user_id=context.user_id, project_id=context.project_id)


def _drain_server(job_uuid: str, server: Instance) -> HostDrainServer:
    reason = why_not_movable(server)
    return HostDrainServer(drain_uuid=job_uuid, instance_uuid=server.uuid,
                           source_host=server.host, attempts=0,
                           state=host_drains.SKIPPED if reason else host_drains.WAITING,
                           reason=reason)


def _restore_server(job_uuid: str, host: str, moved: HostDrainServer,
                    server: Instance | None) -> HostDrainServer:
    row = HostDrainServer(drain_uuid=job_uuid, instance_uuid=moved.instance_uuid,
                          source_host=moved.dest_host, dest_host=host, attempts=0,
                          state=host_drains.WAITING)
    if server is None:
        row.state, row.reason = host_drains.DELETED, "deleted since the drain"
    elif server.host != moved.dest_host:
        row.state = host_drains.SKIPPED
        row.reason = f"moved on since the drain: now on {server.host}, not {moved.dest_host}"
    else:
        row.reason = why_not_movable(server)
        if row.reason:
            row.state = host_drains.SKIPPED
    return row


def why_not_movable(server: Instance) -> str | None:
    """Why a drain or restore leaves the server where it is, or None if it moves it. An
    admin's migrate would move a locked server; a job does not: the lock says someone wants
    it left alone."""
    if server.locked:
        return "locked" + (f": {server.locked_reason}" if server.locked_reason else "")
    if server.vm_state == states.ERROR:
        return "in ERROR"
    if server.vm_state == states.RESIZED or server.task_state in (
            *states.MOVE_TASK_STATES, states.RESIZE_REVERTING, states.RESIZE_CONFIRMING):
        return (f"mid-move ({states.server_status(server.vm_state, server.task_state)}): "
                f"confirm, revert or abort it first")
    if server.task_state is not None:
        return f"busy: task_state {server.task_state}"
    if server.vm_state not in states.MOVABLE:
        return (f"{states.server_status(server.vm_state, None)}: only ACTIVE and SHUTOFF "
                f"servers are moved")
    return None
