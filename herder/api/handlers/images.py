"""Images: the Compute API's proxy (/v2.1/images, read-only, as Nova's) and the Image API v2 as
glance serves it (/image/v2/images, also /v2/images): create, list, show, delete, and the
image's data (image_upload.py). glance's rules: an image is created `queued` in the caller's
project, `shared` unless it says otherwise; only an administrator makes it public; a member
sees public images and their own project's."""
import csv
import re
import uuid
from urllib.parse import urlencode

import falcon
import jsonschema

from herder import exception, image_store
from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler
from herder.api.handlers.image_api import ImageHandler, glance_errors, image_root
from herder.api.schemas import images as schemas
from herder.api.views import images as views
from herder.db import images
from herder.db.models import Image

DEFAULT_LIMIT = 25   # glance's limit_param_default
_INTEGER = re.compile(r"-?[0-9]{1,18}")
# the list filters: exact matches, or glance's `in:` operator (the comparison operators of
# size and dates are not served)
FILTERS = ("name", "status", "owner", "disk_format", "container_format", "id")


def filter_values(raw: str) -> list[str]:
    """The values a list filter matches: one, or with glance's `in:` operator any of a
    comma-separated list, where a value holding a comma is given in double quotes
    (`name=in:"a,b",c`). The openstack CLI's `server list` looks its servers' images up so."""
    if raw.startswith("in:"):
        return next(csv.reader([raw[len("in:"):]]))
    return [raw]


def _caller_project(handler: Handler, req: falcon.Request) -> str | None:
    """The project whose images the caller sees: None for an administrator (all)."""
    context = handler.context(req)
    return None if context.is_admin else context.project_id


class ComputeImages(Handler):
    def __init__(self, api, detail: bool):
        super().__init__(api)
        self.detail = detail

    @describe("List images (Compute API proxy)", query=("name",))
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        name = req.get_param("name")
        found = images.list_visible(self.db, _caller_project(self, req), None,
                                    {"name": [name]} if name is not None else {})
        resp.media = {"images": [views.compute_image(i, self.base_url(req), self.detail)
                                 for i in found]}


class ComputeImage(Handler):
    @describe("Show an image (Compute API proxy)")
    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        try:
            image = images.get_visible(self.db, image_id, _caller_project(self, req))
        except exception.ImageNotFound as error:
            raise errors.NotFound(str(error)) from None
        resp.media = {"image": views.compute_image(image, self.base_url(req))}


