"""/os-server-groups: create, list, show, delete.

A group is its project's: other projects neither see nor delete it (404), and an admin sees
every project's. Members join by the `group` scheduler hint of a server create.
"""
import falcon

from herder import exception
from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler, no_content
from herder.api.microversion import Version
from herder.api.query import Query
from herder.api.schemas import server_groups as schemas
from herder.api.views import server_groups as views
from herder.db import server_groups
from herder.db.models import ServerGroup
from herder.scheduler import group_policy

_RULE = "os_compute_api:os-server-groups"
_LIST_PARAMS = ("all_projects", "limit", "offset")


class ServerGroupCollection(Handler):
    @describe("List server groups (all_projects: every project's, for admins)",
              query=_LIST_PARAMS)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, f"{_RULE}:index")
        context, version = self.context(req), self.version(req)
        query = Query(req, _LIST_PARAMS, strict=version.at_least("2.75"))
        # as Nova: all_projects from someone the policy does not allow means their own
        every_project = "all_projects" in query and self.allowed(req,
                                                                 f"{_RULE}:index:all_projects")
        found = server_groups.list_all(self.db, None if every_project else context.project_id)
        offset = query.non_negative_integer("offset") or 0
        found = found[offset:offset + query.limit(self.conf.api.max_limit)]
        members = server_groups.members(self.db, [g.uuid for g in found])
        resp.media = {"server_groups": [views.show(g, members[g.uuid], version) for g in found]}

    @describe("Create a server group",
              bodies={"2.1": schemas.CREATE, "2.15": schemas.CREATE_V215,
                      "2.64": schemas.CREATE_V264})
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, f"{_RULE}:create")
        context, version = self.context(req), self.version(req)
        body = self.body(req, _create_schema(version))["server_group"]
        policy, rules = _policy_and_rules(body, version)
        try:
            group = server_groups.create(
                self.db, self.conf, name=body["name"], project_id=context.project_id,
                user_id=context.user_id, policy=policy, rules=rules)
        except exception.QuotaExceeded as error:
            raise errors.Forbidden(str(error)) from None
        resp.media = {"server_group": views.show(group, [], version)}


class ServerGroupItem(Handler):
    @describe("Show a server group")
    def on_get(self, req: falcon.Request, resp: falcon.Response, group_id: str) -> None:
        group = self._group(req, group_id)
        self.authorize(req, f"{_RULE}:show", _target(group))
        members = server_groups.members(self.db, [group.uuid])[group.uuid]
        resp.media = {"server_group": views.show(group, members, self.version(req))}

    @describe("Delete a server group (its servers stay, free of its policy)", status=204)
    def on_delete(self, req: falcon.Request, resp: falcon.Response, group_id: str) -> None:
        group = self._group(req, group_id)
        self.authorize(req, f"{_RULE}:delete", _target(group))
        try:
            server_groups.delete_group(self.db, group.uuid)
        except exception.InstanceGroupNotFound as error:  # deleted since we looked
            raise errors.NotFound(str(error)) from None
        no_content(resp)

    def _group(self, req: falcon.Request, group_id: str) -> ServerGroup:
        """The group if the caller's project owns it (admins: any), else 404."""
        context = self.context(req)
        try:
            return server_groups.get(self.db, group_id,
                                     None if context.is_admin else context.project_id)
        except exception.InstanceGroupNotFound as error:
            raise errors.NotFound(str(error)) from None


def _target(group: ServerGroup) -> dict:
    return {"project_id": group.project_id, "user_id": group.user_id}


def _create_schema(version: Version) -> dict:
    if version.at_least("2.64"):
        return schemas.CREATE_V264
    if version.at_least("2.15"):
        return schemas.CREATE_V215
    return schemas.CREATE


def _policy_and_rules(body: dict, version: Version) -> tuple[str, dict]:
    if not version.at_least("2.64"):
        return body["policies"][0], {}
    policy, rules = body["policy"], body.get("rules") or {}
    if rules and policy != group_policy.ANTI_AFFINITY:
        raise errors.BadRequest("Only anti-affinity policy supports rules.")
    if "max_server_per_host" in rules:
        # the schema lets a string of digits through, "0" and "00" too
        digits = str(rules["max_server_per_host"]).lstrip("0") or "0"
        maximum = schemas.MAX_SERVER_PER_HOST["maximum"]
        # int() refuses 4300 digits and more: anything longer than the maximum is too big
        value = int(digits) if len(digits) <= len(str(maximum)) else maximum + 1
        if not 1 <= value <= maximum:
            raise errors.BadRequest(
                "Invalid input for field/attribute max_server_per_host. Value: "
                f"{rules['max_server_per_host']}. It must be a positive integer.")
        rules = {"max_server_per_host": value}
    return policy, rules
