"""Private flavors: GET /flavors/{id}/os-flavor-access lists the projects that may use one;
POST /flavors/{id}/action `addTenantAccess` / `removeTenantAccess` give and take it (admin).

As in Nova, the policy is checked before the flavor is looked up: these are admin operations,
and an admin may know which flavors exist.
"""
import falcon

from herder import exception
from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler
from herder.api.schemas import flavor_access as schemas
from herder.db import flavor_access, flavors
from herder.db.models import Flavor

_RULE = "os_compute_api:os-flavor-access"


class _FlavorAccessHandler(Handler):
    def _flavor(self, flavor_id: str) -> Flavor:
        try:
            return flavors.get(self.db, flavor_id)
        except exception.FlavorNotFound as error:
            raise errors.NotFound(str(error)) from None

    def _access_list(self, resp: falcon.Response, flavor: Flavor) -> None:
        resp.media = {"flavor_access": [
            {"flavor_id": flavor.flavorid, "tenant_id": project_id}
            for project_id in flavor_access.projects(self.db, flavor)]}


class FlavorAccess(_FlavorAccessHandler):
    @describe("List the projects that may use a private flavor (admin)")
    def on_get(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        self.authorize(req, _RULE)
        flavor = self._flavor(flavor_id)
        if flavor.is_public:
            raise errors.NotFound("Access list not available for public flavors.")
        self._access_list(resp, flavor)


class FlavorAction(_FlavorAccessHandler):
    @describe("Give or take a project's access to a private flavor (admin): one key, "
              f"the action's name ({', '.join(schemas.ACTIONS)})",
              body={"oneOf": list(schemas.ACTIONS.values())})
    def on_post(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        name, args = self.one_key_body(req, schemas.ACTIONS, "There is no such action: {name}")
        project_id = args["tenant"]
        if name == "addTenantAccess":
            self.authorize(req, f"{_RULE}:add_tenant_access")
            change = flavor_access.add
        else:
            self.authorize(req, f"{_RULE}:remove_tenant_access")
            change = flavor_access.remove
        flavor = self._flavor(flavor_id)
        try:
            change(self.db, flavor, project_id)
        except exception.NotFound as error:
            raise errors.NotFound(str(error)) from None
        except exception.Conflict as error:
            raise errors.Conflict(str(error)) from None
        self._access_list(resp, flavor)
