"""The clients of the conductor's two RPC APIs.

`ConductorAPI` (topic `conductor`): the requests that start a workflow, cast by the api (and by
the compute hosts' periodic automatic confirm or revert). The conductor records each in its
journal and runs it; the caller learns the outcome from the server's state, not from a reply.

`ReportsAPI` (topic REPORTS_TOPIC): what the compute hosts report, served apart so that a
backlog of requests never delays a heartbeat (see herder/conductor/__init__.py). It is an API of
its own, with its own version, because other services call it: the compute hosts, which are
upgraded on their own schedule.

Versions of both APIs (see herder/bus/versions.py), each numbered on its own:
  1.0  the methods as they were when versions were introduced
  ConductorAPI
  1.1  the requests the api casts carry `request_uuid`, the request it recorded
       (db/accepted_requests.py); a conductor runs one only if it takes that record
  1.2  abort_move
  1.3  confirm_expired_resizes: `action` (confirm or revert), and a `window` of 0
       means "the cloud sets none" (a flavor or project may), where before it was never sent;
       hosts send it every period, so an older conductor, which would take 0 as "every move
       has waited long enough", refuses it instead
  ReportsAPI
  1.1  compute_report carries `instances_dir_id` (herder/compute/shared_storage.py)
"""
from herder.bus.client import RpcClient
from herder.conductor import REPORTS_TOPIC

TOPIC = "conductor"


class ConductorAPI(RpcClient):
    # -- moves -------------------------------------------------------------------------------
    def migrate_server(self, context, *, instance_uuid: str, flavor: dict | None = None,
                       host: str | None = None, request_uuid: str | None = None) -> None:
        """Cold-migrate the server (to `host`, or where the scheduler picks), or resize it to
        `flavor`. The api has set its task state and recorded the action already."""
        self._cast(context, TOPIC, "migrate_server", instance_uuid=instance_uuid, flavor=flavor,
                   host=host, **_recorded(request_uuid))

    def confirm_resize(self, context, *, instance_uuid: str, migration_uuid: str,
                       request_uuid: str | None = None) -> None:
        """Confirm a finished move: the source drops what it kept (the migration is
        `confirming` already)."""
        self._cast(context, TOPIC, "confirm_resize", instance_uuid=instance_uuid,
                   migration_uuid=migration_uuid, **_recorded(request_uuid))

    def revert_resize(self, context, *, instance_uuid: str, migration_uuid: str,
                      request_uuid: str | None = None) -> None:
        """Put a finished move back on its source (the migration is `reverting` already)."""
        self._cast(context, TOPIC, "revert_resize", instance_uuid=instance_uuid,
                   migration_uuid=migration_uuid, **_recorded(request_uuid))

    def abort_move(self, context, *, instance_uuid: str, migration_uuid: str) -> None:
        """Stop the disk copy of a move whose abort the migration records already; the move's
        workflow rolls it back at its next step whether this arrives or not."""
        self._cast(context, TOPIC, "abort_move", version="1.2", instance_uuid=instance_uuid,
                   migration_uuid=migration_uuid)

    def confirm_expired_resizes(self, context, *, host: str, window: int, action: str) -> None:
        """Confirm or revert the moves out of `host` that have waited past their window: the
        flavor's, else the project's, else `window` seconds (0: none), the cloud's as this
        host has it; likewise for the action, else `action`."""
        self._cast(context, TOPIC, "confirm_expired_resizes", host=host, window=window,
                   action=action, version="1.3")

    # -- lifecycle ---------------------------------------------------------------------------
    def build_instance(self, context, *, instance_uuid: str,
                       request_uuid: str | None = None) -> None:
        """Schedule the new server and create it on the host chosen."""
        self._cast(context, TOPIC, "build_instance", instance_uuid=instance_uuid,
                   **_recorded(request_uuid))

    def delete_instance(self, context, *, instance_uuid: str,
                        confirm_migration_uuid: str | None = None,
                        request_uuid: str | None = None) -> None:
        """Delete the server, confirming its finished move `confirm_migration_uuid` first."""
        self._cast(context, TOPIC, "delete_instance", instance_uuid=instance_uuid,
                   confirm_migration_uuid=confirm_migration_uuid, **_recorded(request_uuid))

    def stop_instance(self, context, *, instance_uuid: str,
                      request_uuid: str | None = None) -> None:
        self._cast(context, TOPIC, "stop_instance", instance_uuid=instance_uuid,
                   **_recorded(request_uuid))

    def start_instance(self, context, *, instance_uuid: str,
                       request_uuid: str | None = None) -> None:
        self._cast(context, TOPIC, "start_instance", instance_uuid=instance_uuid,
                   **_recorded(request_uuid))

    def power_action(self, context, *, instance_uuid: str, operation: str,
                     request_uuid: str | None = None) -> None:
        """pause, unpause, suspend, resume, reboot_soft or reboot_hard the server's guest."""
        self._cast(context, TOPIC, "power_action", instance_uuid=instance_uuid,
                   operation=operation, **_recorded(request_uuid))


def _recorded(request_uuid: str | None) -> dict:
    """The arguments that name the request the api recorded, if it recorded one."""
    return {} if request_uuid is None else {"request_uuid": request_uuid, "version": "1.1"}


class ReportsAPI(RpcClient):
    def compute_report(self, context, *, host: str, host_ip: str, inventory: dict,
                       zone: str, instances_dir_id: str | None = None) -> None:
        """A compute host's heartbeat, with its address, inventory, availability zone and the
        id of its instances directory (None: it could not read one)."""
        self._call(context, REPORTS_TOPIC, "compute_report", host=host, host_ip=host_ip,
                   inventory=inventory, zone=zone,
                   **({} if instances_dir_id is None else
                      {"instances_dir_id": instances_dir_id, "version": "1.1"}))

    def guest_placements(self, context, *, uuids: list[str]) -> dict[str, dict | None]:
        """Where herder places each of `uuids`, and in which states (None: no such server)."""
        return self._call(context, REPORTS_TOPIC, "guest_placements", uuids=uuids)

    def report_progress(self, context, *, migration_uuid: str, processed: int,
                        total: int) -> None:
        """How many bytes of a move's disk have been sent so far."""
        self._cast(context, REPORTS_TOPIC, "report_progress", migration_uuid=migration_uuid,
                   processed=processed, total=total)
