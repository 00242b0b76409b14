"""Services of two releases during an upgrade, in a running cloud: a message that needs a newer
RPC API than its server serves is refused with the reason, and nothing of it is done."""
import logging

import pytest

from herder import exception, states
from herder.compute.agent import ComputeAgent
from herder.compute.rpcapi import ComputeAPI
from herder.conductor.manager import ConductorManager
from herder.conductor.rpcapi import ConductorAPI
from herder.context import admin_context
from herder.wire import instance_to_wire
from tests.functional.observe import (create_server, instance_record, wait_for_status,
                                      wait_until)


def next_major(version: str) -> str:
    return f"{int(version.split('.')[0]) + 1}.0"


def next_minor(version: str) -> str:
    major, minor = version.split(".")
    return f"{major}.{int(minor) + 1}"


def newer(api: type, version: str, bus, **options):
    """`api`'s client as the next release would have it, sending `version`."""
    return type(f"Newer{api.__name__}", (api,), {"version": version})(bus, **options)


def test_a_step_from_a_newer_conductor_is_refused_by_a_host_not_yet_upgraded(cloud, demo):
    server = create_server(demo)
    record = instance_record(cloud, server.id)
    served, sent = ComputeAgent.RPC_API_VERSION, next_major(ComputeAgent.RPC_API_VERSION)
    with pytest.raises(exception.IncompatibleRPCVersion) as refused:
        newer(ComputeAPI, sent, cloud.bus, timeout=10).get_console_output(
            admin_context(), record.host, instance=instance_to_wire(record))
    assert str(refused.value) == (
        f"compute.{record.host} serves RPC API {served}; the caller sent {sent} "
        f"(get_console_output): upgrade compute.{record.host} to a release that serves "
        f"RPC API {sent}")
    # this release's conductor still reaches the host
    assert ComputeAPI(cloud.bus, timeout=10).get_console_output(
        admin_context(), record.host, instance=instance_to_wire(record)) is not None


def test_a_request_from_a_newer_api_is_refused_by_a_conductor_not_yet_upgraded(cloud, demo,
                                                                              caplog):
    caplog.set_level(logging.ERROR, logger="herder.bus.rpc")
    server = create_server(demo)
    sent = next_minor(ConductorManager.RPC_API_VERSION)
    newer(ConductorAPI, sent, cloud.bus).stop_instance(admin_context(), instance_uuid=server.id)
    wait_until(lambda: f"the caller sent {sent} (stop_instance)" in caplog.text,
               message="the conductor's refusal in its log")
    record = instance_record(cloud, server.id)
    assert (record.vm_state, record.power_state) == (states.ACTIVE, states.RUNNING)
    assert cloud.computes[record.host].driver.power_state(server.id) == states.RUNNING

    # the api of this release is served as before
    demo.compute.stop_server(server.id)
    wait_for_status(demo, server.id, "SHUTOFF")



def test_only_what_a_service_s_client_names_can_be_called_over_the_bus(cloud, demo):
    """A conductor keeps public methods and attributes for its own service (recover, its move
    queue) and a compute host's agent public attributes (its tracker): a message naming one is
    refused like an unknown method, and nothing runs."""
    server = create_server(demo)
    host = instance_record(cloud, server.id).host
    refusals = [("conductor", "recover"), ("conductor", "move_queue"),
                (f"compute.{host}", "tracker"), (f"compute.{host}", "_log"),
                (f"compute.{host}", "no_such_step")]
    for topic, method in refusals:
        with pytest.raises(exception.RemoteError) as refused:
            cloud.bus.call(topic, method, admin_context(), timeout=10)
        assert "NoSuchMethod" in str(refused.value) and method in str(refused.value)
