"""/herder/v1/projects/{project_id}/confirm-policy: a project's confirm policy (herder's own
API, docs/herder-api.md): how long its moves may wait in VERIFY_RESIZE and whether they are then
confirmed or reverted (herder/confirm_policy.py). Admin only by default.

The checks run body (400), project id (400), then policy (403), as os-quota-sets does: a project
id is not looked up (herder has no identity service to ask), so any printable id of up to 255
characters may hold a policy, and a project without one is a 404.
"""
import falcon

from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler, no_content
from herder.api.schemas import confirm_policies as schemas
from herder.db import confirm_policies
from herder.db.models import ProjectConfirmPolicy

RULE = "herder:projects:confirm_policy"
ROUTE = "/herder/v1/projects/{project_id}/confirm-policy"


class ConfirmPolicy(Handler):
    @describe("Show a project's confirm policy (admin); 404 if it has none")
    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        project_id = self._project(req, project_id, "show")
        row = confirm_policies.get(self.db, project_id)
        if row is None:
            raise _no_policy(project_id)
        resp.media = _view(row)

    @describe("Set a project's confirm policy (admin), replacing the one it had: `window` "
              "(seconds a finished move may wait, 0 = never) and `action` (`confirm` or "
              "`revert`); null or left out: the cloud's", body=schemas.PUT)
    def on_put(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        body = self.body(req, schemas.PUT)["confirm_policy"]
        project_id = self._project(req, project_id, "update")
        window, action = body.get("window"), body.get("action")
        if window is None and action is None:
            raise errors.BadRequest("A confirm policy sets a window, an action or both; "
                                    "DELETE removes the policy.")
        resp.media = _view(confirm_policies.put(self.db, project_id, window, action))

    @describe("Remove a project's confirm policy (admin): its moves follow the cloud's "
              "settings again; 404 if it has none", status=204)
    def on_delete(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        project_id = self._project(req, project_id, "delete")
        if not confirm_policies.remove(self.db, project_id):
            raise _no_policy(project_id)
        no_content(resp)

    def _project(self, req: falcon.Request, project_id: str, action: str) -> str:
        """The project named in the path, once the caller may `action` its policy."""
        return self.project_in_path(req, project_id, f"{RULE}:{action}")


def _no_policy(project_id: str) -> errors.ApiError:
    return errors.NotFound(f"Project {project_id} has no confirm policy.")


def _view(row: ProjectConfirmPolicy) -> dict:
    return {"confirm_policy": {"project_id": row.project_id, "window": row.window_seconds,
                               "action": row.action}}
