"""/flavors: list, detail, show, create, delete, and os-extra_specs."""
import uuid

import falcon

from herder import exception
from herder.api import faults
from herder.api.handlers.base import Handler
from herder.api.schemas import flavors as schemas
from herder.api.views import flavors as views
from herder.db import flavors

_IS_PUBLIC = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class FlavorCollection(Handler):
    detail = False

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        context, version, base = self.context(req), self.version(req), self.base_url(req)
        is_public = self._is_public(req, context.is_admin)
        found = flavors.list_all(self.db, None if context.is_admin else context.project_id,
                                 is_public, _int_or_400(req, "minRam"),
                                 _int_or_400(req, "minDisk"))
        marker = req.get_param("marker")
        if marker:
            ids = [f.flavorid for f in found]
            if marker not in ids:
                raise faults.BadRequest(f"marker [{marker}] not found")
            found = found[ids.index(marker) + 1:]
        limit = _int_or_400(req, "limit")
        if limit is not None:
            found = found[:min(limit, self.conf.api.max_limit)]
        if self.detail:
            body = [views.show(f, base, version, True) for f in found]
        else:
            body = [views.summary(f, base, version) for f in found]
        resp.media = {"flavors": body}

    @staticmethod
    def _is_public(req: falcon.Request, is_admin: bool) -> bool | None:
        """Admins may ask for all (None) or only private flavors; others see what they may use."""
        raw = req.get_param("is_public")
        if not is_admin or raw is None:
            return True
        if raw.lower() == "none":
            return None
        if raw.lower() not in _IS_PUBLIC:
            raise faults.BadRequest(f"Invalid is_public filter [{raw}]")
        return _IS_PUBLIC[raw.lower()]

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "os_compute_api:os-flavor-manage:create")
        version = self.version(req)
        body = self.body(req, schemas.CREATE)["flavor"]
        if "description" in body and not version.at_least("2.55"):
            raise faults.BadRequest("Invalid input for field/attribute flavor. Additional "
                                    "properties are not allowed ('description' was unexpected)")
        is_public = body.get("os-flavor-access:is_public", True)
        if isinstance(is_public, str):
            if is_public.lower() not in _IS_PUBLIC:
                raise faults.BadRequest(f"Invalid is_public value {is_public}")
            is_public = _IS_PUBLIC[is_public.lower()]
        try:
            flavor = flavors.create(
                self.db, flavorid=str(body.get("id") or uuid.uuid4()), name=body["name"],
                vcpus=int(body["vcpus"]), memory_mb=int(body["ram"]), root_gb=int(body["disk"]),
                ephemeral_gb=int(body.get("OS-FLV-EXT-DATA:ephemeral", 0)),
                swap=int(body.get("swap") or 0), rxtx_factor=float(body.get("rxtx_factor", 1.0)),
                is_public=is_public, disabled=False, description=body.get("description"),
                extra_specs={})
        except exception.Conflict as error:
            raise faults.Conflict(str(error)) from None
        resp.media = {"flavor": views.show(flavor, self.base_url(req), version, True)}


class FlavorDetail(FlavorCollection):
    detail = True


class FlavorItem(Handler):
    def on_get(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        context = self.context(req)
        try:
            flavor = flavors.get(self.db, flavor_id,
                                 None if context.is_admin else context.project_id)
        except exception.FlavorNotFound as error:
            raise faults.NotFound(str(error)) from None
        resp.media = {"flavor": views.show(flavor, self.base_url(req), self.version(req), True)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        self.authorize(req, "os_compute_api:os-flavor-manage:delete")
        try:
            flavors.delete(self.db, flavor_id)
        except exception.FlavorNotFound as error:
            raise faults.NotFound(str(error)) from None
        resp.status = 202
        resp.text = ""


class FlavorExtraSpecs(Handler):
    def on_get(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        self.authorize(req, "os_compute_api:os-flavor-extra-specs:index")
        resp.media = {"extra_specs": dict(self._flavor(req, flavor_id).extra_specs or {})}

    def on_post(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        self.authorize(req, "os_compute_api:os-flavor-extra-specs:create")
        specs = self.body(req, schemas.EXTRA_SPECS)["extra_specs"]
        self._flavor(req, flavor_id)
        stored = flavors.set_extra_specs(self.db, flavor_id,
                                         {k: str(v) for k, v in specs.items()})
        resp.media = {"extra_specs": {k: stored[k] for k in specs}}

    def _flavor(self, req, flavor_id: str):
        context = self.context(req)
        try:
            return flavors.get(self.db, flavor_id,
                               None if context.is_admin else context.project_id)
        except exception.FlavorNotFound as error:
            raise faults.NotFound(str(error)) from None


def _int_or_400(req: falcon.Request, name: str) -> int | None:
    raw = req.get_param(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise faults.BadRequest(f"Invalid input for query parameters {name}. Value: {raw}. "
                                f"'{raw}' is not an integer") from None
