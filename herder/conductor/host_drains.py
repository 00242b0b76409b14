"""Driving host drain and restore jobs (herder/operations/host_drain.py starts them).

A conductor looks at the unfinished jobs every `[conductor] host_drain_interval` seconds.
Each job is driven by one conductor at a time, the one holding its lease (`owner`,
`lease_until`, renewed at every look): another conductor takes the job over once the lease
ran out, and a conductor restarted under the same host name at once (its earlier process is
dead, as for journaled workflows: recovery.py). Everything a look decides is in the database,
so a look cut short by a kill -9 is simply looked at again by whoever drives the job next.

One look at a job:
1. follows each server it is moving, from its migration record and its server row: still
   moving, finished (confirmed first if the job auto-confirms), failed with the server's
   fault, aborted or reverted by someone, or deleted;
2. if the job is running, starts moving waiting servers while the limits allow: at most
   `max_per_source` moves at work out of a host and `max_per_destination` into one. Every
   move herder runs counts, not only the job's: the migrations at work (from their record to
   their end, a confirm or a revert included; not one waiting in VERIFY_RESIZE) and every
   job's servers it is moving whose migration is not yet recorded or waits to be confirmed
   by the job. A drain picks each server's destination itself, as the scheduler judges the
   hosts (evaluate_destinations, as move plans do), best first among those below their
   limit, and names it in the move; a restore names the drained host;
3. ends the job (completed, or cancelled) once no server waits and none moves;
4. sends the job's notifications not yet sent (herder/drain_notifications.py), in the order
   they were written. They are written with the changes they report, by the api or by a
   look; the conductor holding the lease sends them, a finished job's included: it keeps its
   lease until they are sent, and another conductor takes it over for them if it dies first.

Each move is an ordinary migrate, made through the api's own operation in the name of the
job's creator as an admin (herder/operations/move.py): journaled, abortable, with its instance
action, exactly as if an admin had asked for it.
"""
import logging
from collections import Counter
from datetime import datetime

from herder import drain_notifications as notices
from herder import exception, states
from herder.conductor.base import ConductorServices
from herder.conductor.expired_resizes import OperationServices
from herder.conductor.recovery import incarnation_host
from herder.context import RequestContext, new_request_id
from herder.db import host_drains, instances
from herder.db.models import HostDrain, HostDrainServer, Instance, Migration
from herder.operations import move, verify_resize
from herder.operations.host_drain import CANCELLED_REASON, RESTORE, why_not_movable
from herder.scheduler.move_request import hosts_to_leave, move_request
from herder.scheduler.rpcapi import SchedulerAPI

LOG = logging.getLogger(__name__)

# moves a job asks for one server at most (see HostDrainRunner._again)
MOVE_ATTEMPTS = 3

# refusals of the api's operations: the server changed since the job listed it
_REFUSED = (exception.Conflict, exception.Invalid, exception.NotFound)


class _Load:
    """Moves at work per host, out of it and into it, as the limits count them."""

    def __init__(self, db):
        self.out, self.into = Counter(), Counter()
        at_work = {m.uuid: m for m in host_drains.moves_at_work(db)}
        for m in at_work.values():
            self.out[m.source_compute] += 1
            if m.dest_compute:
                self.into[m.dest_compute] += 1
        for row in host_drains.moving_anywhere(db):
            recorded = at_work.get(row.migration_uuid)
            if recorded is None:
                self.add(row.source_host, row.dest_host)
            elif not recorded.dest_compute:
                self.into[row.dest_host] += 1   # not yet scheduled: the host the job named

    def add(self, source: str | None, dest: str | None) -> None:
        self.out[source] += 1
        if dest:
            self.into[dest] += 1


