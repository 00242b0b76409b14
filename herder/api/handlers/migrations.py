"""GET /os-migrations: every move, filtered and (from 2.59) paged newest first."""
import falcon

from herder import exception
from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler
from herder.api.microversion import MAX_VERSION, Version
from herder.api.query import Query, loose_bool
from herder.api.views import migrations as views
from herder.api.views.paging import next_links
from herder.db import migrations
from herder.db.migrations import MigrationFilter

_RULE = "os_compute_api:os-migrations:index"
_FILTERS = ("hidden", "host", "instance_uuid", "source_compute", "status", "migration_type")


def _accepted(version: Version) -> list[str]:
    """The parameters a microversion knows; before 2.59 others are ignored, from 2.59 refused."""
    names = list(_FILTERS)
    if version.at_least("2.59"):
        names += ["limit", "marker", "changes-since"]
    if version.at_least("2.66"):
        names.append("changes-before")
    if version.at_least("2.80"):
        names += ["user_id", "project_id"]
    return names


class Migrations(Handler):
    @describe("List migrations", query=_accepted(Version(*MAX_VERSION)))
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, _RULE)
        version = self.version(req)
        paged = version.at_least("2.59")
        query = Query(req, _accepted(version), strict=paged)
        project_id = query.string("project_id", single=True)
        # listing anything but one's own project is a wider right than listing
        if not project_id or project_id != self.context(req).project_id:
            self.authorize(req, f"{_RULE}:all_projects")
        show_host = self.allowed(req, f"{_RULE}:host")
        since, before = query.changes_window(version.at_least("2.66"))
        limit = query.limit(self.conf.api.max_limit) if paged else None
        marker = query.string("marker", single=True)
        filters = MigrationFilter(
            host=query.string("host"), source_compute=query.string("source_compute"),
            status=query.string("status"), migration_type=query.string("migration_type"),
            instance_uuid=query.string("instance_uuid"),
            hidden=loose_bool(query.string("hidden")) if "hidden" in query else None,
            user_id=query.string("user_id", single=True), project_id=project_id,
            changes_since=since, changes_before=before)
        try:
            found = migrations.list_filtered(self.db, filters, newest_first=paged,
                                             limit=limit, marker=marker)
        except exception.MarkerNotFound as error:
            raise errors.BadRequest(str(error)) from None
        base = self.base_url(req)
        body = [views.os_migration(m, base, version, show_host) for m in found]
        resp.media = {"migrations": body}
        if paged:
            links = next_links(base, "os-migrations", query, body, limit, id_key="uuid")
            if links:
                resp.media["migrations_links"] = links
