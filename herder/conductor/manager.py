"""The conductor's RPC endpoints: start workflows, take host reports and progress."""
import logging

from herder import confirm_policy, exception, states
from herder.conductor import expired_resizes, recovery
from herder.conductor.base import ConductorServices
from herder.conductor.engine import Engine
from herder.conductor.move_queue import MoveQueue
from herder.conductor.workflows.confirm import ConfirmWorkflow
from herder.conductor.workflows.lifecycle import (BuildWorkflow, DeleteWorkflow, PowerMemory,
                                                  PowerWorkflow)
from herder.conductor.workflows.migrate import MigrateWorkflow, MoveMemory
from herder.conductor.workflows.revert import RevertWorkflow
from herder.context import RequestContext
from herder.db import instances, journal, migrations, placement, services
from herder import fault_injection
from herder.compute.rpcapi import ComputeAPI
from herder.conductor.rpcapi import ConductorAPI
from herder.wire import instance_to_wire, migration_to_wire

LOG = logging.getLogger(__name__)

# Server progress while the disk is copied: 10% once the move starts, 90% when the copy is done.
_COPY_PROGRESS_START, _COPY_PROGRESS_SPAN = 10, 80


class ConductorManager:
    # the version of its RPC API this serves (herder/conductor/rpcapi.py keeps the history), and the
    # client whose methods are all a message may call
    RPC_API_VERSION = "1.3"
    RPC_API = ConductorAPI

    def __init__(self, svc: ConductorServices):
        self.svc = svc
        self.db = svc.db
        # this conductor process, as the owner of the workflows it runs
        self.incarnation = recovery.incarnation(svc.host)
        self.engine = Engine(svc.db, fault_injection.from_conf(svc.conf, "conductor"),
                             self.incarnation, svc.conf.workflow.lease_seconds)
        # moves waiting for move slots: looked at again whenever a move parks or gives slots back
        self.move_queue = MoveQueue(svc, self.engine, svc.conf.conductor.workers)
        self.engine.when_parked = svc.move_slots_freed = self.move_queue.wake

    def recover(self, sole_conductor: bool = False, starting: bool = False) -> int:
        """Finish or undo what a stopped conductor (another one, or a previous run of this
        one) left half done, and requests lost on the way (see recovery.py)."""
        workflow_conf = self.svc.conf.workflow
        return recovery.recover(self.svc, self.engine, sole_conductor,
                                0.0 if sole_conductor else workflow_conf.lost_request_timeout,
                                starting)

    # -- moves -------------------------------------------------------------------------------
    # Each request from the api names the accepted request it carries out (`request_uuid`,
    # see db/accepted_requests.py): the workflow runs only if this conductor takes it. None:
    # a request from an api that records none, or one the conductor makes itself.
    def migrate_server(self, context: RequestContext, instance_uuid: str,
                       flavor: dict | None = None, host: str | None = None,
                       request_uuid: str | None = None) -> None:
        self.engine.run(MigrateWorkflow(self.svc, context, instance_uuid, memory=MoveMemory(
            new_flavor_requested=flavor, requested_host=host)), request_uuid)

    def confirm_resize(self, context, instance_uuid: str, migration_uuid: str,
                       request_uuid: str | None = None) -> None:
        self.engine.run(ConfirmWorkflow(self.svc, context, instance_uuid, migration_uuid),
                        request_uuid)

    def revert_resize(self, context, instance_uuid: str, migration_uuid: str,
                      request_uuid: str | None = None) -> None:
        self.engine.run(RevertWorkflow(self.svc, context, instance_uuid, migration_uuid),
                        request_uuid)

    def abort_move(self, context, instance_uuid: str, migration_uuid: str) -> None:
        """A move's abort was asked for (the migration records it). Whichever conductor runs
        the move rolls it back at its next step; a disk copy under way is stopped here, on
        the destination, so that the copy fails now instead of the abort waiting for its end."""
        self.move_queue.wake()   # a move waiting in the queue is taken up, to roll it back
        migration = migrations.get(self.db, migration_uuid)
        if migration.status not in (states.MIGRATION_PRE_MIGRATING, states.MIGRATION_MIGRATING) \
                or not migration.dest_compute:
            return   # no transfer has been granted yet, or the copy is over
        LOG.info("%s [instance: %s] stopping the disk transfer of migration %s on %s: the move "
                 "is being aborted", context.log_prefix(), instance_uuid, migration_uuid,
                 migration.dest_compute)
        ComputeAPI(self.svc.bus).cancel_transfers(
            context, migration.dest_compute, instance=instance_to_wire(
                instances.get(self.db, instance_uuid)), migration=migration_to_wire(migration))

    def confirm_expired_resizes(self, context, host: str, window: int,
                                action: str = confirm_policy.CONFIRM) -> None:
        """Confirm or revert the moves out of `host` that waited past their window (asked for
        by `host`'s periodic task, with the cloud's window and action as that host has them;
        expired_resizes.py)."""
        expired_resizes.settle(self.svc, context, host, confirm_policy.Layer(
            "the cloud's [DEFAULT] resize_confirm_window and resize_confirm_action",
            window=window, action=action))

    def report_progress(self, context, migration_uuid: str, processed: int, total: int) -> None:
        migration = migrations.update(self.db, migration_uuid, disk_total_bytes=total,
                                      disk_processed_bytes=processed,
                                      disk_remaining_bytes=max(total - processed, 0))
        percent = _COPY_PROGRESS_START + (_COPY_PROGRESS_SPAN * processed // total if total else 0)
        try:
            instances.update(self.db, migration.instance_uuid,
                             {"task_state": states.MOVE_TASK_STATES}, progress=percent)
        except exception.UnexpectedTaskState:
            pass  # a late report after the move moved on

    # -- lifecycle ---------------------------------------------------------------------------
    def build_instance(self, context, instance_uuid: str,
                       request_uuid: str | None = None) -> None:
        self.engine.run(BuildWorkflow(self.svc, context, instance_uuid), request_uuid)

    def stop_instance(self, context, instance_uuid: str,
                      request_uuid: str | None = None) -> None:
        self.power_action(context, instance_uuid, "stop", request_uuid)

    def start_instance(self, context, instance_uuid: str,
                       request_uuid: str | None = None) -> None:
        self.power_action(context, instance_uuid, "start", request_uuid)

    def power_action(self, context, instance_uuid: str, operation: str,
                     request_uuid: str | None = None) -> None:
        """pause, unpause, suspend, resume, reboot_soft or reboot_hard (lifecycle.py)."""
        self.engine.run(PowerWorkflow(self.svc, context, instance_uuid,
                                      memory=PowerMemory(operation)), request_uuid)

    def delete_instance(self, context, instance_uuid: str,
                        confirm_migration_uuid: str | None = None,
                        request_uuid: str | None = None) -> None:
        if confirm_migration_uuid:
            # the confirm takes the request: if this conductor dies between the two, the
            # server is left `deleting`, which recovery finishes (recovery.py)
            outcome = self.engine.run(ConfirmWorkflow(self.svc, context, instance_uuid,
                                                      confirm_migration_uuid), request_uuid)
            if isinstance(outcome.error, journal.RequestTaken):
                return
            request_uuid = None
        self.engine.run(DeleteWorkflow(self.svc, context, instance_uuid), request_uuid)

    # -- hosts -------------------------------------------------------------------------------
    def guest_placements(self, context, uuids: list[str]) -> dict[str, dict | None]:
        """For a compute host reconciling its hypervisor at start: where herder places each
        of `uuids`, and in which states (None: herder has no such server)."""
        found = instances.placements(self.db, uuids)
        return {uuid: {"host": found[uuid].host, "vm_state": found[uuid].vm_state,
                       "task_state": found[uuid].task_state,
                       "power_state": found[uuid].power_state} if uuid in found else None
                for uuid in uuids}

    def compute_report(self, context, host: str, host_ip: str, inventory: dict,
                       zone: str, instances_dir_id: str | None = None) -> None:
        # one transaction, so one wait for SQLite's write lock: a heartbeat that waits too long
        # is dropped as late, and enough of those show the host down
        with self.db.one_transaction():
            services.heartbeat(self.db, host, services.COMPUTE_BINARY, f"compute.{host}", zone)
            placement.upsert_node(self.db, host, host_ip, inventory, instances_dir_id)
