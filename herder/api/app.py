"""The Compute API WSGI application: middleware, error rendering and routes."""
import functools
import logging

import falcon
import sqlalchemy.exc

from herder.api import errors, keystone, openapi
from herder.api.handlers import aggregates, flavors, images, server_actions, servers, versions
from herder.api.handlers import (hypervisors, instance_actions, migrations, server_migrations,
                                 services)
from herder.api.handlers import availability_zones, flavor_access, limits, quota_sets
from herder.api.handlers import identity, image_upload, server_groups
from herder.api.handlers import confirm_policies, herder_api, host_drains, move_plans
from herder import dashboard
from herder.dashboard import handlers as dashboard_handlers
from herder.dashboard import session as dashboard_session
from herder.api.apidoc import describe
from herder.api.handlers.base import ApiServices
from herder.api.middleware import (PolicyRulesMiddleware, ReadTransactionMiddleware,
                                   RequestContextMiddleware)
from herder.log_budget import WarningBudget
from herder.db.session import lost_the_database

LOG = logging.getLogger(__name__)
_DATABASE_WARNINGS = WarningBudget(LOG)   # an outage fails every request: a line each is a flood


def _routes(api: ApiServices) -> list[tuple[str, object]]:
    """(URI template, resource) pairs."""
    return [
        ("/", versions.Versions()),
        ("/v2.1", versions.VersionV21()),
        ("/v2.1/servers", servers.ServerCollection(api)),
        ("/v2.1/servers/detail", servers.ServerDetail(api)),
        ("/v2.1/servers/{server_id}", servers.ServerItem(api)),
        ("/v2.1/servers/{server_id}/action", server_actions.ServerAction(api)),
        ("/v2.1/servers/{server_id}/os-instance-actions", instance_actions.InstanceActions(api)),
        ("/v2.1/servers/{server_id}/os-instance-actions/{request_id}",
         instance_actions.InstanceAction(api)),
        ("/v2.1/servers/{server_id}/migrations", server_migrations.ServerMigrations(api)),
        ("/v2.1/servers/{server_id}/migrations/{migration_id}",
         server_migrations.ServerMigration(api)),
        ("/v2.1/os-migrations", migrations.Migrations(api)),
        ("/v2.1/os-services", services.ServiceCollection(api)),
        ("/v2.1/os-services/{service_id}", services.ServiceItem(api)),
        ("/v2.1/os-server-groups", server_groups.ServerGroupCollection(api)),
        ("/v2.1/os-server-groups/{group_id}", server_groups.ServerGroupItem(api)),
        ("/v2.1/os-aggregates", aggregates.Aggregates(api)),
        ("/v2.1/os-quota-sets/{project_id}", quota_sets.QuotaSet(api)),
        ("/v2.1/os-quota-sets/{project_id}/detail", quota_sets.QuotaSetDetail(api)),
        ("/v2.1/os-quota-sets/{project_id}/defaults", quota_sets.QuotaSetDefaults(api)),
        ("/v2.1/limits", limits.Limits(api)),
        ("/v2.1/os-availability-zone", availability_zones.AvailabilityZones(api)),
        ("/v2.1/os-availability-zone/detail", availability_zones.AvailabilityZoneDetail(api)),
        ("/v2.1/os-hypervisors", hypervisors.HypervisorCollection(api)),
        ("/v2.1/os-hypervisors/detail", hypervisors.HypervisorDetail(api)),
        ("/v2.1/os-hypervisors/statistics", hypervisors.HypervisorStatistics(api)),
        ("/v2.1/os-hypervisors/{hypervisor_id}", hypervisors.HypervisorItem(api)),
        ("/v2.1/os-hypervisors/{hypervisor_id}/uptime", hypervisors.HypervisorUptime(api)),
        ("/v2.1/os-hypervisors/{hypervisor_id}/search", hypervisors.HypervisorSearch(api)),
        ("/v2.1/os-hypervisors/{hypervisor_id}/servers", hypervisors.HypervisorServers(api)),
        ("/v2.1/flavors", flavors.FlavorCollection(api)),
        ("/v2.1/flavors/detail", flavors.FlavorDetail(api)),
        ("/v2.1/flavors/{flavor_id}", flavors.FlavorItem(api)),
        ("/v2.1/flavors/{flavor_id}/os-extra_specs", flavors.FlavorExtraSpecs(api)),
        ("/v2.1/flavors/{flavor_id}/os-flavor-access", flavor_access.FlavorAccess(api)),
        ("/v2.1/flavors/{flavor_id}/action", flavor_access.FlavorAction(api)),
        ("/v2.1/images", images.ComputeImages(api, detail=False)),
        ("/v2.1/images/detail", images.ComputeImages(api, detail=True)),
        ("/v2.1/images/{image_id}", images.ComputeImage(api)),
        ("/image", images.ImageVersions()),
        ("/image/v2/images", images.ImageV2Collection(api)),
        ("/image/v2/images/{image_id}", images.ImageV2Item(api)),
        ("/image/v2/images/{image_id}/file", image_upload.ImageFile(api)),
        ("/image/v2/schemas/image", images.ImageSchema(collection=False)),
        ("/image/v2/schemas/images", images.ImageSchema(collection=True)),
        ("/v2/images", images.ImageV2Collection(api)),
        ("/v2/images/{image_id}", images.ImageV2Item(api)),
        ("/v2/images/{image_id}/file", image_upload.ImageFile(api)),
        ("/v2/schemas/image", images.ImageSchema(collection=False)),
        ("/v2/schemas/images", images.ImageSchema(collection=True)),
        ("/identity", versions.IdentityVersion()),
        ("/identity/v3", versions.IdentityVersion()),
        ("/identity/v3/projects/{project_id}", identity.IdentityProject(api)),
        ("/openapi.json", OpenApiDocument()),
        # herder's own API, beside the Compute API (docs/herder-api.md)
        (herder_api.ROOT, herder_api.HerderVersions()),
        (herder_api.V1, herder_api.HerderV1()),
        (f"{herder_api.V1}/servers/{{server_id}}/move-plans", move_plans.MovePlans(api)),
        (confirm_policies.ROUTE, confirm_policies.ConfirmPolicy(api)),
        (host_drains.ROUTE, host_drains.HostDrains(api)),
        (f"{host_drains.ROUTE}/{{drain_id}}", host_drains.HostDrainItem(api)),
        (f"{host_drains.ROUTE}/{{drain_id}}/action", host_drains.HostDrainAction(api)),
        (f"{host_drains.ROUTE}/{{drain_id}}/restore", host_drains.HostDrainRestore(api)),
    ]


