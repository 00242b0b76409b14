"""/servers: create, list, detail, show, update, delete."""
import itertools
import uuid
from datetime import datetime
from urllib.parse import urlencode

import falcon

from herder import exception, quota, states
from herder.api import faults
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler, accepted, no_content
from herder.api.schemas import servers as schemas
from herder.api.query import Query
from herder.api.views import servers as views
from herder.api.views.common import links
from herder.db import actions, flavors, images, instances, moves, services
from herder.db.models import Instance

_FILTERS = ("name", "status", "host", "image", "flavor")
_ADMIN_ONLY_PARAMS = ("host", "node", "project_id", "tenant_id", "all_tenants", "deleted")
_MEMBER_LIST_PARAMS = ("name", "status", "image", "flavor", "changes-since", "limit", "marker")
_LIST_PARAMS = _MEMBER_LIST_PARAMS + _ADMIN_ONLY_PARAMS


class ServerCollection(Handler):
    @describe("Create a server", status=202, body=schemas.CREATE)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        context = self.context(req)
        self.authorize(req, "os_compute_api:servers:create")
        version = self.version(req)
        body = self.body(req, schemas.CREATE)
        server = body["server"]
        hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
        try:
            flavor = flavors.get(self.db, server["flavorRef"],
                                 None if context.is_admin else context.project_id)
        except exception.FlavorNotFound as error:
            raise faults.BadRequest(str(error)) from None
        image = self._image(server)
        addresses = self._addresses(server, version)
        zone = server.get("availability_zone")
        if zone and zone != self.conf.default_availability_zone:
            raise faults.BadRequest("The requested availability zone is not available")
        for name in ("min_count", "max_count"):  # an integer or a string of digits
            if str(server.get(name, 1)).lstrip("0") != "1":
                raise faults.BadRequest("herder creates one server per request.")
        try:
            quota.check(self.db, self.conf, context.project_id,
                        {"instances": 1, "cores": flavor.vcpus, "ram": flavor.memory_mb})
        except exception.QuotaExceeded as error:
            raise faults.Forbidden(str(error)) from None
        instance = Instance(
            uuid=str(uuid.uuid4()), display_name=server["name"],
            description=server.get("description"), project_id=context.project_id,
            user_id=context.user_id, image_ref=image.id if image else "",
            flavor=flavors.as_dict(flavor), vm_state=states.BUILDING, task_state="scheduling",
            power_state=states.NOSTATE, availability_zone=zone or self.conf.default_availability_zone,
            metadata_=server.get("metadata", {}), system_metadata={}, addresses=addresses,
            key_name=server.get("key_name"),
            disk_config=server.get("OS-DCF:diskConfig", "MANUAL"),
            created_at=datetime.utcnow().replace(microsecond=0))
        spec = {"flavor": flavors.as_dict(flavor), "availability_zone": zone,
                "image_properties": image.properties if image else {},
                "requested_host": server.get("host") if version.at_least("2.74") else None,
                "scheduler_hints": hints}
        instances.create(self.db, instance, spec)
        actions.start(self.db, context, instance.uuid, "create")
        self.api.bus.cast("conductor", "build_instance", context, instance_uuid=instance.uuid,
                          image_path=image.file_path if image else None)
        resp.status = 202
        resp.location = f"{self.base_url(req)}/servers/{instance.uuid}"
        resp.media = {"server": {"id": instance.uuid,
                                 "links": links(self.base_url(req), "servers", instance.uuid),
                                 "OS-DCF:diskConfig": instance.disk_config,
                                 "security_groups": [{"name": "default"}],
                                 "adminPass": uuid.uuid4().hex[:12]}}

    def _image(self, server: dict):
        image_ref = server.get("imageRef")
        for bdm in server.get("block_device_mapping_v2", []):
            if bdm.get("destination_type") == "volume" or bdm.get("source_type") in (
                    "volume", "snapshot"):
                raise faults.BadRequest("Booting from volumes is not supported yet.")
            if str(bdm.get("boot_index")) == "0" and bdm.get("source_type") == "image":
                image_ref = image_ref or bdm.get("uuid")
        if not image_ref:
            raise faults.BadRequest("Missing imageRef attribute")
        try:
            return images.get(self.db, image_ref.rsplit("/", 1)[-1])
        except exception.ImageNotFound:
            raise faults.BadRequest(f"Image {image_ref} could not be found.") from None

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
        context = self.context(req)
        self.authorize(req, "os_compute_api:servers:index")
        # as Nova: unknown parameters are ignored, and so are admin-only ones from non-admins
        query = Query(req, _LIST_PARAMS if context.is_admin else _MEMBER_LIST_PARAMS,
                      strict=False)
        if "all_tenants" in query:
            self.authorize(req, "os_compute_api:servers:index:get_all_tenants")
        limit = query.limit(self.conf.api.max_limit)
        changes_since = query.time("changes-since")
        project = None if "all_tenants" in query else \
            query.string("project_id") or query.string("tenant_id") or context.project_id
        rows = instances.list_all(self.db, project, include_deleted=changes_since is not None)
        filters = {name: query.string(name) for name in _FILTERS if name in query}
        rows = [i for i in rows if _matches(i, filters, changes_since)]
        marker = query.string("marker")
        if marker:
            ids = [i.uuid for i in rows]
            if marker not in ids:
                raise faults.BadRequest(f"marker [{marker}] not found")
            rows = rows[ids.index(marker) + 1:]
        page, more = rows[:limit], len(rows) > limit
        extra = {}
        if more and page:
            params = {**dict(query.pairs()), "marker": page[-1].uuid}
            extra["servers_links"] = [{"rel": "next", "href":
                                       f"{self.base_url(req)}/servers?{urlencode(params)}"}]
        return {"servers": page, "links": extra}


