"""The compute API layer's pre-checks (herder/operations), below HTTP: which refusal wins when a
server is wrong in several ways at once, and that a refused request writes and casts nothing.

The HTTP tests (tests/functional/test_api_move_prechecks.py) pin the same order with the codes
and messages a client sees; these pin it where it is implemented, operation by operation.
"""
import uuid
from datetime import datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from herder import exception, operations, states
from herder.api import errors
from herder.conductor import recovery
from herder.conductor.rpcapi import ConductorAPI
from herder.conductor.workflows.lifecycle import POWER_OPERATIONS
from herder.context import RequestContext
from herder.db import flavors, instances
from herder.db.models import AcceptedRequest, Instance

FLAVOR = {"id": 1, "flavorid": "1", "vcpus": 1, "memory_mb": 512, "root_gb": 1,
          "ephemeral_gb": 0}


class RecordingBus:
    def __init__(self):
        self.casts = []

    def cast(self, topic, method, context, rpc_version=None, patience=None, **kwargs):
        self.casts.append((topic, method, kwargs))


@pytest.fixture
def svc(db, conf, hosts):
    hosts.add("compute1")
    hosts.add("compute2")
    bus = RecordingBus()
    return SimpleNamespace(conf=conf, db=db, bus=bus, conductor=ConductorAPI(bus))


@pytest.fixture
def member():
    return RequestContext(user_id="u", project_id="p", roles=["member"])


@pytest.fixture
def admin():
    return RequestContext(user_id="a", project_id="admin", roles=["admin"], is_admin=True)


def wrong_in_every_way(db) -> Instance:
    """Locked, in ERROR, powering off, never launched, on no host."""
    with db.transaction() as session:
        row = Instance(uuid=str(uuid.uuid4()), display_name="vm", project_id="p", user_id="u",
                       flavor=FLAVOR, vm_state=states.ERROR, task_state=states.POWERING_OFF,
                       locked=True, locked_by="owner", image_ref="image")
        session.add(row)
    return instances.get(db, row.uuid)


def fix(db, instance: Instance, **values) -> Instance:
    return instances.update(db, instance.uuid, **values)


def refusal(call) -> tuple[type, str]:
    with pytest.raises(exception.HerderError) as caught:
        call()
    return type(caught.value), str(caught.value)


def invalid(action: str, instance: Instance, attr: str, state) -> tuple[type, str]:
    return (exception.InstanceInvalidState,
            f"Cannot '{action}' instance {instance.uuid} while it is in {attr} {state}")


def test_a_move_is_refused_on_the_first_precheck_that_still_applies(svc, member, admin):
    flavors.create(svc.db, flavorid="2", name="bigger", vcpus=2, memory_mb=1024, root_gb=1,
                   ephemeral_gb=0, swap=0, rxtx_factor=1.0, is_public=True, disabled=False,
                   extra_specs={})
    server = wrong_in_every_way(svc.db)
    moves = {"migrate": lambda who, s: operations.migrate(svc, who, s, None),
             "resize": lambda who, s: operations.resize(svc, who, s, "2")}
    for action, move in moves.items():
        assert refusal(lambda: move(member, server)) == (
            exception.InstanceIsLocked, f"Instance {server.uuid} is locked")
        assert refusal(lambda: move(admin, server)) == invalid(action, server, "vm_state",
                                                               states.ERROR)
    steps = [({"vm_state": states.ACTIVE}, "task_state", states.POWERING_OFF),
             ({"task_state": None}, "launched_at", None)]
    for values, attr, state in steps:
        server = fix(svc.db, server, **values)
        for action, move in moves.items():
            assert refusal(lambda: move(admin, server)) == invalid(action, server, attr, state)
    server = fix(svc.db, server, launched_at=datetime.utcnow())
    for move in moves.values():
        assert refusal(lambda: move(admin, server)) == (
            exception.InstanceNotReady, f"Instance {server.uuid} is not ready")
    server = fix(svc.db, server, host="compute3")   # a host with no compute service
    for move in moves.values():
        assert refusal(lambda: move(admin, server))[0] is exception.ComputeServiceUnavailable
    server = fix(svc.db, server, host="compute1")
    # the action's own checks come last
    assert refusal(lambda: operations.migrate(svc, admin, server, "compute1")) == (
        exception.Invalid, "Cannot migrate to the host where the server exists.")
    assert refusal(lambda: operations.resize(svc, admin, server, "1"))[0] is exception.Invalid
    assert instances.get(svc.db, server.uuid).task_state is None
    assert svc.bus.casts == []
    operations.migrate(svc, admin, server, "compute2")
    assert instances.get(svc.db, server.uuid).task_state == states.RESIZE_PREP
    [(topic, method, arguments)] = svc.bus.casts
    request_uuid = arguments.pop("request_uuid")
    assert (topic, method, arguments) == ("conductor", "migrate_server",
                                          {"instance_uuid": server.uuid, "flavor": None,
                                           "host": "compute2"})
    # the cast names the request recorded with the task state, which waits for a conductor
    with svc.db.transaction() as session:
        recorded = session.scalars(select(AcceptedRequest)).one()
        assert (recorded.uuid, recorded.method, recorded.arguments) == (
            request_uuid, "migrate_server", arguments)


