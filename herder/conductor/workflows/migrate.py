"""Cold migration and resize: Nova's steps, each on the service Nova runs it on (docs/workflow.md).

    create_migration        conductor    migration record, `pre-migrating`
    move_source_allocation  conductor    the source allocation passes to the migration
    select_destinations     scheduler    ranked hosts; the first one's allocation claimed
    take_move_slots         conductor    a move slot on both hosts, or `queued` until they
                                         have room (herder's own: max_concurrent_migrations)
    prep_resize             destination  resize claim (reschedules to an alternate on failure)
    resize_instance         source       power off, keep `_resize`, copy disk; host := dest
    finish_resize           destination  define guest, power on if it was on -> VERIFY_RESIZE

The source copy stays authoritative until finish_resize succeeds, so any failure rolls back to
it: the destination's copy and claims go, allocations return, the server is as it was.
"""
import logging
import time
import uuid
from dataclasses import dataclass, field

from herder import exception, states
from herder.conductor.base import ServerWorkflow
from herder.conductor.copy_watch import CopyWatch
from herder.conductor.engine import Parked, Step
from herder.conductor.memory import WorkflowMemory
from herder.conductor import pending_requests
from herder.conductor.rpcapi import ConductorAPI
from herder.db import (accepted_requests, disk_copies, instances, migrations, move_aborts,
                       move_slots, placement, server_groups)
from herder.db.models import Migration
from herder.db.placement import Resources
from herder.scheduler.move_request import hosts_to_leave, move_request
from herder.wire import migration_to_wire

LOG = logging.getLogger(__name__)

# The conductor's part of a move is recorded as two events on the conductor host, as Nova does:
# the RPC method's own event and the cold-migrate task's event nested in it.
SCHEDULING_EVENTS = ("conductor_migrate_server", "cold_migrate")
TRANSFER_RETRY_DELAY = 0.2   # seconds before the first retry of a disk transfer, then more


def _from_unversioned(old: dict) -> dict:
    """Version 0 to 1: the flavor a resize asks for was the argument `new_flavor`, the name
    the remembered flavor the move ends with also had; it is `new_flavor_requested` now."""
    arguments = old.get("arguments", {})
    return {"new_flavor_requested": arguments.get("new_flavor"),
            "requested_host": arguments.get("requested_host"), **old.get("remembered", {})}


@dataclass
class MoveMemory(WorkflowMemory):
    """What a move keeps in its journal: what the request asked for and what the steps learnt."""
    UPGRADES = (_from_unversioned,)
    # asked for: a resize's flavor (None: a migration), and a host the user named
    new_flavor_requested: dict | None = None
    requested_host: str | None = None
    # learnt by create_migration: the server as it was before the move
    old_flavor: dict = field(default_factory=dict)
    new_flavor: dict = field(default_factory=dict)
    source_host: str | None = None
    source_node: str | None = None
    old_vm_state: str = states.ACTIVE
    # learnt by select_destinations and prep_resize: the ranked hosts, and the one that claimed
    selections: list[dict] = field(default_factory=list)
    dest: dict = field(default_factory=dict)


