"""GET /servers/{id}/migrations[/{migration_id}] (2.23+): a server's in-progress moves, and
DELETE /servers/{id}/migrations/{migration_id} (2.24+): abort one.

Nova lists and aborts only live migrations here. herder lists cold migrations and resizes too,
with their disk copy progress, and aborts them (herder/operations/abort.py), because those are
the moves herder runs and operators watch.
"""
import falcon

from herder import operations, states
from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler, accepted, require_version
from herder.api.query import path_integer
from herder.api.views import migrations as views
from herder.db import migrations

_RULE = "os_compute_api:servers:migrations"


class ServerMigrations(Handler):
    @describe("List a server's moves in progress", min_version="2.23")
    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        version = self.version(req)
        require_version(version, "2.23")
        instance = self.server(req, server_id)
        self.authorize(req, f"{_RULE}:index", self.target(instance))
        found = migrations.all_in_progress(self.db, instance.uuid)
        resp.media = {"migrations": [views.server_migration(m, version, show_host=True)
                                     for m in found]}


class ServerMigration(Handler):
    @describe("Show a move in progress", min_version="2.23")
    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str,
               migration_id: str) -> None:
        version = self.version(req)
        require_version(version, "2.23")
        instance = self.server(req, server_id)
        self.authorize(req, f"{_RULE}:show", self.target(instance))
        number = path_integer(migration_id)
        migration = None if number is None else \
            migrations.of_instance_by_id(self.db, instance.uuid, number)
        if migration is None:
            raise errors.NotFound(f"In-progress migration {migration_id} is not found for "
                                  f"server {server_id}.")
        if migration.status not in states.MIGRATION_IN_PROGRESS:
            raise errors.NotFound(f"Migration {migration_id} for server {server_id} is not in "
                                  "progress.")
        resp.media = {"migration": views.server_migration(migration, version, show_host=True)}

    @describe("Abort a cold migration or resize before it reaches VERIFY_RESIZE: the move is "
              "rolled back and its migration ends `cancelled`", min_version="2.24",
              status=(202,))
    def on_delete(self, req: falcon.Request, resp: falcon.Response, server_id: str,
                  migration_id: str) -> None:
        require_version(self.version(req), "2.24")
        instance = self.server(req, server_id)
        self.authorize(req, f"{_RULE}:delete", self.target(instance))
        with errors.refusals_as_errors():
            operations.abort_move(self.api, self.context(req), instance,
                                  path_integer(migration_id))
        accepted(resp)
