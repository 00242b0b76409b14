"""Version documents: GET / and GET /v2.1, and the identity v3 document (no token needed)."""
import falcon

from herder.api import microversion
from herder.api.apidoc import describe

UPDATED = "2013-07-23T11:33:21Z"
MEDIA_TYPES = [{"base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1"}]


def _v21(root: str) -> dict:
    return {"id": "v2.1", "status": "CURRENT", "version": microversion.max_version(),
            "min_version": microversion.min_version(), "updated": UPDATED,
            "links": [{"rel": "self", "href": f"{root}/v2.1/"}]}


def _v20(root: str) -> dict:
    return {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "",
            "updated": "2011-01-21T11:33:21Z", "links": [{"rel": "self", "href": f"{root}/v2/"}]}


class Versions:
    @describe("List the API versions")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        root = req.context.root_url
        resp.media = {"versions": [_v20(root), _v21(root)]}


class VersionV21:
    @describe("Show API version 2.1 and its microversion range")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        root = req.context.root_url
        doc = _v21(root)
        doc["links"] = [{"rel": "self", "href": f"{root}/v2.1/"},
                        {"rel": "describedby", "type": "text/html",
                         "href": "http://docs.openstack.org/"}]
        doc["media-types"] = MEDIA_TYPES
        resp.media = {"version": doc}


class IdentityVersion:
    """A v3 identity version document: keystoneauth asks for one even with a fixed token."""

    @describe("Show the identity v3 version document")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        root = req.context.root_url
        resp.media = {"version": {
            "id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{root}/identity/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v3+json"}]}}
