"""/flavors: list, detail, show, create, delete, and os-extra_specs.

Microversions: 2.55 adds `description`, 2.86 validates extra specs as they are set
(herder.api.extra_specs; herder's own `herder:` keys at every microversion), 2.102 drops
`rxtx_factor` from create.
"""
import uuid

import falcon

from herder import exception
from herder.api import errors
from herder.api import extra_specs
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler
from herder.api.query import Query
from herder.api.schemas import flavors as schemas
from herder.api.views import flavors as views
from herder.db import flavors

# the strings Nova takes for a boolean (oslo's strict bool_from_string); tempest sends each
_IS_PUBLIC = {**dict.fromkeys(("1", "t", "true", "on", "y", "yes"), True),
              **dict.fromkeys(("0", "f", "false", "off", "n", "no"), False)}
_LIST_PARAMS = ("is_public", "minRam", "minDisk", "marker", "limit")


class FlavorCollection(Handler):
    detail = False

    @describe("List flavors (/detail: with all their fields)", query=_LIST_PARAMS)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        context, version, base = self.context(req), self.version(req), self.base_url(req)
        query = Query(req, _LIST_PARAMS, strict=False)
        is_public = self._is_public(query.string("is_public"), context.is_admin)
        min_ram, min_disk = query.non_negative_integer("minRam"), \
            query.non_negative_integer("minDisk")
        if max(min_ram or 0, min_disk or 0) > schemas.MAX_INT:
            found = []  # more than any flavor holds, and than the database compares with
        else:
            found = flavors.list_all(self.db, None if context.is_admin else context.project_id,
                                     is_public, min_ram, min_disk)
        marker = query.string("marker")
        if marker:
            ids = [f.flavorid for f in found]
            if marker not in ids:
                raise errors.BadRequest(f"marker [{marker}] not found")
            found = found[ids.index(marker) + 1:]
        found = found[:query.limit(self.conf.api.max_limit)]
        if self.detail:
            body = [views.show(f, base, version, True) for f in found]
        else:
            body = [views.summary(f, base, version) for f in found]
        resp.media = {"flavors": body}

    @staticmethod
    def _is_public(raw: str | None, is_admin: bool) -> bool | None:
        """Admins may ask for all (None) or only private flavors; others see what they may use."""
        if not is_admin or raw is None:
            return True
        if raw.lower() == "none":
            return None
        if raw.lower() not in _IS_PUBLIC:
            raise errors.BadRequest(f"Invalid is_public filter [{raw}]")
        return _IS_PUBLIC[raw.lower()]

    @describe("Create a flavor (admin)", body=schemas.CREATE)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "os_compute_api:os-flavor-manage:create")
        version = self.version(req)
        body = self.body(req, schemas.CREATE)["flavor"]
        for name, known in (("description", version.at_least("2.55")),
                            ("rxtx_factor", not version.at_least("2.102"))):
            if name in body and not known:
                raise errors.BadRequest("Invalid input for field/attribute flavor. Additional "
                                        f"properties are not allowed ('{name}' was unexpected)")
        is_public = body.get("os-flavor-access:is_public", True)
        if isinstance(is_public, str):
            if is_public.lower() not in _IS_PUBLIC:
                raise errors.BadRequest(f"Invalid is_public value {is_public}")
            is_public = _IS_PUBLIC[is_public.lower()]
        try:
            flavor = flavors.create(
                self.db, flavorid=str(body.get("id") or uuid.uuid4()), name=body["name"],
                vcpus=_whole(body, "vcpus", 1), memory_mb=_whole(body, "ram", 1),
                root_gb=_whole(body, "disk", 0),
                ephemeral_gb=_whole(body, "OS-FLV-EXT-DATA:ephemeral", 0),
                swap=_whole(body, "swap", 0), rxtx_factor=_rxtx_factor(body),
                is_public=is_public, disabled=False, description=body.get("description"),
                extra_specs={})
        except exception.Conflict as error:
            raise errors.Conflict(str(error)) from None
        resp.media = {"flavor": views.show(flavor, self.base_url(req), version, True)}


class FlavorDetail(FlavorCollection):
    detail = True
    on_post = None  # flavors are created on /flavors only


class FlavorItem(Handler):
    @describe("Show a flavor")
    def on_get(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        context = self.context(req)
        try:
            flavor = flavors.get(self.db, flavor_id,
                                 None if context.is_admin else context.project_id)
        except exception.FlavorNotFound as error:
            raise errors.NotFound(str(error)) from None
        resp.media = {"flavor": views.show(flavor, self.base_url(req), self.version(req), True)}

    @describe("Delete a flavor (admin)", status=202, returns_body=False)
    def on_delete(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        self.authorize(req, "os_compute_api:os-flavor-manage:delete")
        try:
            flavors.delete(self.db, flavor_id)
        except exception.FlavorNotFound as error:
            raise errors.NotFound(str(error)) from None
        resp.status = 202
        resp.text = ""


class FlavorExtraSpecs(Handler):
    @describe("List a flavor's extra specs")
    def on_get(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        self.authorize(req, "os_compute_api:os-flavor-extra-specs:index")
        resp.media = {"extra_specs": dict(self._flavor(req, flavor_id).extra_specs or {})}

    @describe("Set extra specs of a flavor (admin)", body=schemas.EXTRA_SPECS)
    def on_post(self, req: falcon.Request, resp: falcon.Response, flavor_id: str) -> None:
        self.authorize(req, "os_compute_api:os-flavor-extra-specs:create")
        specs = self.body(req, schemas.EXTRA_SPECS)["extra_specs"]
        self._flavor(req, flavor_id)
        validating = self.version(req).at_least("2.86")
        try:
            for key, value in specs.items():
                if validating or extra_specs.checked_at_every_microversion(key):
                    extra_specs.validate(key, value)
        except extra_specs.InvalidExtraSpec as error:
            raise errors.BadRequest(str(error)) from None
        stored = flavors.set_extra_specs(self.db, flavor_id,
                                         {k: str(v) for k, v in specs.items()})
        resp.media = {"extra_specs": {k: stored[k] for k in specs}}

    def _flavor(self, req, flavor_id: str):
        context = self.context(req)
        try:
            return flavors.get(self.db, flavor_id,
                               None if context.is_admin else context.project_id)
        except exception.FlavorNotFound as error:
            raise errors.NotFound(str(error)) from None


def _whole(body: dict, name: str, minimum: int) -> int:
    """A whole-number field (an integer, or a string of digits, "" for swap) in Nova's range:
    the schema bounds integers but not strings of digits."""
    raw = body.get(name) or 0
    if isinstance(raw, str):
        raw = raw.lstrip("0") or "0"
        if len(raw) > len(str(schemas.MAX_INT)):  # out of range (and int() stops at 4300)
            raw = str(schemas.MAX_INT + 1)
    value = int(raw)
    if not minimum <= value <= schemas.MAX_INT:
        raise errors.BadRequest(f"Invalid input received: {name} must be >= {minimum} and "
                                f"<= {schemas.MAX_INT}.")
    return value


def _rxtx_factor(body: dict) -> float:
    value = float(body.get("rxtx_factor", 1.0))  # the schema allows digits[.digits] only
    if not 0 < value <= schemas.MAX_FLOAT:
        raise errors.BadRequest("Invalid input received: rxtx_factor must be > 0 and <= "
                                f"{schemas.MAX_FLOAT}.")
    return value
