"""POST /herder/v1/servers/{id}/move-plans: where a migrate or resize would go, done by
nobody (docs/herder-api.md). The checks run in the Compute API's order for the move it plans:
body, visibility (404), policy (403), then the move's own pre-checks (herder/operations)."""
import falcon

from herder import exception
from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler
from herder.api.schemas import move_plans as schemas
from herder.operations.move_plan import plan_migrate, plan_resize

POLICY = "herder:servers:move_plans:create"


class MovePlans(Handler):
    @describe("Plan a migrate or a resize of a server without doing it: the hosts it could "
              "go to, ranked with their weights, the hosts rejected and why, and its disk "
              "copy to each (kind, bytes, estimated seconds). Nothing is changed",
              body={"oneOf": list(schemas.PLANS.values())})
    def on_post(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        action, args = self.one_key_body(
            req, schemas.PLANS, "A move plan is for 'migrate' or 'resize', not '{name}'")
        instance = self.server(req, server_id)
        self.authorize(req, POLICY, self.target(instance))
        context = self.context(req)
        with errors.refusals_as_errors():
            try:
                if action == "migrate":
                    plan = plan_migrate(self.api, context, instance, (args or {}).get("host"))
                else:
                    plan = plan_resize(self.api, context, instance,
                                       str(args["flavorRef"]).rsplit("/", 1)[-1])
            except exception.ServiceUnavailable as error:
                raise errors.ApiError(503, str(error)) from None
        resp.media = {"move_plan": plan}
