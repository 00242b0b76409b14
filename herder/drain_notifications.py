"""Versioned notifications of host drain and restore jobs (herder's own: Nova has no drains;
docs/api-contract.md#host-drain-notifications lists them).

Every event type is `host_drain.<what>`, for a restore too: the API serves both kinds of job
as one resource, and the payload's `kind` tells them apart.

- `host_drain.start`: a job was created (it runs from then on);
- `host_drain.pause`, `host_drain.resume`, `host_drain.cancel`: the api changed its status;
- `host_drain.server.end`: one of its servers has its result (moved, skipped, deleted or
  cancelled), `host_drain.server.error` (priority ERROR): one failed. Each server of a job
  gets exactly one of the two;
- `host_drain.end`: the job finished, completed or cancelled, with its final counts.

A notification is not sent from where its change happens: it is written as a row in the same
transaction as the change (herder/db/host_drains.py), so it exists if and only if the change
committed (a compare-and-swap that lost writes none), and the conductor holding the job's
lease sends the job's rows in order (herder/conductor/host_drains.py). The builders here run
inside that transaction, from the job and its servers as the change left them.
"""
from herder.api.views.common import iso_micro
from herder.db import host_drains
from herder.db.models import HostDrain, HostDrainNotification, HostDrainServer

INFO, ERROR = "INFO", "ERROR"
PREFIX = "host_drain"
VERSION = "1.0"


def job_event(action: str, context=None) -> host_drains.JobNotice:
    """The notification `host_drain.<action>` of a change to a job; `context`: the request
    that made it, if one did (a change the conductor makes on its own has none)."""
    def build(job: HostDrain, servers: list[HostDrainServer]) -> HostDrainNotification:
        return _notification(job.uuid, INFO, f"{PREFIX}.{action}",
                             _versioned("HostDrainPayload", job_payload(job, servers, context)))
    return build


def server_event(job: HostDrain, row: HostDrainServer) -> HostDrainNotification:
    """The notification of one server's result in its job: an error if it failed."""
    failed = row.state == host_drains.FAILED
    return _notification(job.uuid, ERROR if failed else INFO,
                         f"{PREFIX}.server.{'error' if failed else 'end'}",
                         _versioned("HostDrainServerPayload", server_payload(job, row)))


def job_payload(job: HostDrain, servers: list[HostDrainServer], context=None) -> dict:
    return {
        "uuid": job.uuid, "kind": job.kind, "host": job.host, "status": job.status,
        "reason": job.reason, "disabled_reason": host_drains.service_disabled_reason(job),
        "drain_uuid": job.drain_uuid, "max_per_source": job.max_per_source,
        "max_per_destination": job.max_per_destination, "auto_confirm": job.auto_confirm,
        "servers_total": len(servers),
        "servers_by_state": host_drains.count_by_state(servers),
        # who created the job; the action_initiator_* and request_id: who made this change
        "user_id": job.user_id, "project_id": job.project_id,
        "action_initiator_user": context.user_id if context else None,
        "action_initiator_project": context.project_id if context else None,
        "request_id": context.request_id if context else None,
        "conductor": job.owner,
        "created_at": iso_micro(job.created_at), "updated_at": iso_micro(job.updated_at),
        "finished_at": iso_micro(job.finished_at),
    }


def server_payload(job: HostDrain, row: HostDrainServer) -> dict:
    return {
        "host_drain_uuid": job.uuid, "kind": job.kind, "host": job.host,
        "instance_uuid": row.instance_uuid, "result": row.state, "reason": row.reason,
        "source_host": row.source_host, "destination_host": row.dest_host,
        "migration_uuid": row.migration_uuid, "attempts": row.attempts,
        "started_at": iso_micro(row.started_at), "finished_at": iso_micro(row.finished_at),
    }


def _versioned(name: str, data: dict) -> dict:
    return {"nova_object.name": name, "nova_object.namespace": "herder",
            "nova_object.version": VERSION, "nova_object.data": data}


def _notification(job_uuid: str, priority: str, event_type: str,
                  payload: dict) -> HostDrainNotification:
    return HostDrainNotification(drain_uuid=job_uuid, priority=priority, event_type=event_type,
                                 payload=payload)