def test_confirm_and_revert_need_an_unlocked_resized_server_with_a_finished_move(svc, member,
                                                                                 admin):
    server = wrong_in_every_way(svc.db)
    for action, finish in (("confirmResize", operations.confirm_resize),
                           ("revertResize", operations.revert_resize)):
        assert refusal(lambda: finish(svc, member, server))[0] is exception.InstanceIsLocked
        assert refusal(lambda: finish(svc, admin, server)) == invalid(action, server,
                                                                      "vm_state", states.ERROR)
        resized = fix(svc.db, server, vm_state=states.RESIZED)
        assert refusal(lambda: finish(svc, admin, resized)) == invalid(
            action, resized, "task_state", states.POWERING_OFF)
        # launched_at is not asked for: a resized server without a move is not resized
        resized = fix(svc.db, server, task_state=None)
        assert refusal(lambda: finish(svc, admin, resized)) == (
            exception.Invalid, "Instance has not been resized.")
        server = fix(svc.db, server, vm_state=states.ERROR, task_state=states.POWERING_OFF)
    assert svc.bus.casts == []


@pytest.mark.parametrize("operation", sorted(POWER_OPERATIONS))
def test_a_power_operation_checks_lock_then_vm_state_then_task_state_then_launch(
        svc, member, admin, operation):
    accepted = states.ACCEPTED[operation]

    def change(who, server):
        if operation in ("stop", "start"):
            return getattr(operations, operation)(svc, who, server)
        return operations.change_guest(svc, who, server, operation)
    server = wrong_in_every_way(svc.db)
    assert refusal(lambda: change(member, server))[0] is exception.InstanceIsLocked
    server = fix(svc.db, server, vm_state=states.DELETED)
    assert refusal(lambda: change(admin, server)) == invalid(accepted.action, server,
                                                             "vm_state", states.DELETED)
    server = fix(svc.db, server, vm_state=accepted.vm_states[0])
    assert refusal(lambda: change(admin, server)) == invalid(
        accepted.action, server, "task_state", states.POWERING_OFF)
    server = fix(svc.db, server, task_state=None)
    assert refusal(lambda: change(admin, server)) == invalid(accepted.action, server,
                                                             "launched_at", None)
    server = fix(svc.db, server, launched_at=datetime.utcnow(), host="compute1")
    change(admin, server)
    assert instances.get(svc.db, server.uuid).task_state == accepted.task_state
    assert len(svc.bus.casts) == 1


def test_a_delete_is_refused_while_locked_then_while_a_move_runs(svc, member, admin):
    server = fix(svc.db, wrong_in_every_way(svc.db), task_state=states.RESIZE_MIGRATING)
    assert refusal(lambda: operations.delete(svc, member, server))[0] is exception.InstanceIsLocked
    assert refusal(lambda: operations.delete(svc, admin, server)) == (
        exception.Conflict, f"Cannot 'delete' instance {server.uuid} while it is in task_state "
                            f"{states.RESIZE_MIGRATING}")
    server = fix(svc.db, server, task_state=states.POWERING_OFF)
    operations.delete(svc, admin, server)
    operations.delete(svc, admin, server)   # already being deleted: accepted, nothing more
    assert instances.get(svc.db, server.uuid).task_state == states.DELETING
    assert [method for _, method, _ in svc.bus.casts] == ["delete_instance"]


def test_operations_that_share_a_task_state_are_put_back_alike():
    """Recovery knows a lost request only by the task state it left."""
    by_task_state = {}
    for accepted in states.ACCEPTED.values():
        lost = (accepted.when_lost, accepted.lost_clears)
        assert by_task_state.setdefault(accepted.task_state, lost) == lost


def test_the_power_workflow_expects_the_task_states_the_api_sets():
    for name, operation in POWER_OPERATIONS.items():
        assert (operation.action, operation.task_state) == (
            states.ACCEPTED[name].action, states.ACCEPTED[name].task_state)


def test_recovery_puts_back_what_the_api_accepted():
    assert set(recovery._ACCEPTED_BY_TASK_STATE) == {
        states.SCHEDULING, states.DELETING, states.RESIZE_PREP, states.RESIZE_REVERTING,
        states.POWERING_OFF, states.POWERING_ON, states.PAUSING, states.UNPAUSING,
        states.SUSPENDING, states.RESUMING, states.REBOOTING, states.REBOOTING_HARD}
    assert set(recovery._ACCEPTED_MIGRATION_STATUSES) == {states.MIGRATION_CONFIRMING,
                                                          states.MIGRATION_REVERTING}


@pytest.mark.parametrize("error, code", [
    (exception.Invalid("bad"), 400),
    (exception.QuotaExceeded("over"), 403),
    (exception.MetadataLimitExceeded(allowed=3), 403),
    (exception.InstanceNotFound(instance_id="x"), 404),
    (exception.InstanceIsLocked(instance_uuid="x"), 409),
    (exception.ComputeServiceUnavailable(), 409),
    (exception.ConsoleUnavailable(instance_uuid="x", host="h"), 503)])
def test_the_api_answers_each_refusal_with_novas_code_and_its_message(error, code):
    with pytest.raises(errors.ApiError) as caught, errors.refusals_as_errors():
        raise error
    assert (caught.value.code, caught.value.message) == (code, str(error))


def test_an_error_that_is_no_refusal_stays_a_server_error():
    error = exception.DriverError(step="spawn", host="h", reason="broken")
    with pytest.raises(exception.DriverError), errors.refusals_as_errors():
        raise error
