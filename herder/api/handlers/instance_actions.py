"""GET /servers/{id}/os-instance-actions[/{request_id}]: what was done to a server, and how.

Microversions: 2.21 reads actions of deleted servers; 2.51 shows events (without traceback) to
those who may list actions, not only to admins; 2.58 pages the list and adds `updated_at`;
2.62 adds each event's `hostId` (and `host` for those the events policy lets see hosts); 2.84
adds each event's `details` for those the events:details policy lets see them.
"""
import falcon

from herder import exception
from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler
from herder.api.query import Query
from herder.api.views import instance_actions as views
from herder.api.views.paging import next_links
from herder.db import action_queries, actions, instances
from herder.db.models import Instance

_RULE = "os_compute_api:os-instance-actions"


class _ServerScoped(Handler):
    def instance(self, req: falcon.Request, server_id: str) -> Instance:
        """The server, deleted ones too from 2.21; not visible to the caller → 404."""
        context = self.context(req)
        try:
            return instances.get(self.db, server_id,
                                 None if context.is_admin else context.project_id,
                                 include_deleted=self.version(req).at_least("2.21"))
        except exception.InstanceNotFound as error:
            raise errors.NotFound(str(error)) from None


class InstanceActions(_ServerScoped):
    @describe("List a server's actions", query=("limit", "marker", "changes-since",
                                                 "changes-before"))
    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        version = self.version(req)
        paged = version.at_least("2.58")
        names = ["limit", "marker", "changes-since"]
        if version.at_least("2.66"):
            names.append("changes-before")
        # before 2.58 the list takes no parameters and ignores whatever it is given
        query = Query(req, names if paged else (), strict=paged)
        since, before = query.changes_window(version.at_least("2.66"))
        limit = query.limit(self.conf.api.max_limit) if paged else None
        instance = self.instance(req, server_id)
        self.authorize(req, f"{_RULE}:list", self.target(instance))
        try:
            found = action_queries.page(self.db, instance.uuid, limit,
                                        query.string("marker", single=True), since, before)
        except exception.MarkerNotFound as error:
            raise errors.BadRequest(str(error)) from None
        body = [views.action(row, version) for row in found]
        resp.media = {"instanceActions": body}
        if paged:
            links = next_links(self.base_url(req), f"servers/{server_id}/os-instance-actions",
                               query, body, limit, id_key="request_id")
            if links:
                resp.media["links"] = links


class InstanceAction(_ServerScoped):
    @describe("Show a server action with its events")
    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str,
               request_id: str) -> None:
        version = self.version(req)
        instance = self.instance(req, server_id)
        target = self.target(instance)
        self.authorize(req, f"{_RULE}:show", target)
        row = actions.get(self.db, instance.uuid, request_id)
        if row is None:
            raise errors.NotFound(f"Action {request_id} not found")
        body = views.action(row, version)
        everything = self.allowed(req, f"{_RULE}:events", target)
        if everything or version.at_least("2.51"):
            project_id = row.project_id or instance.project_id
            details = version.at_least("2.84") and \
                self.allowed(req, f"{_RULE}:events:details", target)
            body["events"] = [
                views.event(event, version, project_id, show_traceback=everything,
                            show_host=everything, show_details=details)
                for event in action_queries.events_newest_first(self.db, row.id)]
        else:
            # Nova leaves `events` out here; clients (openstack server event show) crash on
            # that, and the response schema allows the key, so say "none you may see"
            body["events"] = []
        resp.media = {"instanceAction": body}