class ImageV2Collection(ImageHandler):
    @describe("List images (Image API v2)",
              query=("limit", "marker", "visibility", "sort_dir", *FILTERS))
    @glance_errors
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        visibility = req.get_param("visibility")
        if visibility is not None and visibility not in (*schemas.VISIBILITIES, "all"):
            raise errors.BadRequest(f"Invalid visibility value: {visibility}")
        sort_dir = req.get_param("sort_dir", default="desc")
        if sort_dir not in ("asc", "desc"):
            raise errors.BadRequest(f"Invalid sort direction: {sort_dir}")
        filters = {k: filter_values(v) for k in FILTERS if (v := req.get_param(k)) is not None}
        found = images.list_visible(self.db, _caller_project(self, req), visibility, filters,
                                    newest_first=sort_dir == "desc")
        limit = self._limit(req)
        marker = req.get_param("marker")
        if marker is not None:
            ids = [i.id for i in found]
            if marker not in ids:
                raise errors.BadRequest(f"Invalid marker. Image {marker} could not be found.")
            found = found[ids.index(marker) + 1:]
        page = found[:limit]
        body = {"images": [views.image_v2(i) for i in page],
                "first": "/v2/images", "schema": "/v2/schemas/images"}
        if page and len(page) == limit and len(found) > limit:
            params = {k: v for k, v in req.params.items() if k != "marker"}
            body["next"] = "/v2/images?" + urlencode({**params, "marker": page[-1].id},
                                                     doseq=True)
        resp.media = body

    def _limit(self, req: falcon.Request) -> int:
        raw = req.get_param("limit")
        if raw is None:
            return DEFAULT_LIMIT
        if not _INTEGER.fullmatch(raw):
            raise errors.BadRequest("limit param must be an integer")
        if int(raw) < 0:
            raise errors.BadRequest("limit param must be positive")
        return min(int(raw), self.conf.api.max_limit)

    @describe("Create an image (Image API v2): queued, until its data is uploaded",
              status=201, body=schemas.CREATE)
    @glance_errors
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        context = self.context(req)
        body = self._create_body(req)
        extras = {k: v for k, v in body.items() if k not in schemas.PROPERTIES}
        if len(extras) > schemas.MAX_PROPERTIES:
            raise errors.ApiError(413, "The limit has been exceeded on the number of allowed "
                                       f"image properties. Attempted: {len(extras)}, Maximum: "
                                       f"{schemas.MAX_PROPERTIES}")
        owner = body.get("owner") or context.project_id
        if owner != context.project_id and not context.is_admin:
            raise errors.Forbidden(f"You are not permitted to create images owned by "
                                   f"'{owner}'.")
        self.authorize_image(req, "image:add_image", owner)
        visibility = body.get("visibility", "shared")
        if visibility == "public":
            self.authorize_image(req, "image:publicize_image", owner)
        image = Image(
            id=body.get("id") or str(uuid.uuid4()), name=body.get("name"), status="queued",
            disk_format=body.get("disk_format"), container_format=body.get("container_format"),
            size=None, virtual_size=None, min_disk=body.get("min_disk", 0),
            min_ram=body.get("min_ram", 0), visibility=visibility,
            protected=body.get("protected", False), owner=owner, checksum=None,
            os_hash_algo=None, os_hash_value=None, file_path=None, properties=extras,
            tags=list(dict.fromkeys(body.get("tags") or [])))
        try:
            images.create(self.db, image)
        except images.ImageExists as error:
            raise errors.Conflict(str(error)) from None
        resp.status = 201
        resp.location = f"{image_root(req)}/v2/images/{image.id}"
        resp.media = views.image_v2(image)

    def _create_body(self, req: falcon.Request) -> dict:
        """The body as glance checks it: read-only and reserved attributes are 403, anything
        the schema refuses 400 with glance's wording."""
        try:
            body = self.body(req)
        except errors.ApiError as error:   # not JSON, or text a database cannot store
            raise errors.BadRequest("Malformed JSON in request body."
                                    if error.message == "Malformed request body"
                                    else error.message) from None
        if body is None:
            raise errors.BadRequest("Body expected in request.")
        if isinstance(body, dict):
            for key in body:
                if key in schemas.READ_ONLY:
                    raise errors.Forbidden(f"Attribute '{key}' is read-only.")
                if key in schemas.RESERVED or key.startswith(schemas.RESERVED_PREFIX):
                    raise errors.Forbidden(f"Attribute '{key}' is reserved.")
                if len(key) > 255:
                    raise errors.BadRequest("Provided object does not match schema 'image': "
                                            "property names are at most 255 characters")
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft4Validator(schemas.CREATE).iter_errors(body))
        if error is not None:
            raise errors.BadRequest(f"Provided object does not match schema 'image': "
                                    f"{error.message}")
        return body


class ImageV2Item(ImageHandler):
    @describe("Show an image (Image API v2)")
    @glance_errors
    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        resp.media = views.image_v2(self.visible_image(req, image_id))

    @describe("Delete an image and its data (Image API v2)", status=204)
    @glance_errors
    def on_delete(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        image = self.visible_image(req, image_id)
        self.authorize_image(req, "image:delete_image", image.owner)
        if image.protected:
            raise errors.Forbidden(f"Image {image_id} is protected and cannot be deleted.")
        # servers booted from it keep their disks: glance lets such an image go, too
        images.remove(self.db, image_id)
        image_store.remove_image(self.conf, image_id)
        resp.status = 204


class ImageSchema:
    """GET /v2/schemas/image(s): the documents clients that read glance's schema expect."""

    def __init__(self, collection: bool):
        self.collection = collection

    @describe("The Image API's image (or images) schema")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = schemas.images_schema_document() if self.collection else \
            schemas.image_schema_document()


class ImageVersions:
    """The Image API's version document, for clients that discover it before use."""

    @describe("List the Image API versions")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        root = req.context.root_url
        resp.media = {"versions": [{"id": "v2.16", "status": "CURRENT",
                                    "links": [{"rel": "self", "href": f"{root}/image/v2/"}]}]}