class OpenApiDocument:
    """GET /openapi.json: the OpenAPI document of these routes (no token needed)."""

    @describe("The OpenAPI document of this API")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "application/json"
        resp.text = openapi_text()


@functools.cache
def openapi_text() -> str:
    """The OpenAPI document, as `herder openapi` prints it. The routes' handlers are only
    inspected, never called, so they get no services."""
    return openapi.render(openapi.document(_routes(ApiServices(None, None, None, None))))


def make_app(api: ApiServices, public_url: str | None = None) -> keystone.WsgiApp:
    """The Compute API; in keystone mode behind keystonemiddleware's auth_token."""
    use_keystone = api.conf is not None and api.conf.api.auth_strategy == "keystone"
    app = falcon.App(middleware=[
        PolicyRulesMiddleware(api.enforcer),
        RequestContextMiddleware(api.conf, public_url, use_keystone, api.db),
        ReadTransactionMiddleware(api.db)])
    app.req_options.strip_url_path_trailing_slash = True
    app.resp_options.default_media_type = "application/json"
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(sqlalchemy.exc.DBAPIError, _database_error)
    app.add_error_handler(sqlalchemy.exc.TimeoutError, _database_unavailable)
    app.add_error_handler(falcon.HTTPError, _falcon_error)
    app.add_error_handler(errors.ApiError, _api_error)
    dashboard_handlers.add_error_handlers(app)
    for template, resource in _routes(api):
        app.add_route(template, resource)
    # the dashboard's pages are no part of the API (nor of its OpenAPI document)
    for template, resource in dashboard_handlers.routes(api):
        app.add_route(template, resource)
    protected = keystone.protect(app, api.conf) if use_keystone else app
    # outermost, so that keystonemiddleware too sees the dashboard's cookie as the token
    return dashboard_session.token_from_cookie(protected)


def _api_error(req, resp, error: errors.ApiError, params) -> None:
    if dashboard.is_dashboard_path(req.path):
        dashboard_handlers.api_error(req, resp, error)
    else:
        errors.render(resp, error.code, error.message)


def _falcon_error(req, resp, error: falcon.HTTPError, params) -> None:
    code = int(error.status_code)
    message = error.description or error.title or "Error"
    if code == 404:
        message = "The resource could not be found."
    elif code == 405:
        message = "The method specified is not allowed for this resource."
    errors.render(resp, code, message)


def _database_error(req, resp, error: sqlalchemy.exc.DBAPIError, params) -> None:
    if lost_the_database(error):
        _database_unavailable(req, resp, error, params)
    else:
        _unexpected(req, resp, error, params)


def _database_unavailable(req, resp, error: Exception, params) -> None:
    """503, as Nova answers when its database is away; the request changed nothing (its
    transaction did not commit) and can be sent again."""
    _DATABASE_WARNINGS.warn("the database is unavailable serving %s %s: %s", req.method,
                            req.path, str(error).splitlines()[0])
    errors.render(resp, 503, "The database is unavailable; try again later.")


def _unexpected(req, resp, error: Exception, params) -> None:
    LOG.exception("unexpected error serving %s %s", req.method, req.path)
    errors.render(resp, 500, "Unexpected API Error. Please report it to the cloud operator "
                  f"with request id {req.context.get('request_id')}.")
