"""GET /os-services, PUT /os-services/{action or uuid}: see and switch compute services.

Before 2.53 an update names the service by host and binary in the body and the action in the
path (enable, disable, disable-log-reason, and force-down from 2.11); from 2.53 the path holds
the service uuid and the body the new status and/or forced_down.
"""
import falcon

from herder import exception
from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler
from herder.api.microversion import Version
from herder.api.query import Query, is_uuid_like, to_bool
from herder.api.schemas import services as schemas
from herder.api.views import services as views
from herder.db import services
from herder.db.models import Service

_RULE = "os_compute_api:os-services"


def _unsupported_binary(binary: str) -> errors.ApiError:
    return errors.BadRequest(f"Updating a {binary} service is not supported. Only "
                             f"{services.COMPUTE_BINARY} services can be updated.")


class ServiceCollection(Handler):
    @describe("List services", query=("host", "binary"))
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, f"{_RULE}:list")
        version = self.version(req)
        query = Query(req, ("host", "binary"), strict=version.at_least("2.75"))
        found = services.list_all(self.db, host=query.string("host") or None,
                                  binary=query.string("binary") or None)
        resp.media = {"services": [views.show(s, version, _up(self, s)) for s in found]}


def _up(handler: Handler, service: Service) -> bool:
    return services.is_up(service, handler.conf.service_down_time)


class ServiceItem(Handler):
    @describe("Enable, disable or force down a compute service: before 2.53 {service_id} is "
              "the action (enable, disable, disable-log-reason, force-down) and the body names "
              "the service; from 2.53 it is the service's uuid",
              bodies={"2.1": schemas.UPDATE, "2.11": schemas.UPDATE_V211,
                      "2.53": schemas.UPDATE_V253})
    def on_put(self, req: falcon.Request, resp: falcon.Response, service_id: str) -> None:
        self.authorize(req, f"{_RULE}:update")
        version = self.version(req)
        if version.at_least("2.53"):
            resp.media = self._update(req, service_id, version)
        else:
            resp.media = self._legacy_action(req, service_id, version)

    def _update(self, req: falcon.Request, service_id: str, version: Version) -> dict:
        body = self.body(req, schemas.UPDATE_V253)
        if not is_uuid_like(service_id):
            raise errors.BadRequest(f"Invalid uuid {service_id}")
        try:
            service = services.get(self.db, service_id)
        except exception.NotFound:
            raise errors.NotFound(f"Service {service_id} could not be found.") from None
        if service.binary != services.COMPUTE_BINARY:
            raise _unsupported_binary(service.binary)
        values = {}
        if body.get("status") == "enabled":
            if body.get("disabled_reason"):
                raise errors.BadRequest("Specifying 'disabled_reason' with status 'enabled' is "
                                        "invalid.")
            values.update(disabled=False, disabled_reason=None)
        elif body.get("status") == "disabled":
            values.update(disabled=True, disabled_reason=body.get("disabled_reason"))
        if "forced_down" in body:
            values["forced_down"] = to_bool(body["forced_down"])
        if not values:
            raise errors.BadRequest("No updates were requested. Fields 'status' or "
                                    "'forced_down' should be specified.")
        service = services.update_service(self.db, service.uuid, **values)
        return {"service": views.show(service, version, _up(self, service))}

    def _legacy_action(self, req: falcon.Request, action: str, version: Version) -> dict:
        can_force_down = version.at_least("2.11")
        body = self.body(req, schemas.UPDATE_V211 if can_force_down else schemas.UPDATE)
        host, binary = body["host"], body["binary"]
        reply = {"host": host, "binary": binary}
        if action == "enable":
            values = {"disabled": False, "disabled_reason": None}
            reply["status"] = "enabled"
        elif action in ("disable", "disable-log-reason"):
            reason = None
            if action == "disable-log-reason":
                if "disabled_reason" not in body:
                    raise errors.BadRequest("Missing disabled reason field")
                reason = reply["disabled_reason"] = body["disabled_reason"]
            values = {"disabled": True, "disabled_reason": reason}
            reply["status"] = "disabled"
        elif action == "force-down" and can_force_down:
            if "forced_down" not in body:
                raise errors.BadRequest("Missing forced_down field")
            values = {"forced_down": to_bool(body["forced_down"])}
            reply["forced_down"] = values["forced_down"]
        else:
            raise errors.NotFound("Unknown action")
        if binary != services.COMPUTE_BINARY:
            raise _unsupported_binary(binary)
        found = services.list_all(self.db, host=host, binary=binary)
        if not found:
            raise errors.NotFound(f"Compute host {host} with binary {binary} could not be "
                                  "found.")
        services.update_service(self.db, found[0].uuid, **values)
        return {"service": reply}
