"""/servers: create, list, detail, show, update, delete."""
import uuid
from urllib.parse import urlencode

import falcon

from herder import exception, operations, states
from herder.api import errors, server_list
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler, accepted, no_content
from herder.api.schemas import servers as schemas
from herder.api.query import Query
from herder.api.views import servers as views
from herder.api.views.common import links
from herder.db import instances, server_groups, server_queries, services
from herder.db.models import Instance

_FILTERS = ("name", "status", "host", "image", "flavor")
_ADMIN_ONLY_PARAMS = ("host", "node", "project_id", "tenant_id", "all_tenants", "deleted")
_MEMBER_LIST_PARAMS = ("name", "status", "image", "flavor", "changes-since", "limit", "marker",
                       "sort_key", "sort_dir")
_LIST_PARAMS = _MEMBER_LIST_PARAMS + ("changes-before",) + _ADMIN_ONLY_PARAMS + \
    server_list.STATE_FILTERS


def _list_params(version, is_admin: bool) -> tuple[str, ...]:
    """The list parameters a caller may use at a microversion (changes-before: 2.66; the
    state filters: admins always, project members from 2.83)."""
    names = _MEMBER_LIST_PARAMS + (_ADMIN_ONLY_PARAMS if is_admin else ())
    if is_admin or version.at_least("2.83"):
        names += server_list.STATE_FILTERS
    return names + ("changes-before",) if version.at_least("2.66") else names


def _state_filters(query: Query) -> dict:
    """The state filters given, each as server_queries compares it."""
    wanted = {}
    for name in server_list.STATE_FILTERS:
        if name not in query:
            continue
        if name in ("vm_state", "task_state"):
            wanted[name] = query.values[name]
        elif name in ("created_at", "launched_at", "terminated_at"):
            wanted[name] = query.time(name)
        else:
            wanted[name] = query.string(name)
    return wanted


class ServerCollection(Handler):
    @describe("Create a server", status=202,
              bodies={"2.1": schemas.CREATE, "2.90": schemas.CREATE_V290,
                      "2.94": schemas.CREATE_V294})
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        context = self.context(req)
        self.authorize(req, "os_compute_api:servers:create")
        version = self.version(req)
        body = self.body(req, _create_schema(version))
        server = body["server"]
        hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
        with errors.refusals_as_errors():
            instance = operations.create(self.api, context, server, hints,
                                         networks_required=version.at_least("2.37"),
                                         host_requestable=version.at_least("2.74"))
        resp.status = 202
        resp.location = f"{self.base_url(req)}/servers/{instance.uuid}"
        resp.media = {"server": {"id": instance.uuid,
                                 "links": links(self.base_url(req), "servers", instance.uuid),
                                 "OS-DCF:diskConfig": instance.disk_config,
                                 "security_groups": [{"name": "default"}],
                                 # the one asked for, as Nova answers (the fake guests
                                 # have no password to set)
                                 "adminPass": server.get("adminPass", uuid.uuid4().hex[:12])}}

    @describe("List servers", query=_LIST_PARAMS)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        found = self._list(req)
        base = self.base_url(req)
        resp.media = {"servers": [views.summary(i, base) for i in found["servers"]],
                      **found["links"]}

    def _list(self, req: falcon.Request) -> dict:
        context, version = self.context(req), self.version(req)
        self.authorize(req, "os_compute_api:servers:index")
        # as Nova: unknown parameters are ignored, and so are admin-only ones from non-admins
        query = Query(req, _list_params(version, context.is_admin), strict=False)
        if "all_tenants" in query:
            self.authorize(req, "os_compute_api:servers:index:get_all_tenants")
        limit = query.limit(self.conf.api.max_limit)
        since, before = query.changes_window(version.at_least("2.66"))
        order = server_list.sort_order(query.values.get("sort_key", []),
                                       query.values.get("sort_dir", []), context.is_admin)
        status = query.string("status")
        if status is not None and \
                not server_list.valid_status(status, refuse_unknown=version.at_least("2.38")):
            return {"servers": [], "links": {}}
        project = None if "all_tenants" in query else \
            query.string("project_id") or query.string("tenant_id") or context.project_id
        wanted = server_list.server_filter(
            project, **{name: query.string(name) for name in _FILTERS}, changes_since=since,
            changes_before=before, state_filters=_state_filters(query))
        marker = query.string("marker")
        try:
            found = server_queries.page(self.db, wanted, order, limit, marker or None)
        except exception.MarkerNotFound:
            raise errors.BadRequest(f"marker [{marker}] not found") from None
        page = found.servers
        extra = {}
        if found.more and page:
            params = [(name, value) for name, values in sorted(query.values.items())
                      if name != "marker" for value in values] + [("marker", page[-1].uuid)]
            extra["servers_links"] = [{"rel": "next", "href":
                                       f"{self.base_url(req)}/servers?{urlencode(params)}"}]
        return {"servers": page, "links": extra}


