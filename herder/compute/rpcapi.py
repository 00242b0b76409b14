"""The client of the compute hosts' RPC API: the steps a host runs on its guests and disks.

Each host serves its own topic, `compute.<host>`, so every method names the host it reaches.
The agent (herder/compute/agent.py) serves it; its steps are idempotent, and the conductor calls
them one at a time as a workflow goes (herder/conductor/workflows/).

Versions of the API (see herder/bus/versions.py):
  1.0  the steps as they were when versions were introduced
  1.1  cancel_transfers
  1.2  disk_usage: what a move of a guest would send (the herder API's move plans)
"""
from typing import Any

from herder.bus.client import RpcClient
from herder.bus.rpc import KeepWaiting
from herder.context import RequestContext


def topic(host: str) -> str:
    return f"compute.{host}"


class ComputeAPI(RpcClient):
    """`instance` is the server as a host gets it (herder/wire.py), `migration` likewise.
    The steps that return a power state return the guest's after the step."""

    def _step(self, context: RequestContext, host: str, method: str, **args) -> Any:
        return self._call(context, topic(host), method, **args)

    # -- plain lifecycle ---------------------------------------------------------------------
    def spawn(self, context, host: str, *, instance: dict, power_on: bool = True) -> int:
        """Claim the flavor's resources on `host` and create the guest (`instance` carries the
        image's metadata and a URL to fetch it from)."""
        return self._step(context, host, "spawn", instance=instance, power_on=power_on)

    def power_off(self, context, host: str, *, instance: dict) -> int:
        return self._step(context, host, "power_off", instance=instance)

    def power_on(self, context, host: str, *, instance: dict) -> int:
        return self._step(context, host, "power_on", instance=instance)

    def pause(self, context, host: str, *, instance: dict) -> int:
        return self._step(context, host, "pause", instance=instance)

    def unpause(self, context, host: str, *, instance: dict) -> int:
        return self._step(context, host, "unpause", instance=instance)

    def suspend(self, context, host: str, *, instance: dict) -> int:
        return self._step(context, host, "suspend", instance=instance)

    def resume(self, context, host: str, *, instance: dict) -> int:
        return self._step(context, host, "resume", instance=instance)

    def reboot(self, context, host: str, *, instance: dict, hard: bool = False) -> int:
        return self._step(context, host, "reboot", instance=instance, hard=hard)

    def get_console_output(self, context, host: str, *, instance: dict,
                           length: int | None = None) -> str:
        """The guest's console log, or its last `length` lines (None: all of it)."""
        return self._step(context, host, "get_console_output", instance=instance, length=length)

    def disk_usage(self, context, host: str, *, instance: dict) -> dict:
        """The guest's disk files on `host` and the data in them, as a move would send them:
        {"files": N, "allocated_bytes": N}. Changes nothing."""
        return self._call(context, topic(host), "disk_usage", version="1.2", instance=instance)

    def destroy(self, context, host: str, *, instance: dict) -> None:
        """The guest and its disks gone from `host`, its claim dropped (done if already so)."""
        self._step(context, host, "destroy", instance=instance)

    # -- move, destination -------------------------------------------------------------------
    def prep_resize(self, context, host: str, *, instance: dict, new_flavor: dict,
                    migration: dict, server_group: dict | None = None) -> dict:
        """Claim `new_flavor` on the destination `host`, which refuses (ClaimFailed) a move
        that does not fit or would break `server_group`'s policy. Returns the host's address
        and the transfer target the source sends the disk to."""
        return self._step(context, host, "prep_resize", instance=instance,
                          new_flavor=new_flavor, migration=migration, server_group=server_group)

    def prepare_transfer(self, context, host: str, *, instance: dict, migration: dict) -> dict:
        """A fresh transfer target on the destination `host`, when prep_resize's was spent or
        lapsed."""
        return self._step(context, host, "prepare_transfer", instance=instance,
                          migration=migration)

    def arrived_digests(self, context, host: str, *, instance: dict, migration: dict) -> dict:
        """The keyed digest of each disk file as it arrived on the destination `host`."""
        return self._step(context, host, "arrived_digests", instance=instance,
                          migration=migration)

    def finish_resize(self, context, host: str, *, instance: dict, migration: dict,
                      new_flavor: dict, power_on: bool) -> int:
        """Create the guest on the destination `host` from the disk that arrived."""
        return self._step(context, host, "finish_resize", instance=instance, migration=migration,
                          new_flavor=new_flavor, power_on=power_on)

    def discard_incoming(self, context, host: str, *, instance: dict, migration: dict) -> None:
        """Undo a move on the destination `host`: guest, copied disk and claim gone."""
        self._step(context, host, "discard_incoming", instance=instance, migration=migration)

    def cancel_transfers(self, context, host: str, *, instance: dict, migration: dict) -> None:
        """Stop every disk transfer into the destination `host` for this server, now: a move
        being aborted (the source's copy then fails within a moment, and the move's workflow
        rolls the move back) or rolled back. Runs even while the host works on another request
        of the server."""
        self._cast(context, topic(host), "cancel_transfers", version="1.1", instance=instance,
                   migration=migration)

    # -- move, source ------------------------------------------------------------------------
    def resize_instance(self, context, host: str, *, instance: dict, migration: dict,
                        transfer: dict, keep_waiting: KeepWaiting | None = None) -> dict:
        """Power off on the source `host`, keep the disk, send a copy to `transfer` (what the
        destination's prep_resize or prepare_transfer returned). A copy takes as long as the
        disk is large: past the client's timeout, the call waits as long as `keep_waiting`
        says (see Bus.call)."""
        return self._step(context, host, "resize_instance", keep_waiting=keep_waiting,
                          instance=instance, migration=migration, transfer=transfer)

    def revert_migrate_disk(self, context, host: str, *, instance: dict, migration: dict,
                            power_on: bool) -> int:
        """Undo resize_instance on the source `host`: the kept disk back, the guest as it was."""
        return self._step(context, host, "revert_migrate_disk", instance=instance,
                          migration=migration, power_on=power_on)

    def confirm_resize(self, context, host: str, *, instance: dict, migration: dict) -> None:
        """The source `host` drops the disk it kept and its claim."""
        self._step(context, host, "confirm_resize", instance=instance, migration=migration)

    # -- revert: destination, then source ----------------------------------------------------
    def revert_resize(self, context, host: str, *, instance: dict, migration: dict) -> int:
        """Stop the guest on the destination `host` (its disk stays until the source's is back)."""
        return self._step(context, host, "revert_resize", instance=instance, migration=migration)

    def undo_revert_resize(self, context, host: str, *, instance: dict, migration: dict,
                           power_on: bool) -> int:
        """Undo revert_resize: the guest runs on the destination `host` again."""
        return self._step(context, host, "undo_revert_resize", instance=instance,
                          migration=migration, power_on=power_on)

    def finish_revert_resize(self, context, host: str, *, instance: dict, migration: dict,
                             power_on: bool) -> int:
        """Bring the guest back on the source `host` from the disk it kept."""
        return self._step(context, host, "finish_revert_resize", instance=instance,
                          migration=migration, power_on=power_on)
