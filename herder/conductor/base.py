"""What every server workflow shares: access to the server, its events, and the compute hosts."""
import logging
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Callable, Iterator, TypeVar

from herder import notifications
from herder.bus.notifier import Notifier
from herder.bus.rpc import Bus
from herder.compute.rpcapi import ComputeAPI
from herder.conductor import guest_image
from herder.conductor.memory import WorkflowMemory
from herder.context import RequestContext
from herder.db import actions, instances, migrations
from herder.db.models import Instance, Migration
from herder.db.session import Database
from herder.scheduler.rpcapi import SchedulerAPI
from herder.wire import instance_to_wire, migration_to_wire

LOG = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class ConductorServices:
    """What the conductor's workflows need; built once per conductor."""
    conf: object
    db: Database
    bus: Bus
    notifier: Notifier
    host: str
    # told when a move gives its move slots back, so that waiting moves go on at once
    # (conductor/move_queue.py); a conductor without a queue has nothing to tell
    move_slots_freed: Callable[[], None] = lambda: None


class MemoryField(property):
    """A field of a workflow's memory, read and written as an attribute of the workflow."""

    def __init__(self, name: str):
        super().__init__(lambda flow: getattr(flow.memory, name),
                         lambda flow, value: setattr(flow.memory, name, value))