class ServerDetail(ServerCollection):
    on_post = None  # servers are created on /servers only

    @describe("List servers with details", query=_LIST_PARAMS)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        found = self._list(req)
        page = found["servers"]
        context, version, base = self.context(req), self.version(req), self.base_url(req)
        # what the bodies show of other tables, loaded for the whole page at once
        specs = instances.request_specs(self.db, [i.uuid for i in page]) \
            if _shows_request_spec(version) else {}
        current_faults = instances.current_faults(self.db, page)
        shows_host_status = _shows_host_status(self, req)
        computes = services.computes_on(self.db, {i.host for i in page if i.host}) \
            if shows_host_status else {}
        resp.media = {"servers": [
            views.show(i, base, version, is_admin=context.is_admin,
                       fault=current_faults.get(i.uuid),
                       host_status=_status_of_host(self, i.host, computes.get(i.host))
                       if shows_host_status else None,
                       flavor_extra_specs=flavor_extra_specs(self, req, i),
                       spec=specs.get(i.uuid))
            for i in page], **found["links"]}


class ServerItem(Handler):
    @describe("Show a server")
    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:servers:show", self.target(instance))
        context, version = self.context(req), self.version(req)
        resp.media = {"server": views.show(
            instance, self.base_url(req), version, is_admin=context.is_admin,
            fault=instances.current_fault(self.db, instance),
            host_status=host_status(self, req, instance),
            server_groups=server_groups.groups_of(self.db, instance.uuid),
            flavor_extra_specs=flavor_extra_specs(self, req, instance),
            spec=_request_spec(self.db, instance, version))}

    @describe("Update a server",
              bodies={"2.1": schemas.UPDATE_V21, "2.19": schemas.UPDATE,
                      "2.90": schemas.UPDATE_V290, "2.94": schemas.UPDATE_V294,
                      "2.104": schemas.UPDATE_V2104})
    def on_put(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        version = self.version(req)
        body = self.body(req, _update_schema(version))["server"]
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:servers:update", self.target(instance))
        values = {}
        if "name" in body:
            values["display_name"] = body["name"]
        if "description" in body:
            values["description"] = body["description"]
        if "OS-DCF:diskConfig" in body:
            values["disk_config"] = body["OS-DCF:diskConfig"]
        if "hostname" in body:
            values["hostname"] = body["hostname"]
        if "pinned_availability_zone" in body:  # checked before anything is written
            self._pin(instance, body["pinned_availability_zone"])
        if values:
            instance = instances.update(self.db, instance.uuid, **values)
        context = self.context(req)
        resp.media = {"server": views.show(
            instance, self.base_url(req), version, is_admin=context.is_admin, basic=True,
            server_groups=server_groups.groups_of(self.db, instance.uuid),
            flavor_extra_specs=flavor_extra_specs(self, req, instance),
            spec=_request_spec(self.db, instance, version))}

    def _pin(self, instance: Instance, zone: str | None) -> None:
        """2.104: pin the server to the zone it is in (moves stay there), or unpin it (None:
        moves may go to any zone). Pinning it elsewhere would strand it: refused."""
        if zone is not None and zone != instance.availability_zone:
            raise errors.BadRequest(
                f"Server {instance.uuid} is in availability zone "
                f"{instance.availability_zone}: it can only be pinned to that zone.")
        spec = instances.request_spec(self.db, instance.uuid)
        instances.save_request_spec(self.db, instance.uuid, {**spec, "availability_zone": zone})

    @describe("Delete a server", status=204)
    def on_delete(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:servers:delete", self.target(instance))
        with errors.refusals_as_errors():
            operations.delete(self.api, self.context(req), instance)
        no_content(resp)


def _create_schema(version) -> dict:
    """hostname: 2.90 (one DNS label), 2.94 (a fully qualified name)."""
    if version.at_least("2.94"):
        return schemas.CREATE_V294
    return schemas.CREATE_V290 if version.at_least("2.90") else schemas.CREATE


def _update_schema(version) -> dict:
    """description: 2.19; hostname: 2.90 and 2.94; pinned_availability_zone: 2.104."""
    for minimum, schema in (("2.104", schemas.UPDATE_V2104), ("2.94", schemas.UPDATE_V294),
                            ("2.90", schemas.UPDATE_V290), ("2.19", schemas.UPDATE)):
        if version.at_least(minimum):
            return schema
    return schemas.UPDATE_V21


def _shows_request_spec(version) -> bool:
    """Whether a server body at `version` shows part of the request spec (2.96's pinned zone,
    2.98's image properties, 2.100's scheduler hints)."""
    return version.at_least("2.96")


def _request_spec(db, instance: Instance, version) -> dict:
    return instances.request_spec(db, instance.uuid) if _shows_request_spec(version) else {}


def flavor_extra_specs(handler: Handler, req, instance: Instance) -> bool:
    """Whether the caller sees the extra specs of the server's flavor (2.47; project readers
    and admins by default, as in Nova)."""
    return handler.version(req).at_least("2.47") and handler.allowed(
        req, "os_compute_api:servers:show:flavor-extra-specs", Handler.target(instance))


def host_status(handler: Handler, req, instance: Instance) -> str | None:
    """2.16's host_status, for those the policy lets see it."""
    if not _shows_host_status(handler, req):
        return None
    return _status_of_host(handler, instance.host, services.compute(handler.db, instance.host)
                           if instance.host else None)


def _shows_host_status(handler: Handler, req) -> bool:
    return handler.version(req).at_least("2.16") and \
        handler.allowed(req, "os_compute_api:servers:show:host_status")


def _status_of_host(handler: Handler, host: str | None, service) -> str:
    """What host_status says of a server on `host`, whose compute service is `service`."""
    if not host:
        return ""
    if service is None:
        return "UNKNOWN"
    if not services.is_up(service, handler.conf.service_down_time):
        return "DOWN"
    return "MAINTENANCE" if service.disabled else "UP"
