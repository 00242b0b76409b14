"""`openstack server move abort`: finds the server's move in progress and aborts it (compute
API 2.24, DELETE /servers/{id}/migrations/{migration_id}), optionally waiting for the rollback."""
from osc_lib import exceptions

from herder.osc.moves import moving
from herder.osc.plugin import ApiError
from herder.osc.progress import MoveSummary


class AbortMove(MoveSummary):
    """Abort a server's cold migration or resize before it reaches VERIFY_RESIZE"""

    expected = ("cancelled",)

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("server", metavar="<server>", help="Server moving (name or ID)")
        parser.add_argument("--wait", action="store_true",
                            help="Wait until the move is rolled back and the server at rest "
                                 "again, then print the summary with the migration's final "
                                 "status (cancelled)")
        return parser

    def take_action(self, parsed_args):
        client = self.app.client_manager.herder
        server = client.find_server(parsed_args.server)
        move = moving(client, server)
        try:
            client.abort(server["id"], move["id"])
        except ApiError as e:
            if e.status == 400:
                raise exceptions.CommandError(
                    f"Too late to abort the move of server {server['name']}: it has reached "
                    f"VERIFY_RESIZE; revert it instead (openstack server migration revert "
                    f"{server['name']}). ({e})") from e
            if e.status == 409:
                raise exceptions.CommandError(
                    f"The move of server {server['name']} is being aborted already. ({e})") from e
            raise
        if parsed_args.wait:
            return self.follow(client, server, migration_id=move["id"])
        return self.dict2columns({"server": server["name"], "server_id": server["id"],
                                  "migration_id": move["id"], "abort": "requested"})
