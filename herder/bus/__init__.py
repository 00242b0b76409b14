"""The message bus: RPC call/cast/fanout and versioned notifications over kombu."""
from herder.bus.rpc import Bus, RpcServer  # noqa: F401
