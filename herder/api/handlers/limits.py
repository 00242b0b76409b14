"""GET /limits: the caller's project's absolute limits and what it uses (`tenant_id`: another
project's, for admins). herder applies no rate limits, so `rate` is empty, as in Nova."""
import falcon

from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler
from herder.api.query import Query
from herder.api.views import quotas as views
from herder.db import quotas

_QUERY = ("tenant_id",)


class Limits(Handler):
    @describe("Show the project's absolute limits and usage", query=_QUERY)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        version = self.version(req)
        self.authorize(req, "os_compute_api:limits")
        # 2.75 refuses parameters it does not know; before, they are ignored
        query = Query(req, _QUERY, strict=version.at_least("2.75"))
        project_id = self.context(req).project_id
        if "tenant_id" in query:
            project_id = query.string("tenant_id")
            self.authorize(req, "os_compute_api:limits:other_project")
            if len(project_id) > 255 or not project_id.isprintable():
                raise errors.BadRequest(f"Project ID {project_id} is not a valid project.")
        resp.media = views.absolute_limits(quotas.limits(self.db, self.conf, project_id),
                                           quotas.usage(self.db, project_id), version)
