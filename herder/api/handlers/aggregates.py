"""GET /os-aggregates: herder has no host aggregates yet, so the list is honestly empty.

Served because `openstack hypervisor show` reads it to name a host's aggregates.
"""
import falcon

from herder.api.apidoc import describe
from herder.api.handlers.base import Handler


class Aggregates(Handler):
    @describe("List host aggregates (always empty)")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "os_compute_api:os-aggregates:index")
        resp.media = {"aggregates": []}
