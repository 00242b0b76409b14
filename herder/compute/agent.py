"""The compute agent's RPC endpoints: the compute-side steps of a move, each idempotent.

The conductor sequences the steps and records their state; the agent does the host work (claims,
power, disks), emits the versioned notifications Nova's compute emits, and reports disk copy
progress. It never touches the database.
"""
import inspect
import logging
import time

from herder import exception, notifications, states
from herder.bus.notifier import Notifier
from herder.bus.rpc import Bus
from herder.compute.move_claims import MoveClaimRecords
from herder.compute.resource_tracker import ResourceTracker, destination_claim, source_claim
from herder.compute.shared_storage import SharedStorageProbes
from herder.conductor.rpcapi import ReportsAPI
from herder.context import RequestContext
from herder.db.placement import Resources
from herder.scheduler import group_policy
from herder.transfer.host import TransferAgent
from herder.virt.driver import ComputeDriver
from herder.compute.rpcapi import ComputeAPI

LOG = logging.getLogger(__name__)
PROGRESS_NOTIFY_EVERY = 2.0   # seconds between instance.resize.progress notifications
PROGRESS_REPORT_EVERY = 0.5   # seconds between progress reports to the conductor


class ComputeAgent:
    # the version of its RPC API this serves (herder/compute/rpcapi.py keeps the history), and the
    # client whose methods are all a message may call
    RPC_API_VERSION = "1.2"
    RPC_API = ComputeAPI

    def __init__(self, host: str, bus: Bus, driver: ComputeDriver,
                 tracker: ResourceTracker, move_claims: MoveClaimRecords,
                 probes: SharedStorageProbes, transfers: TransferAgent):
        self.host = host
        self.bus = bus
        self.driver = driver
        self.transfers = transfers   # the host's disk transfers, which the driver also uses
        self.tracker = tracker
        self.move_claims = move_claims
        self.probes = probes
        self.notifier = Notifier(bus, f"herder-compute:{host}")
        self.reports = ReportsAPI(bus)

    def _log(self, context: RequestContext, instance: dict, message: str, *args) -> None:
        LOG.info("%s [instance: %s] " + message, context.log_prefix(), instance["uuid"], *args)

    def _notify(self, context, event_type: str, instance: dict, **extra) -> None:
        self.notifier.info(event_type, notifications.instance_payload(instance, context, **extra))

    # -- plain lifecycle ------------------------------------------------------------------------
    def spawn(self, context, instance: dict, power_on: bool = True) -> int:
        self.tracker.claim(instance["uuid"], Resources.of_flavor(instance["flavor"]),
                           instance["uuid"])
        try:
            power = self.driver.spawn(instance, power_on)
        except Exception:
            self.tracker.drop(instance["uuid"])
            self.driver.destroy(instance)
            raise
        self._log(context, instance, "spawned on %s", self.host)
        return power

    def power_off(self, context, instance: dict) -> int:
        return self.driver.power_off(instance)

    def power_on(self, context, instance: dict) -> int:
        return self.driver.power_on(instance)

    def pause(self, context, instance: dict) -> int:
        return self.driver.pause(instance)

    def unpause(self, context, instance: dict) -> int:
        return self.driver.unpause(instance)

    def suspend(self, context, instance: dict) -> int:
        return self.driver.suspend(instance)

    def resume(self, context, instance: dict) -> int:
        return self.driver.resume(instance)

    def reboot(self, context, instance: dict, hard: bool = False) -> int:
        self._log(context, instance, "%s rebooting on %s", "hard" if hard else "soft",
                  self.host)
        return self.driver.reboot(instance, hard)

    def get_console_output(self, context, instance: dict, length: int | None = None) -> str:
        """The guest's console, or its last `length` lines (0: none, as Nova answers)."""
        output = self.driver.console_output(instance)
        if length is None:
            return output
        return "".join(output.splitlines(keepends=True)[-length:]) if length > 0 else ""

    def disk_usage(self, context, instance: dict) -> dict:
        return self.driver.disk_usage(instance).as_dict()

    def destroy(self, context, instance: dict) -> None:
        self.driver.destroy(instance)
        self.tracker.drop(instance["uuid"])
        self._log(context, instance, "destroyed on %s", self.host)

    # -- move, destination: prep_resize --------------------------------------------------------
    def prep_resize(self, context, instance: dict, new_flavor: dict, migration: dict,
                    server_group: dict | None = None) -> dict:
        """Claim the new flavor's resources here; tell the source where to put the disk.

        `server_group` is the server's group as the conductor read it just now (group_policy's
        placement view): this host refuses the move if it would break the group's policy."""
        self._notify(context, "instance.exists", instance)
        self._notify(context, "instance.resize_prep.start", instance, new_flavor=new_flavor)
        if instance["host"] == self.host and migration["migration_type"] != "resize" \
                and not self.driver.supports_same_host_migration:
            raise exception.ClaimFailed(host=self.host,
                                        reason="the driver cannot migrate to the same host")
        violation = group_policy.violation(server_group, self.host)
        if violation:
            raise exception.GroupPolicyViolation(host=self.host, reason=violation)
        self._log(context, instance, "Stashing vm_state: %s", instance["vm_state"])
        self.driver.fault_points.check("prep_resize")
        self.tracker.claim(destination_claim(migration["uuid"]), Resources.of_flavor(new_flavor),
                           instance["uuid"])
        self.move_claims.record(instance["uuid"], migration["uuid"], new_flavor)
        self._notify(context, "instance.resize_prep.end", instance, new_flavor=new_flavor)
        return {"transfer": self._incoming_target(instance, migration)}

    def prepare_transfer(self, context, instance: dict, migration: dict) -> dict:
        """A fresh grant for the source to send the disk with, when the one from prep_resize
        was spent or lapsed (a retried copy: it resumes where the last one stopped)."""
        return self._incoming_target(instance, migration)

    def _incoming_target(self, instance: dict, migration: dict) -> dict:
        """What the source needs to get the guest's files here: the driver's transfer grants,
        and the probe that tells the source whether it sees this host's files already."""
        return {**self.driver.prepare_incoming(instance, migration["uuid"]),
                "shared_probe": self.probes.leave(migration["uuid"])}

    def _forget_move(self, instance: dict, migration: dict) -> None:
        """The records this host keeps of a move on its way in (its claim record and its
        shared-storage probe, which live as long as each other): the move arrived or was
        undone."""
        self.move_claims.forget(instance["uuid"])
        self.probes.remove(migration["uuid"])

    # -- move, source: resize_instance ---------------------------------------------------------
    def resize_instance(self, context, instance: dict, migration: dict, transfer: dict) -> dict:
        """Power off, keep the disk as `_resize`, send it to the destination's transfer agent
        (`transfer`: the target its prep_resize or prepare_transfer returned)."""
        self._notify(context, "instance.resize.start", instance)
        self._log(context, instance, "Starting migrate_disk_and_power_off")
        shared = self.probes.shared_with(transfer.get("shared_probe"))
        if shared:
            self._log(context, instance, "the instances directory of %s is this host's "
                      "own: copying the disks locally, sending nothing", migration["dest_compute"])
        reporter = _ProgressReporter(self, context, instance, migration)
        report = self.driver.migrate_disk_and_power_off(instance, transfer, reporter,
                                                        shared_storage=shared)
        reporter.finish(report.allocated_bytes)
        self.tracker.rekey(instance["uuid"], source_claim(instance["uuid"]))
        self._notify(context, "instance.resize.end", instance)
        return report.as_dict()

    def revert_migrate_disk(self, context, instance: dict, migration: dict,
                            power_on: bool) -> int:
        """Compensation of resize_instance: the source copy back in place, guest as it was."""
        self.tracker.rekey(source_claim(instance["uuid"]), instance["uuid"])
        return self.driver.finish_revert_migration(instance, power_on)

    def arrived_digests(self, context, instance: dict, migration: dict) -> dict:
        """Destination: the keyed digest of each disk file as it arrived here, for the
        conductor to hold against the source's (the source's resize_instance report)."""
        return self.driver.arrived_digests(instance, migration["uuid"])

    # -- move, destination: finish_resize --------------------------------------------------------
    def finish_resize(self, context, instance: dict, migration: dict, new_flavor: dict,
                      power_on: bool) -> int:
        self._notify(context, "instance.resize_finish.start", instance)
        power = self.driver.finish_migration(instance, new_flavor, power_on)
        self.tracker.rekey(destination_claim(migration["uuid"]), instance["uuid"])
        self._forget_move(instance, migration)   # the guest holds the claim from now on
        self._notify(context, "instance.resize_finish.end", {**instance, "flavor": new_flavor,
                                                             "host": self.host,
                                                             "node": self.host})
        return power

    def discard_incoming(self, context, instance: dict, migration: dict) -> None:
        """Destination side of a rollback or revert: guest and copied disk gone, claim dropped."""
        if migration["source_compute"] != self.host:  # same host: that claim is the source's
            self.tracker.rekey(instance["uuid"], destination_claim(migration["uuid"]))
        self.driver.discard_incoming(instance)
        self._forget_move(instance, migration)
        self.tracker.drop(destination_claim(migration["uuid"]))

    def cancel_transfers(self, context, instance: dict, migration: dict) -> None:
        """A move being aborted or rolled back: every transfer into this host for the server
        stops now (its grants go, its partial files too); a copy under way fails."""
        self._log(context, instance, "stopping the disk transfers of migration %s: the move "
                  "is being aborted or rolled back", migration["uuid"])
        self.transfers.cancel(instance["uuid"])

    # -- confirm (source) ------------------------------------------------------------------------
    def confirm_resize(self, context, instance: dict, migration: dict) -> None:
        self._notify(context, "instance.resize_confirm.start", instance)
        self.driver.confirm_migration(instance)
        self.tracker.drop(source_claim(instance["uuid"]))
        self._notify(context, "instance.resize_confirm.end", instance)

    # -- revert: destination then source -----------------------------------------------------------
    def revert_resize(self, context, instance: dict, migration: dict) -> int:
        """Destination: stop the guest here; its disk stays until the source copy is back."""
        self.driver.fault_points.check("revert_resize")
        self.tracker.rekey(instance["uuid"], destination_claim(migration["uuid"]))
        return self.driver.power_off(instance)

    def undo_revert_resize(self, context, instance: dict, migration: dict,
                           power_on: bool) -> int:
        """Compensation of revert_resize: the guest runs on the destination again."""
        self.tracker.rekey(destination_claim(migration["uuid"]), instance["uuid"])
        return self.driver.power_on(instance) if power_on else states.SHUTDOWN

    def finish_revert_resize(self, context, instance: dict, migration: dict,
                             power_on: bool) -> int:
        self._notify(context, "instance.resize_revert.start", instance)
        power = self.driver.finish_revert_migration(instance, power_on)
        self.tracker.rekey(source_claim(instance["uuid"]), instance["uuid"])
        self._notify(context, "instance.resize_revert.end",
                     {**instance, "flavor": instance.get("old_flavor") or instance["flavor"],
                      "host": self.host, "node": self.host})
        return power


