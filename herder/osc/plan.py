"""`openstack server move plan`: herder's dry run of a migrate or a resize
(POST /herder/v1/servers/{id}/move-plans), as two tables: the candidate hosts, best first, and
the hosts rejected with the reason; `-f json` (or yaml) prints the plan as the API answers it."""
import json

import yaml
from osc_lib.command import command

from herder.move_progress import size

CANDIDATE_COLUMNS = ("Rank", "Host", "Weight", "Disk copy", "Bytes to move", "Estimated time",
                     "Estimate basis")
REJECTED_COLUMNS = ("Host", "Filter", "Reason")


class PlanMove(command.Lister):
    """Show where a migrate or resize of a server would go, and its disk copy, without moving it"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("server", metavar="<server>", help="Server to plan for (name or ID)")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--host", metavar="<host>",
                           help="Plan a migrate to this host alone (default: every host)")
        which.add_argument("--flavor", metavar="<flavor>",
                           help="Plan a resize to this flavor (name or ID) instead of a migrate")
        return parser

    def take_action(self, parsed_args):
        client = self.app.client_manager.herder
        server = client.find_server(parsed_args.server)
        if parsed_args.flavor:
            body = {"resize": {"flavorRef": client.find_flavor(parsed_args.flavor)["id"]}}
        else:
            body = {"migrate": {"host": parsed_args.host} if parsed_args.host else None}
        self.plan = client.move_plan(server["id"], body)
        return CANDIDATE_COLUMNS, [
            (c["rank"], c["host"], c["weight"], c["disk_copy"],
             "-" if c["bytes_to_move"] is None else
             f"{size(c['bytes_to_move'])} ({c['bytes_to_move']})",
             "-" if c["estimated_seconds"] is None else f"{c['estimated_seconds']:.1f} s",
             c["estimate_basis"]) for c in self.plan["candidates"]]

    def produce_output(self, parsed_args, column_names, data):
        if parsed_args.formatter in ("json", "yaml"):
            dump = json.dumps(self.plan, indent=2) if parsed_args.formatter == "json" else \
                yaml.safe_dump(self.plan, sort_keys=False)
            self.app.stdout.write(dump.rstrip("\n") + "\n")
            return 0
        plan = self.plan
        flavor = plan.get("flavor") or {}
        self.app.stdout.write(f"{plan['action']} of {plan['server_id']} from "
                              f"{plan['source_host']}, flavor {flavor.get('name')}\n"
                              "Candidates:\n")
        super().produce_output(parsed_args, column_names, data)
        self.app.stdout.write("Rejected:\n")
        return super().produce_output(parsed_args, REJECTED_COLUMNS, [
            (r["host"], r["filter"] or "-", r["reason"]) for r in plan["rejected"]])
