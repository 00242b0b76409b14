"""RPC over kombu's in-process memory:// transport: call, cast, fanout, remote errors."""
import threading
import time
import uuid

import pytest

from herder import exception
from herder.bus.rpc import Bus
from herder.context import RequestContext


class NotHerders(Exception):
    pass


class ComputeEndpoint:
    """Stands in for a compute host's RPC endpoint."""
    RPC_API_VERSION = "1.0"

    def __init__(self, name: str = "compute1"):
        self.name = name
        self.received: list[tuple[str, dict]] = []
        self.arrived = threading.Event()

    def prep_resize(self, context, instance_uuid, flavor):
        return {"host": self.name, "instance_uuid": instance_uuid,
                "memory_mb": flavor["memory_mb"], "request_id": context.request_id,
                "user_id": context.user_id}

    def claim(self, context, host):
        raise exception.ClaimFailed(host=host, reason="insufficient memory_mb")

    def crash(self, context):
        raise NotHerders("segfault in the hypervisor")

    def update_instance_info(self, context, instance_uuid, host):
        self.received.append((self.name, {"instance_uuid": instance_uuid, "host": host}))
        self.arrived.set()

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Whether `count` messages arrived within `timeout` seconds (a cast and a fanout come
        on different queues, in either order)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.received) >= count

    def _private(self, context):
        return "should never be reachable"


@pytest.fixture
def make_bus():
    """Bus objects sharing one tag (one embedded cloud), all closed at the end of the test."""
    tag = f"unit-{uuid.uuid4().hex[:8]}"
    opened: list[Bus] = []

    def make(virtual_host_tag: str | None = tag, **kwargs) -> Bus:
        bus = Bus("memory://", virtual_host_tag=virtual_host_tag, **kwargs)
        opened.append(bus)
        return bus
    yield make
    for bus in opened:
        bus.close()


@pytest.fixture
def context():
    return RequestContext(user_id="alice", project_id="demo", roles=["member"])


def test_call_returns_the_remote_result_and_carries_the_request_context(make_bus, context):
    server, client = make_bus(), make_bus()
    server.serve("compute.compute1", ComputeEndpoint())
    reply = client.call("compute.compute1", "prep_resize", context, timeout=5,
                        instance_uuid="i-1", flavor={"memory_mb": 2048})
    assert reply == {"host": "compute1", "instance_uuid": "i-1", "memory_mb": 2048,
                     "request_id": context.request_id, "user_id": "alice"}


