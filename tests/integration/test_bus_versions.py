"""RPC API versions on the real bus, in-process (memory://) and on RabbitMQ: a server refuses a
message that needs a version it does not serve, with the reason, and takes the rest.

The callers are the services' own clients, made newer or older by their `version`; the servers
stand in for a compute host and a conductor, declaring the version they serve.
"""
import logging
import threading
import time
import uuid

import pytest
from kombu import Connection

from herder import exception
from herder.bus import versions
from herder.bus.rpc import Bus
from herder.compute.agent import ComputeAgent
from herder.compute.rpcapi import ComputeAPI
from herder.conductor.manager import ConductorManager
from herder.conductor.rpcapi import ConductorAPI, ReportsAPI
from herder.conductor.service import _Reports as ConductorReports
from herder.context import RequestContext
from herder.scheduler.manager import SchedulerManager
from herder.scheduler.rpcapi import SchedulerAPI
from tests.integration.deployment import RABBITMQ


class Host:
    """Stands in for a compute host's agent."""

    def __init__(self, version: str):
        self.RPC_API_VERSION = version
        self.ran: list[str] = []

    def get_console_output(self, context, instance: dict, length: int | None = None) -> str:
        self.ran.append("get_console_output")
        return f"console of {instance['uuid']}"


class Conductor:
    """Stands in for the conductor (casts) and a scheduler (fanouts)."""

    def __init__(self, version: str):
        self.RPC_API_VERSION = version
        self.ran: list[str] = []
        self.done = threading.Event()

    def build_instance(self, context, instance_uuid: str) -> None:
        self.ran.append(instance_uuid)
        self.done.set()

    def update_instance_info(self, context, host: str, instance_uuid: str,
                             previous_host: str | None = None) -> None:
        self.build_instance(context, instance_uuid)


def client(api: type, version: str, bus: Bus):
    """`api`'s client as a release that sends `version` would have it."""
    return type(f"{api.__name__}{version}", (api,), {"version": version})(bus, timeout=5)


@pytest.fixture(params=["memory", "amqp"])
def make_bus(request):
    """Buses on one namespace of the transport, closed (and its queues gone) after the test."""
    url = "memory://"
    if request.param == "amqp":
        request.getfixturevalue("rabbitmq")
        url = RABBITMQ
    tag = f"versions-{uuid.uuid4().hex[:8]}"
    opened: list[Bus] = []

    def make() -> Bus:
        opened.append(Bus(url, virtual_host_tag=tag))
        return opened[-1]
    yield make
    for bus in opened:
        bus.close()
    if request.param == "amqp":
        with Connection(url, connect_timeout=2) as conn:
            for topic in ("compute.host1", "conductor", "scheduler"):
                conn.channel().queue_delete(f"{tag}.{topic}")


@pytest.fixture
def context():
    return RequestContext(user_id="alice", project_id="demo", roles=["member"])


INSTANCE = {"uuid": "0c4e8a54-5a2c-4a4f-9d0b-0d2f8f0b7a11"}


@pytest.mark.parametrize("sent", ["2.0", "1.1"])
def test_a_call_that_needs_a_newer_version_is_refused_and_its_caller_told_why(
        make_bus, context, sent):
    host = Host("1.0")
    make_bus().serve("compute.host1", host)
    newer = client(ComputeAPI, sent, make_bus())
    with pytest.raises(exception.IncompatibleRPCVersion) as refused:
        newer.get_console_output(context, "host1", instance=INSTANCE)
    assert str(refused.value) == (
        f"compute.host1 serves RPC API 1.0; the caller sent {sent} (get_console_output): "
        f"upgrade compute.host1 to a release that serves RPC API {sent}")
    assert host.ran == []


def test_a_call_from_an_older_major_is_refused_and_names_the_caller_to_upgrade(
        make_bus, context):
    host = Host("2.0")
    make_bus().serve("compute.host1", host)
    with pytest.raises(exception.IncompatibleRPCVersion) as refused:
        client(ComputeAPI, "1.0", make_bus()).get_console_output(context, "host1",
                                                                 instance=INSTANCE)
    assert str(refused.value) == (
        "compute.host1 serves RPC API 2.0; the caller sent 1.0 (get_console_output): "
        "upgrade the caller to a release that sends RPC API 2.x")
    assert host.ran == []