class HostDrainRunner:
    def __init__(self, svc: ConductorServices, owner: str):
        self.svc = svc
        self.db = svc.db
        self.owner = owner   # this conductor process (recovery.incarnation)
        self.ops = OperationServices(svc.conf, svc.db, svc.bus)

    def look(self) -> None:
        """The periodic task: drive every unfinished job this conductor holds or can take,
        and send what finished jobs have left of their notifications."""
        for job in host_drains.unfinished(self.db):
            if not self._hold(job, host_drains.UNFINISHED):
                continue
            try:
                self._drive(host_drains.get(self.db, job.uuid))
            except Exception:
                # the next look tries again; the others' jobs must not wait for this one
                LOG.exception("host %s %s: look failed", job.kind, job.uuid)
            self._send_notifications(job)
        for job in host_drains.finished_with_unsent_notifications(self.db):
            if self._hold(job, host_drains.FINISHED):
                self._send_notifications(job)

    def _hold(self, job: HostDrain, statuses: tuple[str, ...]) -> bool:
        """Renew the job's lease, or take it; False if another conductor holds it (or the
        job's status left `statuses` meanwhile)."""
        lease = self.svc.conf.workflow.lease_seconds
        if job.owner == self.owner:
            # False: another conductor took it over, or it just ended
            return host_drains.renew_lease(self.db, job.uuid, self.owner, lease, statuses)
        if not host_drains.take_lease(self.db, job, self.owner, lease, statuses=statuses,
                                      at_once=incarnation_host(job.owner) == self.svc.host):
            return False
        LOG.info("host %s %s of %s: %s by %s from now on (was %s)", job.kind, job.uuid,
                 job.host, "driven" if statuses == host_drains.UNFINISHED else
                 "its notifications sent", self.owner, job.owner or "nobody")
        return True

    def _send_notifications(self, job: HostDrain) -> None:
        """Send the job's notifications not yet sent, in order, each marked sent once the
        bus took it. The one a conductor dies between sending and marking is sent again by
        whoever holds the lease next: unavoidable without a transaction spanning the bus and
        the database. (So can one a conductor sends after its lease ran out mid-look, while
        the next holder sends it too: as rare as a look outlasting the lease.) One the bus
        refuses stops the sending (the next
        look goes on from it), so that none overtakes another."""
        for notification in host_drains.unsent_notifications(self.db, job.uuid):
            try:
                self.svc.notifier.send(notification.priority, notification.event_type,
                                       notification.payload, notification.created_at)
            except Exception:
                LOG.exception("host %s %s: could not send notification %s: the next look "
                              "tries again", job.kind, job.uuid, notification.event_type)
                return
            host_drains.mark_sent(self.db, notification.id)

    def _drive(self, job: HostDrain) -> None:
        rows = host_drains.servers_of(self.db, [job.uuid])[job.uuid]
        for row in rows:
            if row.state == host_drains.MOVING:
                self._follow(job, row)
        if job.status == host_drains.RUNNING:
            self._start_moves(job, [r for r in rows if r.state == host_drains.WAITING])
        elif job.status == host_drains.CANCELLING:
            # a server the api's cancel could not drop (it was being started at that moment)
            host_drains.drop_waiting(self.db, job.uuid, CANCELLED_REASON, notices.server_event)
        rows = host_drains.servers_of(self.db, [job.uuid])[job.uuid]
        if any(r.state in (host_drains.WAITING, host_drains.MOVING) for r in rows):
            return
        ending = host_drains.CANCELLED if job.status == host_drains.CANCELLING \
            else host_drains.COMPLETED
        if job.status == host_drains.PAUSED:
            return   # paused with nothing left: it ends when resumed, not behind the pause
        if host_drains.finish(self.db, job.uuid, self.owner, ending, notices.job_event("end")):
            counts = Counter(r.state for r in rows)
            LOG.info("host %s %s of %s %s: %s", job.kind, job.uuid, job.host, ending,
                     ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or
                     "no servers")

    # -- following a move --------------------------------------------------------------------
    def _follow(self, job: HostDrain, row: HostDrainServer) -> None:
        server = instances.placements(self.db, [row.instance_uuid]).get(row.instance_uuid)
        if server is None:
            self._end(job, row, host_drains.DELETED, "deleted during the job")
            return
        migration = host_drains.migration_after(self.db, row.instance_uuid,
                                                row.migrations_before or 0)
        if migration is None:
            if server.task_state == states.RESIZE_PREP:
                return   # asked for; its workflow has not recorded it yet
            # read again: the move may have been recorded (and gone on) since the first read
            migration = host_drains.migration_after(self.db, row.instance_uuid,
                                                    row.migrations_before or 0)
            if migration is None:
                self._not_recorded(job, row, server)
                return
        if row.migration_uuid != migration.uuid:
            host_drains.update_server(self.db, row.id, host_drains.MOVING,
                                      migration_uuid=migration.uuid)
        self._judge(job, row, server, migration)

    def _not_recorded(self, job: HostDrain, row: HostDrainServer, server: Instance) -> None:
        """A server the job marked moving that no move took: the conductor died between the
        mark and the request, or the request was lost before its workflow recorded the
        migration (recovery put the server back, with a fault). At rest where it was, it
        waits again; anything else is a failure, with the server's fault."""
        if server.host == row.source_host and why_not_movable(server) is None:
            if host_drains.update_server(self.db, row.id, host_drains.MOVING,
                                         state=host_drains.WAITING, dest_host=None,
                                         started_at=None):
                LOG.info("host %s %s [instance: %s] no move was recorded: waiting again",
                         job.kind, job.uuid, row.instance_uuid)
            return
        self._end(job, row, host_drains.FAILED, _fault(self.db, server) or
                  "the move ended before it recorded a migration")

    def _judge(self, job: HostDrain, row: HostDrainServer, server: Instance,
               migration: Migration) -> None:
        status, dest = migration.status, migration.dest_compute or row.dest_host
        if status == states.MIGRATION_FINISHED and job.auto_confirm:
            self._confirm(job, server, migration)
        elif status == states.MIGRATION_FINISHED:
            self._end(job, row, host_drains.MOVED,
                      f"moved to {dest}, waiting in VERIFY_RESIZE to be confirmed", dest)
        elif status == states.MIGRATION_CONFIRMED:
            self._end(job, row, host_drains.MOVED, f"moved to {dest}", dest)
        elif status == states.MIGRATION_REVERTED:
            self._end(job, row, host_drains.FAILED,
                      f"reverted by someone: back on {migration.source_compute}")
        elif status == states.MIGRATION_CANCELLED:
            self._end(job, row, host_drains.FAILED,
                      f"aborted by someone: left on {migration.source_compute}")
        elif status == states.MIGRATION_ERROR:
            fault = _fault(self.db, server) or migration.error_reason or "the move failed"
            if not self._again(job, row, server, fault):
                self._end(job, row, host_drains.FAILED, fault)
        # else: at work still (a confirm or revert included)

    def _again(self, job: HostDrain, row: HostDrainServer, server: Instance,
               fault: str) -> bool:
        """A move that failed and was rolled back, leaving the server at rest where it was,
        is tried again, up to MOVE_ATTEMPTS moves in all: what fails a move once is often
        passing (a conductor or host restarted mid-move); what fails it every time is
        reported."""
        if row.attempts >= MOVE_ATTEMPTS or server.host != row.source_host or \
                why_not_movable(server) is not None:
            return False
        if host_drains.update_server(self.db, row.id, host_drains.MOVING,
                                     state=host_drains.WAITING, dest_host=None,
                                     started_at=None, reason=f"trying again after: {fault}"):
            LOG.info("host %s %s [instance: %s] move %d of %d failed (%s): trying again",
                     job.kind, job.uuid, row.instance_uuid, row.attempts, MOVE_ATTEMPTS,
                     fault)
        return True

    def _confirm(self, job: HostDrain, server: Instance, migration: Migration) -> None:
        try:
            verify_resize.confirm_resize(self.ops, _context(job), server, migration.uuid)
        except _REFUSED as refused:
            # someone confirmed, reverted or deleted it first, or its source host is down:
            # the next look sees what became of it
            LOG.debug("host %s %s [instance: %s] not confirming migration %s: %s", job.kind,
                      job.uuid, server.uuid, migration.uuid, refused)

    def _end(self, job: HostDrain, row: HostDrainServer, state: str, reason: str,
             dest: str | None = None) -> None:
        values = {"dest_host": dest} if dest else {}
        if host_drains.update_server(self.db, row.id, host_drains.MOVING,
                                     notices.server_event, state=state, reason=reason,
                                     finished_at=datetime.utcnow(), **values):
            LOG.info("host %s %s [instance: %s] %s: %s", job.kind, job.uuid,
                     row.instance_uuid, state, reason)

    # -- starting moves ----------------------------------------------------------------------
    def _start_moves(self, job: HostDrain, waiting: list[HostDrainServer]) -> None:
        if not waiting:
            return
        load = _Load(self.db)
        # servers in a row that found every host able to take them at its limit: past
        # max_per_source of them the look stops asking the scheduler (the hosts are full of
        # moves; the next look tries again), so a long queue costs a bounded number of calls
        unplaced = 0
        for row in waiting:
            if job.kind == RESTORE and load.into[job.host] >= job.max_per_destination:
                return   # every server of a restore goes to the one host
            server = instances.placements(self.db, [row.instance_uuid]).get(row.instance_uuid)
            if server is None:
                self._drop(job, row, host_drains.DELETED, "deleted before the job moved it")
                continue
            changed = self._changed(row, server)
            if changed:
                self._drop(job, row, host_drains.SKIPPED, changed)
                continue
            if load.out[server.host] >= job.max_per_source:
                if job.kind != RESTORE:
                    return   # every server of a drain leaves the one host
                continue
            dest = job.host if job.kind == RESTORE else self._destination(job, row, server, load)
            if dest is None:
                unplaced += 1
                if unplaced >= job.max_per_source:
                    return
                continue
            unplaced = 0
            if self._start(job, row, server, dest):
                load.add(server.host, dest)

    def _changed(self, row: HostDrainServer, server: Instance) -> str | None:
        """Why a waiting server is no longer one to move (someone moved, locked or used it
        since the job listed it)."""
        if server.host != row.source_host:
            return f"moved by someone else: now on {server.host}"
        return why_not_movable(server)

    def _destination(self, job: HostDrain, row: HostDrainServer, server: Instance,
                     load: _Load) -> str | None:
        """The best host for the server, as the scheduler judges them, of those below the
        job's limit; None if all that can take it are at their limit (it waits), or if none
        can (it failed, with every host's reason)."""
        try:
            judged = SchedulerAPI(self.svc.bus).evaluate_destinations(
                _context(job), request=move_request(
                    instances.request_spec(self.db, server.uuid), server.flavor),
                instance_uuid=server.uuid,
                ignore_hosts=hosts_to_leave(server.host, False, self.svc.conf),
                requested_host=None)
        except (exception.MessagingTimeout, exception.IncompatibleRPCVersion) as error:
            LOG.warning("host %s %s: no scheduler judged the hosts (%s): waiting", job.kind,
                        job.uuid, error)
            return None
        for candidate in judged["candidates"]:
            if load.into[candidate["host"]] < job.max_per_destination:
                return candidate["host"]
        if not judged["candidates"]:
            self._drop(job, row, host_drains.FAILED, "no host can take it: " + "; ".join(
                f"{r['host']}: {r['reason']}" for r in judged["rejected"]
                if r["host"] != server.host))
        return None

    def _start(self, job: HostDrain, row: HostDrainServer, server: Instance,
               dest: str) -> bool:
        """Mark the server moving, then ask for its move (so a kill -9 between the two
        leaves a server the next look follows, and finds it never asked for: failed)."""
        if not host_drains.start_moving(
                self.db, row, dest_host=dest, started_at=datetime.utcnow(),
                attempts=row.attempts + 1,
                migrations_before=host_drains.newest_migration_id(self.db, server.uuid)):
            return False   # paused or cancelled meanwhile
        try:
            move.migrate(self.ops, _context(job), server, dest)
        except _REFUSED as refused:
            self._end(job, row, host_drains.SKIPPED, f"refused: {refused}")
            return False
        LOG.info("host %s %s [instance: %s] moving from %s to %s", job.kind, job.uuid,
                 server.uuid, server.host, dest)
        return True

    def _drop(self, job: HostDrain, row: HostDrainServer, state: str, reason: str) -> None:
        """A waiting server the job will not move."""
        if host_drains.update_server(self.db, row.id, host_drains.WAITING,
                                     notices.server_event, state=state, reason=reason,
                                     finished_at=datetime.utcnow()):
            LOG.info("host %s %s [instance: %s] %s: %s", job.kind, job.uuid,
                     row.instance_uuid, state, reason)


def _context(job: HostDrain) -> RequestContext:
    """The moves are the job creator's, made as an admin (the job's policy let them ask)."""
    return RequestContext(user_id=job.user_id, project_id=job.project_id, roles=["admin"],
                          request_id=new_request_id(), is_admin=True)


def _fault(db, server: Instance) -> str | None:
    fault = instances.latest_fault(db, server.uuid)
    return fault.message if fault is not None else None