def test_concurrent_calls_each_get_their_own_reply(make_bus, context):
    server, client = make_bus(), make_bus()
    server.serve("compute.compute1", ComputeEndpoint())
    replies = {}

    def ask(n):
        replies[n] = client.call("compute.compute1", "prep_resize", context, timeout=5,
                                 instance_uuid=f"i-{n}", flavor={"memory_mb": n})["memory_mb"]
    threads = [threading.Thread(target=ask, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert replies == {n: n for n in range(10)}


def test_remote_herder_exception_is_raised_again_as_the_same_class(make_bus, context):
    server, client = make_bus(), make_bus()
    server.serve("compute.compute2", ComputeEndpoint("compute2"))
    with pytest.raises(exception.ClaimFailed) as caught:
        client.call("compute.compute2", "claim", context, timeout=5, host="compute2")
    assert str(caught.value) == "Claim failed on compute2: insufficient memory_mb"
    assert "ClaimFailed" in caught.value.remote_traceback


def test_unknown_remote_exception_arrives_as_remote_error(make_bus, context):
    server, client = make_bus(), make_bus()
    server.serve("compute.compute1", ComputeEndpoint())
    with pytest.raises(exception.RemoteError) as caught:
        client.call("compute.compute1", "crash", context, timeout=5)
    assert str(caught.value) == "Remote error: NotHerders segfault in the hypervisor"
    assert "segfault in the hypervisor" in caught.value.remote_traceback


@pytest.mark.parametrize("method", ["no_such_step", "_private", "__init__"])
def test_missing_or_private_methods_cannot_be_called(make_bus, context, method):
    server, client = make_bus(), make_bus()
    server.serve("compute.compute1", ComputeEndpoint())
    with pytest.raises(exception.RemoteError) as caught:
        client.call("compute.compute1", method, context, timeout=5)
    assert method in str(caught.value)


def test_call_to_a_topic_nobody_serves_times_out(make_bus, context):
    client = make_bus()
    with pytest.raises(exception.MessagingTimeout) as caught:
        client.call("compute.compute9", "prep_resize", context, timeout=0.2)
    assert str(caught.value) == "Timed out waiting for a reply to prep_resize on compute.compute9"


def test_call_without_timeout_uses_the_bus_rpc_timeout(make_bus, context):
    client = make_bus(rpc_timeout=0.2)
    with pytest.raises(exception.MessagingTimeout):
        client.call("conductor", "migrate_server", context)


def test_cast_is_delivered_without_waiting_for_a_reply(make_bus, context):
    server, client = make_bus(), make_bus()
    endpoint = ComputeEndpoint()
    server.serve("scheduler", endpoint)
    assert client.cast("scheduler", "update_instance_info", context, instance_uuid="i-1",
                       host="compute2") is None
    assert endpoint.arrived.wait(5)
    assert endpoint.received == [("compute1", {"instance_uuid": "i-1", "host": "compute2"})]


def test_cast_whose_handler_fails_does_not_stop_the_server(make_bus, context):
    server, client = make_bus(), make_bus()
    server.serve("compute.compute1", ComputeEndpoint())
    client.cast("compute.compute1", "crash", context)
    assert client.call("compute.compute1", "prep_resize", context, timeout=5, instance_uuid="i",
                       flavor={"memory_mb": 1})["host"] == "compute1"


def test_fanout_reaches_every_server_bound_to_the_topic(make_bus, context):
    schedulers = [ComputeEndpoint("scheduler-a"), ComputeEndpoint("scheduler-b")]
    for endpoint in schedulers:
        make_bus().serve("scheduler", endpoint, fanout=True)
    make_bus().fanout("scheduler", "update_instance_info", context, instance_uuid="i-1",
                      host="compute2")
    for endpoint in schedulers:
        assert endpoint.arrived.wait(5), endpoint.name
        assert endpoint.received == [(endpoint.name, {"instance_uuid": "i-1", "host": "compute2"})]


def test_fanout_with_nobody_listening_is_dropped_quietly(make_bus, context):
    make_bus().fanout("scheduler", "update_instance_info", context, instance_uuid="i-1",
                      host="compute2")


def test_buses_with_different_tags_do_not_see_each_others_messages(make_bus, context):
    ours, theirs = make_bus(f"cloud-a-{uuid.uuid4().hex[:6]}"), \
        make_bus(f"cloud-b-{uuid.uuid4().hex[:6]}")
    our_compute, their_compute = ComputeEndpoint("ours"), ComputeEndpoint("theirs")
    ours.serve("scheduler", our_compute, fanout=True)
    theirs.serve("scheduler", their_compute, fanout=True)

    theirs.cast("scheduler", "update_instance_info", context, instance_uuid="i-b", host="b")
    theirs.fanout("scheduler", "update_instance_info", context, instance_uuid="i-b2", host="b")
    ours.cast("scheduler", "update_instance_info", context, instance_uuid="i-a", host="a")
    assert our_compute.arrived.wait(5) and their_compute.wait_for(2)
    assert ours.call("scheduler", "prep_resize", context, timeout=5, instance_uuid="i",
                     flavor={"memory_mb": 1})["host"] == "ours"
    assert [r["instance_uuid"] for _, r in our_compute.received] == ["i-a"]
    assert sorted(r["instance_uuid"] for _, r in their_compute.received) == ["i-b", "i-b2"]

    lonely = make_bus(f"cloud-c-{uuid.uuid4().hex[:6]}")
    with pytest.raises(exception.MessagingTimeout):
        lonely.call("scheduler", "prep_resize", context, timeout=0.2, instance_uuid="i",
                    flavor={"memory_mb": 1})
