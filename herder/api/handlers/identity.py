"""GET /identity/v3/projects/{project_id}: the one Identity API read the `openstack` CLI needs.

Without Keystone there is no project registry: a project is whatever a token names (see
herder/api/auth.py). `openstack quota show|set <project>` still resolves the project through the
identity service first, so herder answers that lookup for the projects a caller may name: its
own, and for an admin any (the admin token acts on every project, as Nova's quota API does
without Keystone). With Keystone configured, clients ask Keystone instead.
"""
import falcon

from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler

_RULE = "identity:get_project"
_DOMAIN = "default"


class IdentityProject(Handler):
    @describe("Show a project (Identity API v3; embedded authentication only)")
    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        # a project id is a path segment of a token, as auth.py reads it: never ":" nor empty
        if not 0 < len(project_id) <= 255 or ":" in project_id:
            raise errors.NotFound(f"Could not find project: {project_id}.")
        self.authorize(req, _RULE, {"project_id": project_id})
        resp.media = {"project": {
            "id": project_id, "name": project_id, "domain_id": _DOMAIN, "description": "",
            "enabled": True, "is_domain": False, "parent_id": _DOMAIN, "tags": [],
            "options": {},
            "links": {"self": f"{req.context.root_url}/identity/v3/projects/{project_id}"}}}
