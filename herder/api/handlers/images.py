"""Images from the local store: the Compute API proxy (/v2.1/images) and a read-only Image API
v2 surface (/image/v2/images, also /v2/images) so that clients resolve images by name."""
import falcon

from herder import exception
from herder.api import faults
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler
from herder.api.views import images as views
from herder.db import images


class _ImageLookup(Handler):
    def _get(self, image_id: str):
        try:
            return images.get(self.db, image_id)
        except exception.ImageNotFound as error:
            raise faults.NotFound(str(error)) from None


class ComputeImages(_ImageLookup):
    def __init__(self, api, detail: bool):
        super().__init__(api)
        self.detail = detail

    @describe("List images (Compute API proxy)", query=("name",))
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        found = images.list_all(self.db, req.get_param("name"))
        resp.media = {"images": [views.compute_image(i, self.base_url(req), self.detail)
                                 for i in found]}


class ComputeImage(_ImageLookup):
    @describe("Show an image (Compute API proxy)")
    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        resp.media = {"image": views.compute_image(self._get(image_id), self.base_url(req))}


class ImageV2Collection(_ImageLookup):
    @describe("List images (Image API v2)", query=("name", "marker"))
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        found = images.list_all(self.db, req.get_param("name"))
        marker = req.get_param("marker")
        if marker:
            ids = [i.id for i in found]
            found = found[ids.index(marker) + 1:] if marker in ids else []
        resp.media = {"images": [views.image_v2(i, req.context.root_url) for i in found],
                      "first": "/v2/images", "schema": "/v2/schemas/images"}


class ImageV2Item(_ImageLookup):
    @describe("Show an image (Image API v2)")
    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        resp.media = views.image_v2(self._get(image_id), req.context.root_url)


class ImageVersions:
    """The Image API's version document, for clients that discover it before use."""

    @describe("List the Image API versions")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        root = req.context.root_url
        resp.media = {"versions": [{"id": "v2.16", "status": "CURRENT",
                                    "links": [{"rel": "self", "href": f"{root}/image/v2/"}]}]}

