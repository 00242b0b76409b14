"""`openstack server move migrate|resize|watch`: the Compute API's own migrate and resize
actions, and following a move (started by these or by anyone) to its end."""
import time

from osc_lib import exceptions

from herder.osc.plugin import MOVING
from herder.osc.progress import POLL_SECONDS, MoveSummary


def _add_server(parser):
    parser.add_argument("server", metavar="<server>", help="Server to move (name or ID)")


def _add_wait(parser):
    parser.add_argument("--wait", action="store_true",
                        help="Show the move's progress on stderr until the server is "
                             "VERIFY_RESIZE (or back at rest after a rollback, or ERROR), "
                             "then print its summary; exit non-zero unless it reached "
                             "VERIFY_RESIZE")


class _StartMove(MoveSummary):
    def start(self, parsed_args, body: dict, version: str = "2.1"):
        client = self.app.client_manager.herder
        server = client.find_server(parsed_args.server)
        newer_than = max((m["id"] for m in client.migrations(server["id"])), default=0)
        client.action(server["id"], body, version)
        if parsed_args.wait:
            return self.follow(client, server, newer_than=newer_than)
        return self.dict2columns({"server": server["name"], "server_id": server["id"],
                                  "accepted": next(iter(body))})


class MigrateServer(_StartMove):
    """Migrate a server (cold) to another host, optionally showing the move's progress"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_server(parser)
        parser.add_argument("--host", metavar="<host>",
                            help="Destination host (default: where the scheduler chooses; "
                                 "sent with compute API microversion 2.56)")
        _add_wait(parser)
        return parser

    def take_action(self, parsed_args):
        if parsed_args.host:
            return self.start(parsed_args, {"migrate": {"host": parsed_args.host}}, "2.56")
        return self.start(parsed_args, {"migrate": None})


class ResizeServer(_StartMove):
    """Resize a server to another flavor, optionally showing the move's progress"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        _add_server(parser)
        parser.add_argument("--flavor", metavar="<flavor>", required=True,
                            help="New flavor (name or ID)")
        _add_wait(parser)
        return parser

    def take_action(self, parsed_args):
        flavor = self.app.client_manager.herder.find_flavor(parsed_args.flavor)
        return self.start(parsed_args, {"resize": {"flavorRef": flavor["id"]}})


class WatchMove(MoveSummary):
    """Follow a server's move in progress: its progress on stderr, then its summary"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("server", metavar="<server>", help="Server moving (name or ID)")
        return parser

    def take_action(self, parsed_args):
        client = self.app.client_manager.herder
        server = client.find_server(parsed_args.server)
        move = moving(client, server)
        return self.follow(client, server, migration_id=move["id"])


def moving(client, server: dict, patience: float = 10) -> dict:
    """The server's move that has not reached VERIFY_RESIZE yet (waiting for its record while
    the server is RESIZE without one: the conductor makes it just after the request)."""
    deadline = time.monotonic() + patience
    while True:
        moves = client.moves_in_progress(server["id"])
        for move in moves:
            if move["status"] in MOVING:
                return move
        task = client.server(server["id"]).get("OS-EXT-STS:task_state")
        if task not in ("resize_prep", "resize_queued") or time.monotonic() > deadline:
            break
        time.sleep(POLL_SECONDS)
    if moves:
        raise exceptions.CommandError(
            f"The move of server {server['name']} is past its copy (migration "
            f"{moves[0]['status']}): too late to abort or watch; confirm or revert it "
            f"instead (openstack server migration revert {server['name']}).")
    raise exceptions.CommandError(f"Server {server['name']} has no move in progress.")