# Requests that run at once even while a step of the same server is at work on the host: the
# abort's stop of a disk copy (it is what ends that step), and reads that change nothing.
RUN_BESIDE_STEPS = frozenset({"cancel_transfers", "arrived_digests", "get_console_output",
                              "disk_usage"})


def server_line(body: dict) -> str | None:
    """The line a request waits in on its host (RpcServer's `one_at_a_time`): one per server.

    A host runs a server's requests one at a time, in the order they came. A conductor that
    took over a move from one that died rolls it back at once, while the host may still be at
    work on the dead conductor's last step (a power-off, a disk copy): the undoing request then
    waits for that step to end, instead of crossing it and leaving its late work behind."""
    if body.get("method") in RUN_BESIDE_STEPS:
        return None
    instance = (body.get("args") or {}).get("instance")
    return instance.get("uuid") if isinstance(instance, dict) else None


class ExceptionNotifyingEndpoint:
    """The agent as the bus sees it: a step that raises also emits `compute.exception`."""

    def __init__(self, agent: ComputeAgent):
        self._agent = agent

    def __getattr__(self, name: str):
        method = getattr(self._agent, name)
        if name.startswith("_") or not inspect.ismethod(method):
            return method   # RPC_API and the like: what the bus reads of the endpoint

        def guarded(context, **kwargs):
            try:
                return method(context, **kwargs)
            except Exception as error:
                instance = kwargs.get("instance")
                payload = notifications.instance_payload(
                    instance, context, fault=notifications.fault_payload(error)) \
                    if instance else {"exception": notifications.fault_payload(error)}
                self._agent.notifier.error("compute.exception", payload)
                raise
        return guarded


class _ProgressReporter:
    """Turns the driver's copy callbacks into throttled progress reports and notifications."""

    def __init__(self, agent: ComputeAgent, context, instance: dict, migration: dict):
        self.agent, self.context, self.instance, self.migration = agent, context, instance, migration
        self._last_report = self._last_notify = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last_report >= PROGRESS_REPORT_EVERY:
            self._last_report = now
            self._report(done, total)
        if now - self._last_notify >= PROGRESS_NOTIFY_EVERY:
            self._last_notify = now
            self.agent.notifier.info("instance.resize.progress", {
                **notifications.instance_payload(self.instance, self.context),
                "migration_uuid": self.migration["uuid"], "disk_processed_bytes": done,
                "disk_total_bytes": total})

    def finish(self, total: int) -> None:
        self._report(total, total)

    def _report(self, done: int, total: int) -> None:
        self.agent.reports.report_progress(self.context, migration_uuid=self.migration["uuid"],
                                           processed=done, total=total)
