"""`openstack host drain start|list|show|pause|resume|cancel|restore`: herder's host drain and
restore jobs (/herder/v1/host-drains, docs/herder-api.md).

A command about one job prints its servers as a table, under a line saying what the job is
and where it stands; `-f json` (or yaml) prints the job as the API answers it, servers
included. With `--wait` a command follows the job to its end, with a progress line on stderr
(servers done, moving, waiting, failed), prints the final table, and exits non-zero if a
server failed.
"""
import json
import time

import yaml
from osc_lib import exceptions
from osc_lib.command import command

from herder.osc.progress import POLL_SECONDS, ProgressLine

SERVER_COLUMNS = ("Server", "State", "Source", "Destination", "Reason")
LIST_COLUMNS = ("ID", "Kind", "Host", "Status", "Servers", "Moved", "Moving", "Waiting",
                "Failed", "Skipped", "Created")
FINISHED = ("completed", "cancelled")
DONE_STATES = ("moved", "skipped", "cancelled", "deleted")


def progress(job: dict) -> str:
    by = job["servers_by_state"]
    return (f"host {job['kind']} of {job['host']} {job['status']}: "
            f"{sum(by[s] for s in DONE_STATES)}/{job['servers_total']} done "
            f"({by['moved']} moved, {by['skipped']} skipped), {by['moving']} moving, "
            f"{by['waiting']} waiting, "
            f"{by['failed']} failed")


class _JobCommand(command.Lister):
    """A command that answers with one job (and may follow it to its end)."""

    def job(self, parsed_args) -> dict:
        raise NotImplementedError

    def take_action(self, parsed_args):
        client = self.app.client_manager.herder
        self.shown = self.job(parsed_args)
        if getattr(parsed_args, "wait", False):
            self.shown = self.follow(client, self.shown["id"])
        if "servers" not in self.shown:
            self.shown = client.host_drain(self.shown["id"])
        return SERVER_COLUMNS, [
            (s["server_id"], s["state"], s["source_host"] or "-", s["destination_host"] or "-",
             s["reason"] or "") for s in self.shown["servers"]]

    def follow(self, client, job_id: str) -> dict:
        line = ProgressLine(self.app.stderr)
        while True:
            job = client.host_drain(job_id)
            over = job["status"] in FINISHED
            line.show(progress(job), last=over)
            if over:
                break
            time.sleep(POLL_SECONDS)
        line.end()
        return job

    def produce_output(self, parsed_args, column_names, data):
        if parsed_args.formatter in ("json", "yaml"):
            dump = json.dumps(self.shown, indent=2) if parsed_args.formatter == "json" else \
                yaml.safe_dump(self.shown, sort_keys=False)
            self.app.stdout.write(dump.rstrip("\n") + "\n")
        else:
            job = self.shown
            self.app.stdout.write(f"{job['kind']} {job['id']}: {progress(job)}\n")
            super().produce_output(parsed_args, column_names, data)
        if getattr(parsed_args, "wait", False) and self.shown["servers_by_state"]["failed"]:
            raise exceptions.CommandError(
                f"{self.shown['servers_by_state']['failed']} server(s) of host "
                f"{self.shown['kind']} {self.shown['id']} failed to move")
        return 0


def _add_limits(parser, defaults: str):
    parser.add_argument("--max-per-source", metavar="<count>", type=int,
                        help=f"Moves at once out of any one host ({defaults})")
    parser.add_argument("--max-per-destination", metavar="<count>", type=int,
                        help=f"Moves at once into any one host ({defaults})")
    parser.add_argument("--auto-confirm", action="store_true", default=None,
                        help="Confirm each move once it reaches VERIFY_RESIZE (default: leave "
                             "it for you to confirm or revert)")


def _add_wait(parser):
    parser.add_argument("--wait", action="store_true",
                        help="Follow the job to its end, with its progress on stderr; exit "
                             "non-zero if a server failed to move")


def _limits(parsed_args) -> dict:
    given = {"max_per_source": parsed_args.max_per_source,
             "max_per_destination": parsed_args.max_per_destination,
             "auto_confirm": parsed_args.auto_confirm}
    return {name: value for name, value in given.items() if value is not None}


class StartDrain(_JobCommand):
    """Drain a host: disable its compute service and move every server off it"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("host", metavar="<host>", help="Compute host to drain")
        parser.add_argument("--reason", metavar="<reason>",
                            help="Why: the compute service's disabled reason")
        _add_limits(parser, "default: 1 out of the drained host, 2 into any host")
        _add_wait(parser)
        return parser

    def job(self, parsed_args) -> dict:
        body = {"host": parsed_args.host, **_limits(parsed_args)}
        if parsed_args.reason is not None:
            body["reason"] = parsed_args.reason
        return self.app.client_manager.herder.start_drain(body)


class _OneJob(_JobCommand):
    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("job", metavar="<job>", help="Job ID")
        _add_wait(parser)
        return parser


class ShowDrain(_OneJob):
    """Show a host drain or restore job and each of its servers"""

    def job(self, parsed_args) -> dict:
        return self.app.client_manager.herder.host_drain(parsed_args.job)


class _ActOnDrain(_OneJob):
    action = ""

    def job(self, parsed_args) -> dict:
        return self.app.client_manager.herder.host_drain_action(parsed_args.job, self.action)


class PauseDrain(_ActOnDrain):
    """Pause a host drain or restore job: no new move starts (moves under way end)"""
    action = "pause"


class ResumeDrain(_ActOnDrain):
    """Resume a paused host drain or restore job"""
    action = "resume"


class CancelDrain(_ActOnDrain):
    """Cancel a host drain or restore job: its waiting servers stay (moves under way end)"""
    action = "cancel"


class RestoreDrain(_JobCommand):
    """Move the servers a drain moved back to its host, enabling the host's service again"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("job", metavar="<job>", help="ID of a completed or cancelled drain")
        _add_limits(parser, "default: the drain's")
        _add_wait(parser)
        return parser

    def job(self, parsed_args) -> dict:
        return self.app.client_manager.herder.restore_drain(parsed_args.job,
                                                            _limits(parsed_args) or None)


class ListDrains(command.Lister):
    """List host drain and restore jobs, newest first"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--host", metavar="<host>", help="Only the jobs of this host")
        return parser

    def take_action(self, parsed_args):
        jobs = self.app.client_manager.herder.host_drains(parsed_args.host)
        return LIST_COLUMNS, [
            (j["id"], j["kind"], j["host"], j["status"], j["servers_total"],
             *(j["servers_by_state"][s] for s in ("moved", "moving", "waiting", "failed",
                                                   "skipped")),
             j["created_at"]) for j in jobs]
