"""/servers: create, list, detail, show, update, delete."""
import itertools
import uuid
from datetime import datetime
from urllib.parse import urlencode

import falcon

from herder import exception, quota, states
from herder.api import faults, hostnames, server_list
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler, accepted, no_content
from herder.api.schemas import servers as schemas
from herder.api.query import Query, is_uuid_like
from herder.api.views import servers as views
from herder.api.views.common import links
from herder.db import (actions, flavors, images, instances, moves, quotas, server_groups,
                       server_queries, services)
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
        try:
            flavor = flavors.get(self.db, server["flavorRef"],
                                 None if context.is_admin else context.project_id)
        except exception.FlavorNotFound as error:
            raise faults.BadRequest(str(error)) from None
        image = self._image(server, context)
        addresses = self._addresses(server, version)
        zone = server.get("availability_zone")
        if zone and zone != self.conf.default_availability_zone:
            raise faults.BadRequest("The requested availability zone is not available")
        for name in ("min_count", "max_count"):  # an integer or a string of digits
            if str(server.get(name, 1)).lstrip("0") != "1":
                raise faults.BadRequest("herder creates one server per request.")
        metadata = server.get("metadata", {})
        if metadata:   # no quota read for the many creates that bring none
            allowed = quotas.limits(self.db, self.conf, context.project_id)["metadata_items"]
            if 0 <= allowed < len(metadata):
                raise faults.Forbidden(f"Maximum number of metadata items exceeds {allowed}")
        group_uuid = self._server_group(hints, context)
        if group_uuid:  # the spec keeps the group as its canonical uuid, however it was spelt
            hints = {**hints, "group": group_uuid}
        server_uuid = str(uuid.uuid4())
        instance = Instance(
            uuid=server_uuid, display_name=server["name"],
            hostname=server.get("hostname") or hostnames.from_name(server["name"], server_uuid),
            description=server.get("description"), project_id=context.project_id,
            user_id=context.user_id, image_ref=image.id if image else "",
            flavor=flavors.as_dict(flavor), vm_state=states.BUILDING, task_state="scheduling",
            power_state=states.NOSTATE, availability_zone=zone or self.conf.default_availability_zone,
            metadata_=metadata, system_metadata={}, addresses=addresses,
            key_name=server.get("key_name"),
            disk_config=server.get("OS-DCF:diskConfig", "MANUAL"),
            created_at=datetime.utcnow())
        spec = {"flavor": flavors.as_dict(flavor), "availability_zone": zone,
                "image_properties": image.properties if image else {},
                "requested_host": server.get("host") if version.at_least("2.74") else None,
                "scheduler_hints": hints}
        try:  # checked and created in one transaction: concurrent creates cannot overrun it
            with quota.admitted(self.db, self.conf, context.project_id,
                                {"instances": 1, "cores": flavor.vcpus,
                                 "ram": flavor.memory_mb}) as session:
                instances.add(session, instance, spec)
                if group_uuid:
                    server_groups.add_member(session, self.conf, group_uuid, instance.uuid)
        except exception.QuotaExceeded as error:
            raise faults.Forbidden(str(error)) from None
        except exception.InstanceGroupNotFound as error:  # the group was deleted meanwhile
            raise faults.BadRequest(str(error)) from None
        actions.start(self.db, context, instance.uuid, "create")
        self.api.bus.cast("conductor", "build_instance", context, instance_uuid=instance.uuid)
        resp.status = 202
        resp.location = f"{self.base_url(req)}/servers/{instance.uuid}"
        resp.media = {"server": {"id": instance.uuid,
                                 "links": links(self.base_url(req), "servers", instance.uuid),
                                 "OS-DCF:diskConfig": instance.disk_config,
                                 "security_groups": [{"name": "default"}],
                                 # the one asked for, as Nova answers (the fake guests
                                 # have no password to set)
                                 "adminPass": server.get("adminPass", uuid.uuid4().hex[:12])}}

    def _server_group(self, hints: dict, context) -> str | None:
        """The uuid of the group the `group` hint names, if the caller's project owns it
        (admins: any); an unknown group is a bad request, as in Nova."""
        if "group" not in hints:
            return None
        wanted = hints["group"]
        if not isinstance(wanted, str) or not is_uuid_like(wanted):
            raise faults.BadRequest(f"Invalid input for field/attribute group. Value: {wanted}. "
                                    f"'{wanted}' is not a 'uuid'")
        try:
            return server_groups.get(self.db, str(uuid.UUID(wanted)),
                                     None if context.is_admin else context.project_id).uuid
        except exception.InstanceGroupNotFound as error:
            raise faults.BadRequest(str(error)) from None

    def _image(self, server: dict, context):
        image_ref = server.get("imageRef")
        for bdm in server.get("block_device_mapping_v2", []):
            if bdm.get("destination_type") == "volume" or bdm.get("source_type") in (
                    "volume", "snapshot"):
                raise faults.BadRequest("Booting from volumes is not supported yet.")
            if str(bdm.get("boot_index")) == "0" and bdm.get("source_type") == "image":
                image_ref = image_ref or bdm.get("uuid")
        if not image_ref:
            raise faults.BadRequest("Missing imageRef attribute")
        try:   # only an image the caller may see (a member: public, or their project's)
            image = images.get_visible(self.db, image_ref.rsplit("/", 1)[-1],
                                       None if context.is_admin else context.project_id)
        except exception.ImageNotFound:
            raise faults.BadRequest(f"Image {image_ref} could not be found.") from None
        if image.status != "active":   # queued or saving: no data to boot from yet
            raise faults.BadRequest(f"Image {image.id} is not active.")
        return image

    @staticmethod
    def _addresses(server: dict, version) -> dict:
        networks = server.get("networks")
        if networks is None and version.at_least("2.37"):
            raise faults.BadRequest("Invalid input for field/attribute server. Value: "
                                    f"{server}. 'networks' is a required property")
        if networks == "none" or networks == []:
            return {}
        if isinstance(networks, list):
            raise faults.BadRequest("herder has one network, 'private': request networks "
                                    "\"auto\" or \"none\".")
        return {"private": [{"version": 4, "addr": _fake_address(), "OS-EXT-IPS:type": "fixed",
                             "OS-EXT-IPS-MAC:mac_addr": _fake_mac()}]}

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
            raise faults.BadRequest(f"marker [{marker}] not found") from None
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
            raise faults.BadRequest(
                f"Server {instance.uuid} is in availability zone "
                f"{instance.availability_zone}: it can only be pinned to that zone.")
        spec = instances.request_spec(self.db, instance.uuid)
        instances.save_request_spec(self.db, instance.uuid, {**spec, "availability_zone": zone})

    @describe("Delete a server", status=204)
    def on_delete(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:servers:delete", self.target(instance))
        context = self.context(req)
        if instance.locked and not context.is_admin:
            raise faults.Conflict(f"Instance {instance.uuid} is locked")
        instance = self._mark_deleting(req, instance)
        if instance is None:
            # already on its way out: as in Nova, deleting it again is accepted and changes
            # nothing (tempest's cleanups delete a server twice)
            no_content(resp)
            return
        confirm_uuid = None
        if instance.vm_state == states.RESIZED:
            confirm_uuid = self._take_finished_move(context, instance)
        actions.start(self.db, context, instance.uuid, "delete")
        self.api.bus.cast("conductor", "delete_instance", context, instance_uuid=instance.uuid,
                          confirm_migration_uuid=confirm_uuid)
        no_content(resp)

    def _mark_deleting(self, req, instance: Instance, attempts: int = 5) -> Instance | None:
        """Task state `deleting`, from whatever it was; the instance as it was just before, or
        None if it was being deleted already. A build or power change that moves on between our
        read and our write is no reason to refuse a delete (Nova never does): read again."""
        for _ in range(attempts):
            if instance.task_state == states.DELETING:
                return None
            if instance.task_state in (*states.MOVE_TASK_STATES, states.RESIZE_REVERTING):
                raise faults.Conflict(f"Cannot 'delete' instance {instance.uuid} while it is in "
                                      f"task_state {instance.task_state}")
            try:  # a delete that finished since our read leaves a row that must not match
                instances.update(self.db, instance.uuid,
                                 {"task_state": instance.task_state, "deleted": False},
                                 task_state=states.DELETING)
                return instance
            except exception.UnexpectedTaskState:
                instance = self.server(req, instance.uuid)  # 404 if it is gone meanwhile
        raise faults.Conflict(f"Cannot 'delete' instance {instance.uuid} while it is "
                              "changing state")

    def _take_finished_move(self, context, instance: Instance) -> str | None:
        """Deleting a server in VERIFY_RESIZE confirms its move first (Nova). Called once the
        server is ours (task_state `deleting`), so no revert can start any more; if a confirm
        took the move since our check, the delete steps back (409) and leaves no trace, rather
        than racing the confirm."""
        migration = moves.finished_for(self.db, instance.uuid)
        if migration is None and moves.in_progress_for(self.db, instance.uuid) is None:
            return None  # nothing left to confirm
        if migration is not None:
            try:
                moves.update(self.db, migration.uuid, states.MIGRATION_FINISHED,
                             status=states.MIGRATION_CONFIRMING)
                actions.start(self.db, context, instance.uuid, "confirmResize")
                return migration.uuid
            except exception.UnexpectedTaskState:
                pass
        instances.update(self.db, instance.uuid, {"task_state": states.DELETING},
                         task_state=instance.task_state)
        raise faults.Conflict(f"Cannot 'delete' instance {instance.uuid} while its migration "
                              "is being confirmed or reverted")


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


_address_counter = itertools.count()


def _fake_address() -> str:
    """An address in TEST-NET-2 (198.51.100.0/24, for documentation): shown, never a target."""
    return f"198.51.100.{next(_address_counter) % 254 + 1}"


def _fake_mac() -> str:
    raw = uuid.uuid4().bytes
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in raw[:3])