class MigrateWorkflow(ServerWorkflow):
    kind = "migrate"
    Memory = MoveMemory

    def __init__(self, svc, context, instance_uuid: str, migration_uuid: str | None = None,
                 memory: MoveMemory | None = None):
        super().__init__(svc, context, instance_uuid, migration_uuid or str(uuid.uuid4()),
                         memory)
        self.action = "resize" if self.new_flavor_requested else "migrate"
        # where and with which single-use grant the source sends the disk; not in the memory,
        # so no token lands in the journal: a restored workflow asks the destination for a
        # new one
        self.transfer_target: dict = {}

    def steps(self) -> list[Step]:
        return [
            Step("create_migration", "conductor", self.create_migration),
            Step("move_source_allocation", "conductor", self.move_source_allocation,
                 self.return_source_allocation),
            Step("select_destinations", "scheduler", self.select_destinations,
                 self.release_destination_allocation),
            # no compensation: the slots go when the move ends, either way (finish_resize,
            # rolled_back)
            Step("take_move_slots", "conductor", self.take_move_slots, waits=True),
            Step("prep_resize", "destination", self.prep_resize, self.discard_destination),
            Step("resize_instance", "source", self.resize_instance, self.restore_source),
            Step("finish_resize", "destination", self.finish_resize, self.discard_destination,
                 done_if=self.move_finished),
        ]

    def stop_requested(self) -> BaseException | None:
        """Someone asked to abort the move (herder/operations/abort.py): roll it back rather
        than run the next step. Before create_migration there is no record to abort."""
        if self.source_host and move_aborts.requested(self.db, self.migration_uuid):
            return exception.MoveAborted()
        return None

    @property
    def power_on_after(self) -> bool:
        return self.old_vm_state == states.ACTIVE

    # -- 2: conductor ---------------------------------------------------------------------------
    def create_migration(self) -> None:
        with self.together():
            self._create_migration()

    def _create_migration(self) -> None:
        instance = self.instance()
        if instance.task_state != states.RESIZE_PREP:
            raise exception.UnexpectedTaskState(instance_uuid=self.instance_uuid,
                                                expected=states.RESIZE_PREP,
                                                actual=instance.task_state)
        for event in SCHEDULING_EVENTS:
            self.start_event(event, self.svc.host)
        self.source_host, self.source_node = instance.host, instance.node
        self.old_flavor = instance.flavor
        self.new_flavor = self.new_flavor_requested or instance.flavor
        self.old_vm_state = instance.vm_state
        migrations.create(self.db, Migration(
            uuid=self.migration_uuid, instance_uuid=self.instance_uuid,
            source_compute=instance.host, source_node=instance.node,
            old_instance_type_id=self.old_flavor["id"], new_instance_type_id=self.new_flavor["id"],
            status=states.MIGRATION_PRE_MIGRATING,
            migration_type="resize" if self.new_flavor_requested else "migration",
            user_id=self.context.user_id, project_id=self.context.project_id))
        # stash old_vm_state (Nova does it in prep_resize) so the server can be put back as it was
        self.update_instance(system_metadata={**instance.system_metadata,
                                              "old_vm_state": instance.vm_state},
                             new_flavor=self.new_flavor)

    def move_source_allocation(self) -> None:
        placement.move(self.db, self.instance_uuid, self.migration_uuid)

    def return_source_allocation(self) -> None:
        # a destination claim under the instance's name goes; nothing happens if the source
        # allocation never moved (a crash before the step wrote) or was given back already
        placement.give_back(self.db, self.migration_uuid, self.instance_uuid)

    # -- 3: scheduler ---------------------------------------------------------------------------
    def select_destinations(self) -> None:
        request = move_request(instances.request_spec(self.db, self.instance_uuid),
                               self.new_flavor)
        self.selections = self.scheduler.select_destinations(
            self.context, request=request, instance_uuid=self.instance_uuid,
            ignore_hosts=hosts_to_leave(self.source_host, self.new_flavor_requested is not None,
                                        self.svc.conf),
            requested_host=self.requested_host)
        self.dest = self.selections[0]
        with self.together():
            for event in reversed(SCHEDULING_EVENTS):
                self.finish_event(event)

    def release_destination_allocation(self) -> None:
        placement.remove(self.db, self.instance_uuid)

    # -- herder's own: a host takes part in so many moves at once -------------------------------
    def take_move_slots(self) -> None:
        """A slot on the source and on the destination (db/move_slots.py), or the move waits
        in the queue for them, parked (`queued`, resize_queued), until a conductor takes it
        up again (conductor/move_queue.py) and this step runs again."""
        hosts = [self.source_host, self.dest["host"]]
        queued = self.migration().status == states.MIGRATION_QUEUED
        if move_slots.take_or_queue(self.db, self.migration_uuid, hosts,
                                    self.svc.conf.compute.max_concurrent_migrations):
            if queued:
                with self.together():
                    self.update_migration(states.MIGRATION_QUEUED,
                                          status=states.MIGRATION_PRE_MIGRATING)
                    self.update_instance({"task_state": states.RESIZE_QUEUED},
                                         task_state=states.RESIZE_PREP)
                LOG.info("%s the move has its slots on %s now: going on", self.log_prefix,
                         " and ".join(sorted(set(hosts))))
            return
        if not queued:
            with self.together():
                self.update_migration(states.MIGRATION_PRE_MIGRATING,
                                      status=states.MIGRATION_QUEUED)
                self.update_instance({"task_state": states.RESIZE_PREP},
                                     task_state=states.RESIZE_QUEUED)
        raise Parked(f"{' or '.join(sorted(set(hosts)))} takes part in as many moves as it "
                     "may at once: the move waits in the queue")

    def release_move_slots(self) -> None:
        move_slots.release(self.db, self.migration_uuid)

    # -- 4: destination prep_resize, with reschedule to alternates -----------------------------
    def prep_resize(self) -> None:
        candidates = list(self.selections)
        last_error: BaseException | None = None
        while candidates:
            self.dest = candidates.pop(0)
            if last_error is not None and not self._claim_alternate(self.dest):
                continue
            dest_ip = self._dest_ip()
            with self.starting_event("compute_prep_resize", self.dest["host"]):
                self.update_migration(states.MIGRATION_PRE_MIGRATING,
                                      dest_compute=self.dest["host"], dest_node=self.dest["node"],
                                      dest_host=dest_ip)
                # read after this destination's claim, so that of two members moving to one
                # host at least the later reader sees the other (computes cannot read it)
                group = server_groups.placement_view(self.db, self.svc.conf, self.instance_uuid)
            try:
                with self.failing_event("compute_prep_resize"):
                    reply = self.computes.prep_resize(
                        self.context, self.dest["host"], instance=self.wire(), server_group=group,
                        new_flavor=self.new_flavor, migration=self.migration_wire())
            except exception.ClaimFailed as error:
                last_error = error
                placement.remove(self.db, self.instance_uuid, self.dest["node_uuid"])
                continue
            self.finish_event("compute_prep_resize")
            self.transfer_target = reply["transfer"]
            return
        raise exception.NoValidHost(
            reason=f"Exhausted all hosts available for retrying the move. ({last_error})")

    def _claim_alternate(self, alternate: dict) -> bool:
        try:
            placement.claim(self.db, self.instance_uuid, alternate["node_uuid"],
                            Resources.of_flavor(self.new_flavor))
            return True
        except exception.AllocationConflict:
            return False

    def _dest_ip(self) -> str | None:
        node = placement.node_by_host(self.db, self.dest["host"])
        return node.host_ip if node else None

    def discard_destination(self) -> None:
        # the host the migration record names: prep_resize writes it before it calls a
        # candidate, so it is right even after a crash while an alternate was being tried
        migration = self.migration()
        if migration.dest_compute:
            self.computes.discard_incoming(self.context, migration.dest_compute,
                                           instance=self.wire(), migration=self.migration_wire())

    # -- 5: source resize_instance ----------------------------------------------------------------
    def resize_instance(self) -> None:
        def migrating() -> None:
            self.update_migration(states.MIGRATION_PRE_MIGRATING,
                                  status=states.MIGRATION_MIGRATING)
            self.update_instance({"task_state": states.RESIZE_PREP},
                                 task_state=states.RESIZE_MIGRATING)

        def migrated(sent: dict) -> None:
            # the disk is on the destination: from now on the server's host is that one
            self.update_migration(states.MIGRATION_MIGRATING,
                                  status=states.MIGRATION_POST_MIGRATING,
                                  disk_total_bytes=sent["allocated_bytes"],
                                  disk_processed_bytes=sent["allocated_bytes"],
                                  disk_remaining_bytes=0, **disk_copies.measure(sent))
            self.update_instance({"task_state": states.RESIZE_MIGRATING},
                                 task_state=states.RESIZE_MIGRATED, host=self.dest["host"],
                                 node=self.dest["node"], power_state=states.SHUTDOWN,
                                 progress=90)

        self.compute_step("compute_resize_instance", self.source_host,
                          before=migrating, call=self._send_checked_disk, after=migrated)

    def _send_checked_disk(self) -> dict:
        """The source's report of the disk it sent, once the destination's digests match."""
        sent = self._send_disk()
        self._check_what_arrived(sent)
        return sent

    def _send_disk(self) -> dict:
        """The source's resize_instance, retried with a fresh grant from the destination when
        the transfer is refused (grant spent or lapsed) or interrupted: each retry resumes after
        the last extent the destination verified."""
        attempts = self.svc.conf.transfer.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                if not self.transfer_target:
                    self.transfer_target = self.computes.prepare_transfer(
                        self.context, self.dest["host"], instance=self.wire(),
                        migration=self.migration_wire())
                return self.computes.resize_instance(
                    self.context, self.source_host, instance=self.wire(),
                    migration=self.migration_wire(), transfer=self.transfer_target,
                    keep_waiting=CopyWatch(self.db, self.migration_uuid, self.svc.conf))
            except exception.TransferFailed as error:
                self.transfer_target = {}   # spent either way
                if move_aborts.requested(self.db, self.migration_uuid):
                    raise exception.MoveAborted() from error   # the abort stopped the copy
                if attempt == attempts:
                    raise
                LOG.warning("%s disk transfer attempt %d of %d failed, retrying: %s",
                            self.log_prefix, attempt, attempts, error)
                time.sleep(TRANSFER_RETRY_DELAY * attempt)
        raise exception.TransferFailed(reason="no attempt was made")  # max_attempts >= 1

    def _check_what_arrived(self, report: dict) -> None:
        """Each disk file's digest as the destination received it, against the source's. Both
        are keyed with the grant's key, which only the two hosts and this conductor saw: a disk
        changed on the way, by a fault or by anyone on the path, cannot match."""
        sent = report.get("digests") or {}
        if not sent:
            return   # copied on a shared instances directory: nothing crossed the network
        arrived = self.computes.arrived_digests(
            self.context, self.dest["host"], instance=self.wire(), migration=self.migration_wire())
        wrong = sorted(name for name, digest in sent.items() if arrived.get(name) != digest)
        if wrong:
            raise exception.DiskMismatch(
                host=self.dest["host"],
                reason=f"{', '.join(wrong)}: the destination's digest differs from the one "
                       f"{self.source_host} sent, or it has none")
        LOG.info("%s the destination's digests of %d disk file(s) match the source's",
                 self.log_prefix, len(sent))

    def restore_source(self) -> None:
        migration = migration_to_wire(self.migration())
        if migration["dest_compute"]:
            # The source may still be at work on resize_instance: a conductor that took this
            # move over from one that died rolls it back at once. The source runs this undoing
            # request only once that step ended (one request per server at a time); stopping
            # the transfers into the destination ends a copy now instead of at its end.
            self.computes.cancel_transfers(self.context, migration["dest_compute"],
                                           instance=self.wire(), migration=migration)
        power = self.computes.revert_migrate_disk(
            self.context, self.source_host, instance=self.wire(), migration=migration,
            power_on=self.power_on_after)
        self.update_instance(host=self.source_host, node=self.source_node, power_state=power)

    # -- 6: destination finish_resize ---------------------------------------------------------------
    def finish_resize(self) -> None:
        def finished(power: int) -> None:
            # unless an abort got in first: then the move rolls back (see db/move_aborts.py)
            self._migration = move_aborts.finish_unless_aborted(self.db, self.migration_uuid)
            self.release_move_slots()
            self.update_instance({"task_state": states.RESIZE_FINISH}, vm_state=states.RESIZED,
                                 task_state=None, power_state=power, flavor=self.new_flavor,
                                 old_flavor=self.old_flavor, new_flavor=self.new_flavor,
                                 progress=100)
            spec = instances.request_spec(self.db, self.instance_uuid)
            instances.save_request_spec(self.db, self.instance_uuid,
                                        {**spec, "flavor": self.new_flavor})
            self.finish_action()

        self.compute_step(
            "compute_finish_resize", self.dest["host"],
            before=lambda: self.update_instance({"task_state": states.RESIZE_MIGRATED},
                                                task_state=states.RESIZE_FINISH),
            call=lambda: self.computes.finish_resize(
                self.context, self.dest["host"], instance=self.guest_wire(),
                migration=self.migration_wire(), new_flavor=self.new_flavor,
                power_on=self.power_on_after),
            after=finished)
        self.svc.move_slots_freed()
        self.scheduler.update_instance_info(self.context, host=self.dest["host"],
                                            instance_uuid=self.instance_uuid,
                                            previous_host=self.source_host)

    def move_finished(self) -> bool:
        """finish_resize's last write went in (the user may even have confirmed since)."""
        return self.migration().status in states.MIGRATION_AFTER_FINISH

    # -- when a step fails ------------------------------------------------------------------------
    def rolled_back(self, error: BaseException, complete: bool) -> None:
        self.release_move_slots()   # the hosts are done with it, whatever follows
        self.svc.move_slots_freed()
        self.fail_open_events(error)
        if not self.source_host and not self._learn_from_migration_record():
            self._release_request(error)
            self.finish_action()
            return
        # an aborted move (also one a restart interrupted after the abort was asked for) that
        # is back on its source ends `cancelled`, with no fault: nothing went wrong
        aborted = complete and move_aborts.requested(self.db, self.migration_uuid)
        try:
            if aborted:
                self.update_migration(status=states.MIGRATION_CANCELLED,
                                      error_reason=str(exception.MoveAborted()))
            else:
                self.update_migration(status=states.MIGRATION_ERROR,
                                      error_reason=str(error)[:1000])
        except exception.MigrationNotFound:
            pass  # failed before the record existed
        instance = self.instance()
        back = {"task_state": None, "progress": 0, "new_flavor": None, "flavor": self.old_flavor
                or instance.flavor, "host": self.source_host or instance.host,
                "node": self.source_node or instance.node}
        # a delete that aborted the move waits for the rollback (operations/delete.py): the
        # server passes to it from here
        delete = accepted_requests.waiting(self.db, self.instance_uuid, "delete_instance") \
            if aborted else None
        if delete is not None:
            back["task_state"] = states.DELETING
        if complete:
            back["vm_state"] = self.old_vm_state
        else:  # the source copy could not be restored: a human must look (the fault says why)
            back["vm_state"] = states.ERROR
        self.update_instance(**back)
        if aborted:
            LOG.info("%s move aborted by request: rolled back, the server is on %s as before%s",
                     self.log_prefix, back["host"], ", and is deleted next" if delete else "")
            self.finish_action()
            if delete is not None:
                self._hand_over(delete)
            return
        self.record_fault(error)
        event = "compute_task.migrate_server.error" if isinstance(error, exception.NoValidHost) \
            else "instance.resize.error"
        self.notify_error(event, error)
        self.finish_action()

    def _hand_over(self, request) -> None:
        try:
            pending_requests.send(ConductorAPI(self.svc.bus, cast_patience=0.0), request)
        except Exception as error:   # the broker is away: the record outlives it
            LOG.warning("%s could not cast the waiting %s (%s): a conductor will send it again",
                        self.log_prefix, request.method, error)

    def _learn_from_migration_record(self) -> bool:
        """After a crash inside create_migration, the journal has not kept what the step
        learnt; if its writes went in, the migration record and the server tell it (the flavor
        and host stay the old ones until finish_resize). False: they did not go in."""
        try:
            migration = self.migration()
        except exception.MigrationNotFound:
            return False
        instance = self.instance()
        self.source_host, self.source_node = migration.source_compute, migration.source_node
        self.old_flavor = instance.flavor
        self.old_vm_state = instance.system_metadata.get("old_vm_state", instance.vm_state)
        return True

    def _release_request(self, error: BaseException) -> None:
        """No migration was recorded: put back what the api set, if the server still shows
        this request (a create_migration that found another task state leaves it alone)."""
        try:
            self.update_instance({"task_state": states.RESIZE_PREP}, task_state=None,
                                 new_flavor=None)
        except exception.UnexpectedTaskState:
            return
        self.record_fault(error)
        self.notify_error("instance.resize.error", error)
