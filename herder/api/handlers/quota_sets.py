"""/os-quota-sets/{project_id}: show (/detail with usage), defaults, update and revert (admin).

herder keeps quotas per project. Nova can also keep them per user of a project (`user_id`);
here showing with a `user_id` shows the project's quotas (what applies to every user of it) and
setting or reverting per user is refused, rather than silently applied to the whole project.
"""
import falcon

from herder import quota
from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler
from herder.api.microversion import Version
from herder.api.query import Query, to_bool
from herder.api.schemas import quota_sets as schemas
from herder.api.views import quotas as views
from herder.db import quotas

_RULE = "os_compute_api:os-quota-sets"
_QUERY = ("user_id",)


def _update_schema(version: Version) -> dict:
    if version.at_least("2.57"):
        return schemas.UPDATE_V257
    return schemas.UPDATE_V236 if version.at_least("2.36") else schemas.UPDATE


class _QuotaSetHandler(Handler):
    def _project(self, req: falcon.Request, project_id: str, action: str) -> str:
        """The project named in the path, once the caller may `action` its quotas."""
        return self.project_in_path(req, project_id, f"{_RULE}:{action}")

    @staticmethod
    def _no_user_quotas(query: Query) -> None:
        if "user_id" in query:
            raise errors.BadRequest("herder keeps quotas per project: setting or reverting "
                                    "the quotas of one user (user_id) is not supported.")


class QuotaSet(_QuotaSetHandler):
    @describe("Show a project's quotas", query=_QUERY)
    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        Query(req, _QUERY, strict=False)
        project_id = self._project(req, project_id, "show")
        resp.media = views.quota_set(quotas.limits(self.db, self.conf, project_id),
                                     self.version(req), project_id)

    @describe("Update a project's quotas (admin); `force` allows a limit below the usage",
              bodies={"2.1": schemas.UPDATE, "2.36": schemas.UPDATE_V236,
                      "2.57": schemas.UPDATE_V257}, query=_QUERY)
    def on_put(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        version = self.version(req)
        body = self.body(req, _update_schema(version))["quota_set"]
        project_id = self._project(req, project_id, "update")
        self._no_user_quotas(Query(req, _QUERY, strict=False))
        force = to_bool(body.pop("force", False))
        values = {name: _limit(name, raw) for name, raw in body.items()}
        try:
            limits = quota.set_limits(self.db, self.conf, project_id, values, force)
        except quota.LimitBelowUsage as error:
            raise errors.BadRequest(str(error)) from None
        resp.media = views.quota_set(limits, version, None)

    @describe("Revert a project's quotas to the defaults (admin)", status=202,
              returns_body=False, query=_QUERY)
    def on_delete(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        project_id = self._project(req, project_id, "delete")
        self._no_user_quotas(Query(req, _QUERY, strict=False))
        quotas.reset(self.db, project_id)
        resp.status = 202
        resp.text = ""


class QuotaSetDetail(_QuotaSetHandler):
    @describe("Show a project's quotas with their usage", query=_QUERY)
    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        Query(req, _QUERY, strict=False)
        project_id = self._project(req, project_id, "detail")
        resp.media = views.quota_set_detail(quotas.limits(self.db, self.conf, project_id),
                                            quotas.usage(self.db, project_id),
                                            self.version(req), project_id)


class QuotaSetDefaults(_QuotaSetHandler):
    @describe("Show the default quotas")
    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        project_id = self._project(req, project_id, "defaults")
        resp.media = views.quota_set(quotas.defaults(self.conf), self.version(req), project_id)


def _limit(name: str, raw: int | str) -> int:
    """A limit from the body: the schema bounds integers, a string of digits is checked here."""
    if isinstance(raw, int):
        value = raw
    else:  # int() of thousands of digits is refused, and anything past 10 is out of range
        digits = raw.lstrip("-").lstrip("0") or "0"
        value = int(digits) if len(digits) <= 10 else schemas.MAX_INT + 1
        value = -value if raw.startswith("-") else value
    if value < -1:
        raise errors.BadRequest(f"Quota limit {raw} for {name} must be -1 or greater.")
    if value > schemas.MAX_INT:
        raise errors.BadRequest(f"Quota limit {raw} for {name} must be less than or equal to "
                                f"{schemas.MAX_INT}.")
    return value
