"""/herder/v1/host-drains: jobs that move every server off a host (a drain) or back onto it (a
restore), a few at a time, driven by the conductors (docs/herder-api.md). Admin only by
default.

Checks run body (400), policy (403), then what the job needs: the host or job exists (404),
the job's state allows it (409). A refused request writes nothing.
"""
import falcon

from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler
from herder.api.schemas import host_drains as schemas
from herder.api.views.common import iso_micro
from herder.db import host_drains
from herder.db.models import HostDrain, HostDrainServer
from herder.operations import host_drain
from herder.uuids import is_uuid_like

RULE = "herder:host_drains"
ROUTE = "/herder/v1/host-drains"

# the defaults of a drain's limits: one move at a time out of the host, two into any host
DEFAULT_MAX_PER_SOURCE, DEFAULT_MAX_PER_DESTINATION = 1, 2


class HostDrains(Handler):
    @describe("List host drain and restore jobs (admin), newest first, without their "
              "servers; `host` filters by host", query=("host",))
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, f"{RULE}:index")
        jobs = host_drains.list_all(self.db, req.get_param("host") or None)
        counts = host_drains.servers_of(self.db, [job.uuid for job in jobs])
        resp.media = {"host_drains": [view(job, counts[job.uuid]) for job in jobs]}

    @describe("Drain a host (admin): disable its compute service with `reason`, then move "
              "every server off it, at most `max_per_source` at once out of it and "
              "`max_per_destination` into any host, confirming each move if `auto_confirm`",
              body=schemas.CREATE, status=202)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = self.body(req, schemas.CREATE)["host_drain"]
        self.authorize(req, f"{RULE}:create")
        with errors.refusals_as_errors():
            job = host_drain.start_drain(self.api, self.context(req), body["host"],
                                         body.get("reason"), drain_limits(body))
        _accepted(resp, job, self.db)


class HostDrainItem(Handler):
    @describe("Show a host drain or restore job (admin), with each server's state and result")
    def on_get(self, req: falcon.Request, resp: falcon.Response, drain_id: str) -> None:
        self.authorize(req, f"{RULE}:show")
        job = find_job(self.db, drain_id)
        servers = host_drains.servers_of(self.db, [job.uuid])[job.uuid]
        resp.media = {"host_drain": view(job, servers, with_servers=True)}


class HostDrainAction(Handler):
    @describe("Pause, resume or cancel a host drain or restore job (admin): "
              "`{\"pause\": null}`, `{\"resume\": null}`, `{\"cancel\": null}`",
              body={"oneOf": list(schemas.ACTIONS.values())}, status=202)
    def on_post(self, req: falcon.Request, resp: falcon.Response, drain_id: str) -> None:
        action, _ = self.one_key_body(req, schemas.ACTIONS,
                                      "A host drain's action is pause, resume or cancel, "
                                      "not '{name}'")
        self.authorize(req, f"{RULE}:{action}")
        find_job(self.db, drain_id)
        with errors.refusals_as_errors():
            job = getattr(host_drain, action)(self.api, self.context(req), drain_id)
        _accepted(resp, job, self.db)


class HostDrainRestore(Handler):
    @describe("Restore a completed or cancelled drain (admin): enable its host's compute "
              "service again and move back the servers it moved that are still where it put "
              "them, as a new job of kind `restore` (limits: the drain's unless given)",
              body=schemas.RESTORE, status=202)
    def on_post(self, req: falcon.Request, resp: falcon.Response, drain_id: str) -> None:
        body = self.body(req, schemas.RESTORE)["restore"]
        self.authorize(req, f"{RULE}:restore")
        drain = find_job(self.db, drain_id)
        limits = None
        if body:
            limits = host_drain.Limits(
                body.get("max_per_source", drain.max_per_source),
                body.get("max_per_destination", drain.max_per_destination),
                body.get("auto_confirm", drain.auto_confirm))
        with errors.refusals_as_errors():
            job = host_drain.start_restore(self.api, self.context(req), drain.uuid, limits)
        _accepted(resp, job, self.db)


def drain_limits(body: dict) -> host_drain.Limits:
    """A validated drain body's limits, the defaults for those it leaves out (the dashboard's
    drain form goes through this too)."""
    return host_drain.Limits(body.get("max_per_source", DEFAULT_MAX_PER_SOURCE),
                             body.get("max_per_destination", DEFAULT_MAX_PER_DESTINATION),
                             body.get("auto_confirm", False))


def find_job(db, drain_id: str) -> HostDrain:
    """The job, or 404 in the API's words (also for an id that is no uuid)."""
    message = f"Host drain {drain_id} could not be found."
    if not is_uuid_like(drain_id):
        raise errors.NotFound(message)
    with errors.refusals_as_errors():
        return host_drains.get(db, drain_id)


def _accepted(resp: falcon.Response, job: HostDrain, db) -> None:
    resp.status = 202
    job = host_drains.get(db, job.uuid)
    resp.media = {"host_drain": view(job, host_drains.servers_of(db, [job.uuid])[job.uuid],
                                     with_servers=True)}


def view(job: HostDrain, servers: list[HostDrainServer], with_servers: bool = False) -> dict:
    shown = {
        "id": job.uuid, "kind": job.kind, "host": job.host, "status": job.status,
        "reason": job.reason, "max_per_source": job.max_per_source,
        "max_per_destination": job.max_per_destination, "auto_confirm": job.auto_confirm,
        "drain_id": job.drain_uuid, "user_id": job.user_id, "project_id": job.project_id,
        "created_at": iso_micro(job.created_at), "updated_at": iso_micro(job.updated_at),
        "finished_at": iso_micro(job.finished_at), "conductor": job.owner,
        "servers_total": len(servers),
        "servers_by_state": host_drains.count_by_state(servers)}
    if with_servers:
        shown["servers"] = [_server_view(row) for row in servers]
    return shown


def _server_view(row: HostDrainServer) -> dict:
    return {"server_id": row.instance_uuid, "state": row.state,
            "source_host": row.source_host, "destination_host": row.dest_host,
            "migration_id": row.migration_uuid, "reason": row.reason,
            "started_at": iso_micro(row.started_at), "finished_at": iso_micro(row.finished_at)}