@pytest.mark.parametrize("sent", ["1.0", "1.2", "1.3"])
def test_a_call_of_the_same_major_and_no_newer_minor_is_served(make_bus, context, sent):
    host = Host("1.3")
    make_bus().serve("compute.host1", host)
    assert client(ComputeAPI, sent, make_bus()).get_console_output(
        context, "host1", instance=INSTANCE) == f"console of {INSTANCE['uuid']}"
    assert host.ran == ["get_console_output"]


@pytest.mark.parametrize("api, endpoint", [(ComputeAPI, ComputeAgent),
                                           (ConductorAPI, ConductorManager),
                                           (ReportsAPI, ConductorReports),
                                           (SchedulerAPI, SchedulerManager)])
def test_every_service_serves_what_the_clients_of_its_release_send(api, endpoint):
    versions.check(endpoint.__name__, endpoint.RPC_API_VERSION, api.version, "any")


@pytest.mark.parametrize("served, accepted", [("1.2", True), ("2.0", False)])
def test_a_message_without_a_version_is_taken_as_1_0(make_bus, context, served, accepted):
    """A service of the release before versions sends none."""
    make_bus().serve("compute.host1", Host(served))
    older = make_bus()
    if accepted:
        assert older.call("compute.host1", "get_console_output", context, timeout=5,
                          instance=INSTANCE) == f"console of {INSTANCE['uuid']}"
    else:
        with pytest.raises(exception.IncompatibleRPCVersion, match="the caller sent 1.0"):
            older.call("compute.host1", "get_console_output", context, timeout=5,
                       instance=INSTANCE)


def _refusals(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.ERROR and "serves RPC API" in r.getMessage()]


def _wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


@pytest.mark.parametrize("sent", ["2.0", "1.1"])
def test_a_cast_that_needs_a_newer_version_is_logged_and_not_done(make_bus, context, caplog,
                                                                  sent):
    caplog.set_level(logging.ERROR, logger="herder.bus.rpc")
    conductor = Conductor("1.0")
    make_bus().serve("conductor", conductor)
    client(ConductorAPI, sent, make_bus()).build_instance(context, instance_uuid="refused")
    assert _wait_for(lambda: _refusals(caplog))
    assert _refusals(caplog) == [
        f"{context.log_prefix()} conductor serves RPC API 1.0; the caller sent {sent} "
        f"(build_instance): upgrade conductor to a release that serves RPC API {sent}"]
    assert "Traceback" not in caplog.text   # nothing failed on the server: one line says it all

    # the server goes on serving the versions it knows
    ConductorAPI(make_bus()).build_instance(context, instance_uuid="served")
    assert conductor.done.wait(10)
    assert conductor.ran == ["served"]


def test_a_fanout_that_needs_a_newer_version_is_done_by_no_scheduler(make_bus, context,
                                                                     caplog):
    caplog.set_level(logging.ERROR, logger="herder.bus.rpc")
    schedulers = [Conductor("1.0"), Conductor("1.0")]
    for scheduler in schedulers:
        make_bus().serve("scheduler", scheduler, fanout=True)
    client(SchedulerAPI, "1.1", make_bus()).update_instance_info(
        context, host="host2", instance_uuid="refused", previous_host="host1")
    assert _wait_for(lambda: len(_refusals(caplog)) == 2)
    SchedulerAPI(make_bus()).update_instance_info(context, host="host2", instance_uuid="served")
    assert all(scheduler.done.wait(10) for scheduler in schedulers)
    assert [scheduler.ran for scheduler in schedulers] == [["served"], ["served"]]


@pytest.mark.parametrize("sent", ["1.1", "2.0"])
def test_a_cast_from_an_older_minor_is_done(make_bus, context, sent):
    conductor = Conductor("2.3" if sent == "2.0" else "1.4")
    make_bus().serve("conductor", conductor)
    client(ConductorAPI, sent, make_bus()).build_instance(context, instance_uuid="served")
    assert conductor.done.wait(10)
    assert conductor.ran == ["served"]
