"""The herder API's version documents: GET /herder and GET /herder/v1 (no token needed).

herder's own API sits beside the Compute API, outside its paths and microversions, for what
Nova has no call for (a dry run of a move). It is versioned on its own, by path: a change a
v1 client would notice gets a v2 beside it; fields are only ever added to v1.
"""
import falcon

from herder.api.apidoc import describe

ROOT = "/herder"
V1 = f"{ROOT}/v1"


def _v1(root: str) -> dict:
    return {"id": "v1", "status": "CURRENT", "links": [{"rel": "self", "href": f"{root}{V1}/"}]}


class HerderVersions:
    @describe("List the versions of herder's own API")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"versions": [_v1(req.context.root_url)]}


class HerderV1:
    @describe("Show version 1 of herder's own API")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"version": _v1(req.context.root_url)}
