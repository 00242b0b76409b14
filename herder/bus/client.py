"""What every service's RPC client shares (the clients: herder/<service>/rpcapi.py).

A service is reached only through its client, whose methods name what the service serves, with
the arguments each takes: the reader finds the receiver of a message by following a method, not
by searching for a string, and a wrong argument fails in the caller.
"""
import logging
from typing import Any

from herder.bus.rpc import Bus, KeepWaiting
from herder.context import RequestContext

LOG = logging.getLogger(__name__)


class RpcClient:
    """Sends a service's messages. Every message carries the version of the service's RPC API
    it needs (see herder/bus/versions.py): `version`, unless the method says another. When a
    method gains an argument, the server's minor version goes up and that method alone sends
    the new version, so that a caller newer than its server still reaches it for everything the
    server understands."""

    version = "1.0"

    def __init__(self, bus: Bus, timeout: float | None = None, log_prefix: str | None = None,
                 cast_patience: float | None = None):
        """`timeout`: how long a call waits for its reply (None: the bus's rpc_timeout).
        `log_prefix`: what the debug line of each message starts with (default: the
        context's). `cast_patience`: how long a cast waits for an absent broker (None: the
        bus's rpc_timeout)."""
        self.bus = bus
        self.timeout = timeout
        self.log_prefix = log_prefix
        self.cast_patience = cast_patience

    def _call(self, context: RequestContext, topic: str, method: str,
              keep_waiting: KeepWaiting | None = None, version: str | None = None,
              **args) -> Any:
        self._log(context, "calling", topic, method)
        return self.bus.call(topic, method, context, timeout=self.timeout,
                             keep_waiting=keep_waiting, rpc_version=version or self.version,
                             **args)

    def _cast(self, context: RequestContext, topic: str, method: str,
              version: str | None = None, **args) -> None:
        self._log(context, "casting", topic, method)
        self.bus.cast(topic, method, context, rpc_version=version or self.version,
                      patience=self.cast_patience, **args)

    def _fanout(self, context: RequestContext, topic: str, method: str,
                version: str | None = None, **args) -> None:
        """To every server of `topic` (each scheduler keeps its own view of the hosts)."""
        self._log(context, "sending to every server of", topic, method)
        self.bus.fanout(topic, method, context, rpc_version=version or self.version, **args)

    def _log(self, context: RequestContext, verb: str, topic: str, method: str) -> None:
        LOG.debug("%s %s %s on %s", self.log_prefix or context.log_prefix(), verb, method, topic)