class ServerDetail(ServerCollection):
    on_post = None  # servers are created on /servers only

    @describe("List servers with details", query=_LIST_PARAMS)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        found = self._list(req)
        context, version, base = self.context(req), self.version(req), self.base_url(req)
        resp.media = {"servers": [views.show(i, base, version, is_admin=context.is_admin,
                                             fault=_current_fault(self.db, i),
                                             host_status=self._host_status(req, i),
                                             flavor_extra_specs=flavor_extra_specs(self, req, i))
                                  for i in found["servers"]], **found["links"]}

    def _host_status(self, req, instance: Instance) -> str | None:
        return host_status(self, req, instance)


class ServerItem(Handler):
    @describe("Show a server")
    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:servers:show", self.target(instance))
        context = self.context(req)
        resp.media = {"server": views.show(
            instance, self.base_url(req), self.version(req), is_admin=context.is_admin,
            fault=_current_fault(self.db, instance),
            host_status=host_status(self, req, instance), with_server_groups=True,
            flavor_extra_specs=flavor_extra_specs(self, req, instance))}

    @describe("Update a server", bodies={"2.1": schemas.UPDATE_V21, "2.19": schemas.UPDATE})
    def on_put(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        version = self.version(req)
        body = self.body(req, schemas.UPDATE if version.at_least("2.19")
                         else schemas.UPDATE_V21)["server"]
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:servers:update", self.target(instance))
        values = {}
        if "name" in body:
            values["display_name"] = body["name"]
        if "description" in body:
            values["description"] = body["description"]
        if "OS-DCF:diskConfig" in body:
            values["disk_config"] = body["OS-DCF:diskConfig"]
        if values:
            instance = instances.update(self.db, instance.uuid, **values)
        context = self.context(req)
        resp.media = {"server": views.show(
            instance, self.base_url(req), version, is_admin=context.is_admin, basic=True,
            with_server_groups=True, flavor_extra_specs=flavor_extra_specs(self, req, instance))}

    @describe("Delete a server", status=204)
    def on_delete(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        instance = self.server(req, server_id)
        self.authorize(req, "os_compute_api:servers:delete", self.target(instance))
        context = self.context(req)
        if instance.locked and not context.is_admin:
            raise faults.Conflict(f"Instance {instance.uuid} is locked")
        if instance.task_state in (*states.MOVE_TASK_STATES, states.RESIZE_REVERTING,
                                   states.DELETING):
            raise faults.Conflict(f"Cannot 'delete' instance {instance.uuid} while it is in "
                                  f"task_state {instance.task_state}")
        try:  # a delete that finished since our read leaves a row that must not match
            instances.update(self.db, instance.uuid,
                             {"task_state": instance.task_state, "deleted": False},
                             task_state=states.DELETING)
        except exception.UnexpectedTaskState:
            raise faults.Conflict(f"Cannot 'delete' instance {instance.uuid} while it is "
                                  "changing state") from None
        confirm_uuid = None
        if instance.vm_state == states.RESIZED:
            confirm_uuid = self._take_finished_move(context, instance)
        actions.start(self.db, context, instance.uuid, "delete")
        self.api.bus.cast("conductor", "delete_instance", context, instance_uuid=instance.uuid,
                          confirm_migration_uuid=confirm_uuid)
        no_content(resp)

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


def flavor_extra_specs(handler: Handler, req, instance: Instance) -> bool:
    """Whether the caller sees the extra specs of the server's flavor (2.47; project readers
    and admins by default, as in Nova)."""
    return handler.version(req).at_least("2.47") and handler.allowed(
        req, "os_compute_api:servers:show:flavor-extra-specs", Handler.target(instance))


def _current_fault(db, instance: Instance):
    return instances.current_fault(db, instance,
                                   states.server_status(instance.vm_state, instance.task_state))


def host_status(handler: Handler, req, instance: Instance) -> str | None:
    """2.16's host_status, for those the policy lets see it."""
    if not handler.version(req).at_least("2.16") or \
            not handler.allowed(req, "os_compute_api:servers:show:host_status"):
        return None
    if not instance.host:
        return ""
    service = services.compute(handler.db, instance.host)
    if service is None:
        return "UNKNOWN"
    if not services.is_up(service, handler.conf.service_down_time):
        return "DOWN"
    return "MAINTENANCE" if service.disabled else "UP"


def _matches(instance: Instance, params: dict, changes_since: datetime | None) -> bool:
    if "name" in params and params["name"] not in instance.display_name:
        return False
    if "status" in params and states.server_status(
            instance.vm_state, instance.task_state) != params["status"].upper():
        return False
    if "host" in params and instance.host != params["host"]:
        return False
    if "image" in params and instance.image_ref != params["image"]:
        return False
    if "flavor" in params and instance.flavor["flavorid"] != params["flavor"]:
        return False
    if changes_since is not None and (instance.updated_at or instance.created_at) < changes_since:
        return False
    return True


_address_counter = itertools.count()


def _fake_address() -> str:
    """An address in TEST-NET-2 (198.51.100.0/24, for documentation): shown, never a target."""
    return f"198.51.100.{next(_address_counter) % 254 + 1}"


def _fake_mac() -> str:
    raw = uuid.uuid4().bytes
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in raw[:3])