class ServerWorkflow:
    kind = "server"
    action = ""   # the instance action whose events this workflow records
    # what the workflow keeps in its journal row (memory.py); every field of it also reads and
    # writes as an attribute of the workflow, so that the steps name what they learnt plainly
    Memory: type[WorkflowMemory] = WorkflowMemory

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for field in fields(cls.Memory):
            if not hasattr(cls, field.name):
                setattr(cls, field.name, MemoryField(field.name))
            elif not isinstance(getattr(cls, field.name), MemoryField):
                raise TypeError(f"{cls.__name__}.{field.name}: a field of its memory has the "
                                "name of another attribute")

    def __init__(self, svc: ConductorServices, context: RequestContext, instance_uuid: str,
                 migration_uuid: str | None = None, memory: WorkflowMemory | None = None):
        self.memory = memory if memory is not None else self.Memory()
        self.svc = svc
        self.db = svc.db
        self.context = context
        self.instance_uuid = instance_uuid
        self.migration_uuid = migration_uuid
        self._instance: Instance | None = None     # the rows as this workflow last saw them
        self._migration: Migration | None = None
        # the request's action (looked up once) and the events this run opened, by name
        self._action_id: int | None = None
        self._action_looked_up = False
        self._open_events: dict[str, int] = {}
        self.restored = False   # rebuilt from the journal after a crash (see restore)

    @property
    def log_prefix(self) -> str:
        suffix = f" [migration: {self.migration_uuid}]" if self.migration_uuid else ""
        return f"{self.context.log_prefix()} [instance: {self.instance_uuid}]{suffix}"

    def snapshot(self) -> dict:
        return {"context": self.context.to_dict(), "action": self.action,
                "memory": self.memory.to_journal()}

    @classmethod
    def restore(cls, svc: ConductorServices, row) -> "ServerWorkflow":
        """The workflow a journal row describes, as it stood at its last completed step (a row
        an older herder wrote too: see memory.py)."""
        saved = row.context
        flow = cls(svc, RequestContext.from_dict(saved["context"]), row.instance_uuid,
                   migration_uuid=row.migration_uuid, memory=cls.Memory.from_journal(saved))
        flow.restored = True
        return flow

    def stop_requested(self) -> BaseException | None:
        """Nothing stops a workflow between its steps but a failure, unless the kind of
        workflow says otherwise (an aborted move)."""
        return None

    # -- records ---------------------------------------------------------------------------
    def instance(self) -> Instance:
        self._instance = instances.get(self.db, self.instance_uuid)
        return self._instance

    def instance_now(self) -> Instance:
        """The server's row as it is, deleted or not: for a step's done_if, which looks at
        records a user may have changed since the step (see Step.done_if)."""
        return instances.get(self.db, self.instance_uuid, include_deleted=True)

    def migration(self) -> Migration:
        self._migration = migrations.get(self.db, self.migration_uuid)
        return self._migration

    def wire(self) -> dict:
        """The server as the next compute step gets it. The row this workflow last wrote is
        current for every field a compute uses (only the workflow changes host, flavor and
        states while it runs), so it is not read again."""
        return instance_to_wire(self._instance or self.instance())

    def guest_wire(self) -> dict:
        """The server with what a host needs to create its guest: the image's metadata and
        where to fetch it (compute hosts hold no credentials: a signed, expiring URL)."""
        return {**self.wire(), "image": guest_image.image_meta(
            self.db, self.svc.conf, (self._instance or self.instance()).image_ref)}

    def migration_wire(self) -> dict:
        return migration_to_wire(self._migration or self.migration())

    def update_instance(self, expected: dict | None = None, **values) -> Instance:
        self._instance = instances.update(self.db, self.instance_uuid, expected, **values)
        return self._instance

    def update_migration(self, expected_status=None, **values) -> Migration:
        self._migration = migrations.update(self.db, self.migration_uuid, expected_status, **values)
        return self._migration

    @contextmanager
    def together(self) -> Iterator[None]:
        """The database writes of the block in one transaction: fewer round trips, and all or
        none of them. No RPC inside (a transaction must not wait on another service). Of the
        rows other requests also lock, only the server's and this move's: the api locks one
        row per transaction and one workflow at a time runs per server, so no other
        transaction can hold one of the two while waiting for the other, and the block cannot
        deadlock. Placement rows stay out: every move to or from a host locks its provider."""
        try:
            with self.db.one_transaction():
                yield
        except BaseException:
            # the block's writes were rolled back: forget what it cached of them
            self._instance = self._migration = None
            self._open_events.clear()   # found again by name (finish_event)
            raise

    # -- compute hosts and scheduler ----------------------------------------------------------
    @property
    def computes(self) -> ComputeAPI:
        """The compute hosts, as this workflow's steps call them: each call waits up to the
        step deadline (then as long as its `keep_waiting` says, see Bus.call)."""
        return ComputeAPI(self.svc.bus, timeout=self.svc.conf.workflow.step_deadline,
                          log_prefix=self.log_prefix)

    @property
    def scheduler(self) -> SchedulerAPI:
        return SchedulerAPI(self.svc.bus, log_prefix=self.log_prefix)

    def compute_step(self, event: str, host: str | Callable[[], str], *,
                     before: Callable[[], None] | None = None, call: Callable[[], T],
                     after: Callable[[T], None] | None = None) -> T:
        """A step's work on a compute host, in the shape of a move's steps: the state writes
        that announce it (`before`) and the start of its event `event` on `host`, in one
        transaction; the call to the host (`call`, out of any transaction: it must not wait
        on another service) while the event is open, a failure closing the event as failed;
        then the event's end and the writes that record what the host did (`after`, given
        what `call` returned), in one transaction. Returns what `call` returned.

        `host` may be a function, called in the first transaction after `before`: for a step
        that learns its host from a record it reads there."""
        with self.starting_event(event, host):
            if before is not None:
                before()
        with self.failing_event(event):
            result = call()
        with self.together():
            self.finish_event(event)
            if after is not None:
                after(result)
        return result

    @contextmanager
    def starting_event(self, event: str, host: str | Callable[[], str]) -> Iterator[None]:
        """The block's writes and the start of `event` on `host` (see compute_step), in one
        transaction."""
        with self.together():
            yield
            self.start_event(event, host() if callable(host) else host)

    # -- instance action events -----------------------------------------------------------------
    def action_id(self) -> int | None:
        """The id of the instance action whose events this workflow records (None: the
        request recorded none)."""
        if not self._action_looked_up:
            self._action_id = actions.find(self.db, self.context, self.instance_uuid, self.action)
            self._action_looked_up = True
        return self._action_id

    def start_event(self, name: str, host: str) -> None:
        action_id = self.action_id()
        if action_id is None:
            return
        # a step run again after a crash goes on with the event its first run opened
        reopened = self._unfinished_event(action_id, name) if self.restored else None
        self._open_events[name] = reopened or actions.event_start(self.db, action_id, name,
                                                                  host)

    def finish_event(self, name: str, error: BaseException | None = None) -> None:
        action_id = self.action_id()
        if action_id is None:
            return
        # not opened by this run: opened before a restart of the conductor, found by name
        event_id = self._open_events.pop(name, None) or self._unfinished_event(action_id, name)
        if event_id is not None:
            actions.event_finish(self.db, action_id, event_id, error, _traceback_of(error))

    def _unfinished_event(self, action_id: int, name: str) -> int | None:
        return next((open_id for open_id, open_name
                     in actions.unfinished_events(self.db, action_id) if open_name == name),
                    None)

    @contextmanager
    def event(self, name: str, host: str) -> Iterator[None]:
        """Record `name` as an event of this workflow's action, on `host`, around the block."""
        self.start_event(name, host)
        with self.failing_event(name):
            yield
        self.finish_event(name)

    @contextmanager
    def failing_event(self, name: str) -> Iterator[None]:
        """Around the work of an event started already: a failure closes it as failed. (On
        success the caller closes it, with the writes that follow the work.)"""
        try:
            yield
        except BaseException as error:
            self.finish_event(name, error)
            raise

    def fail_open_events(self, error: BaseException) -> None:
        """Close every event of this workflow's action still open, as failed by `error`
        (read from the database, so that it also works for a workflow restored after a crash)."""
        action_id = self.action_id()
        if action_id is None:
            return
        for event_id, name in actions.unfinished_events(self.db, action_id):
            self._open_events.pop(name, None)
            actions.event_finish(self.db, action_id, event_id, error, _traceback_of(error))

    def finish_action(self) -> None:
        action_id = self.action_id()
        if action_id is not None:
            actions.finish(self.db, action_id)

    def record_fault(self, error: BaseException, code: int = 500) -> None:
        instances.add_fault(self.db, self.instance_uuid, code, str(error),
                            getattr(error, "remote_traceback", None), self.svc.host)

    def notify_error(self, event_type: str, error: BaseException) -> None:
        self.svc.notifier.error(event_type, notifications.instance_payload(
            self.wire(), self.context, fault=notifications.fault_payload(error)))


def _traceback_of(error: BaseException | None) -> str | None:
    """What an event shows of its error: the compute host's traceback when the error came
    from one, else the conductor's own."""
    if error is None:
        return None
    return getattr(error, "remote_traceback", None) or "".join(traceback.format_exception(error))
