"""GET /os-availability-zone (and /detail, admin): the zones the compute services are in."""
import falcon

from herder.api.apidoc import describe
from herder.api.handlers.base import Handler
from herder.api.views import availability_zones as views
from herder.db import services

_RULE = "os_compute_api:os-availability-zone"


class AvailabilityZones(Handler):
    @describe("List availability zones")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, f"{_RULE}:list")
        resp.media = views.summary(services.list_all(self.db))


class AvailabilityZoneDetail(Handler):
    @describe("List availability zones with their hosts and services (admin)")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, f"{_RULE}:detail")
        down_time = self.conf.service_down_time
        resp.media = views.detail(services.list_all(self.db),
                                  lambda service: services.is_up(service, down_time))
