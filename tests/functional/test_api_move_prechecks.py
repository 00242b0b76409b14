"""The pre-checks of migrate, resize, confirmResize and revertResize (docs/api-contract.md), row
by row, with the exact code and message a Nova client sees; and the bodies real clients send."""
import socket
import threading
import uuid

import requests
from sqlalchemy import select

from herder import states
from herder.db import flavors as flavor_db
from herder.db.models import (Flavor, FlavorProject, InstanceAction, InstanceActionEvent,
                              Migration, Quota)
from tests.conftest import connect
from tests.functional.contract import (action, assert_error, error_message, raw,
                                       set_compute_service, set_instance, silence_compute)
from tests.functional.observe import (assert_consistent, create_server, instance_record,
                                      wait_for_status, wait_until)

MIGRATE = {"migrate": None}
CONFIRM = {"confirmResize": None}
REVERT = {"revertResize": None}


def resize_to(flavor_ref: str) -> dict:
    return {"resize": {"flavorRef": flavor_ref}}


def not_found(server_id: str) -> str:
    return f"Instance {server_id} could not be found."


def denied(rule: str) -> str:
    return f"Policy doesn't allow {rule} to be performed."


def invalid(action_name: str, server_id: str, attr: str, value) -> str:
    return f"Cannot '{action_name}' instance {server_id} while it is in {attr} {value}"


def schema_error(field: str, value, reason: str) -> str:
    return f"Invalid input for field/attribute {field}. Value: {value}. {reason}"


def migrations_of(cloud, server_id: str) -> list[Migration]:
    with cloud.db.transaction() as session:
        return list(session.scalars(select(Migration).where(
            Migration.instance_uuid == server_id).order_by(Migration.id)))


def actions_of(cloud, server_id: str, name: str | None = None) -> list[InstanceAction]:
    with cloud.db.transaction() as session:
        query = select(InstanceAction).where(InstanceAction.instance_uuid == server_id)
        if name is not None:
            query = query.where(InstanceAction.action == name)
        return list(session.scalars(query.order_by(InstanceAction.id)))


def events_of(cloud, action_row: InstanceAction) -> list[InstanceActionEvent]:
    with cloud.db.transaction() as session:
        return list(session.scalars(select(InstanceActionEvent).where(
            InstanceActionEvent.action_id == action_row.id).order_by(InstanceActionEvent.id)))


def assert_untouched(cloud, server_id: str) -> None:
    """A refused request changed nothing: still ACTIVE at rest, no migration record."""
    record = instance_record(cloud, server_id)
    assert (record.vm_state, record.task_state) == (states.ACTIVE, None)
    assert migrations_of(cloud, server_id) == []


def make_flavor(cloud, flavorid: str, vcpus: int = 1, ram: int = 512, disk: int = 1,
                ephemeral: int = 0, public: bool = True, disabled: bool = False) -> None:
    flavor_db.create(cloud.db, flavorid=flavorid, name=f"flavor-{flavorid}", vcpus=vcpus,
                     memory_mb=ram, root_gb=disk, ephemeral_gb=ephemeral, swap=0,
                     rxtx_factor=1.0, is_public=public, disabled=disabled, extra_specs={})


def migrate_to_verify_resize(cloud, admin, server_id: str) -> str:
    """Cold-migrate as admin until VERIFY_RESIZE; returns the source host."""
    source = instance_record(cloud, server_id).host
    assert action(admin, server_id, MIGRATE).status_code == 202
    wait_for_status(admin, server_id, "VERIFY_RESIZE")
    return source


# -- row 1: the body's schema, before anything else ---------------------------------------------

MIGRATE_V256_SCHEMA_FAILURES = [
    ({"migrate": {"host": "bad host!"}},
     schema_error("host", "bad host!", "'bad host!' does not match '^[a-zA-Z0-9-._]*$'")),
    ({"migrate": {"host": "compute2/"}},
     schema_error("host", "compute2/", "'compute2/' does not match '^[a-zA-Z0-9-._]*$'")),
    ({"migrate": {"host": ""}}, schema_error("host", "", "'' should be non-empty")),
    ({"migrate": {"host": "h" * 256}},
     schema_error("host", "h" * 256, f"'{'h' * 256}' is too long")),
    ({"migrate": {"host": 7}}, schema_error("host", 7, "7 is not of type 'string', 'null'")),
    ({"migrate": {"host": "compute2", "force": True}},
     schema_error("migrate", {"host": "compute2", "force": True},
                  "Additional properties are not allowed ('force' was unexpected)")),
    ({"migrate": "compute2"},
     schema_error("migrate", "compute2", "'compute2' is not of type 'object', 'null'")),
]

RESIZE_SCHEMA_FAILURES = [
    ({"resize": {}}, schema_error("resize", {}, "'flavorRef' is a required property")),
    ({"resize": None}, schema_error("resize", None, "None is not of type 'object'")),
    ({"resize": {"flavorRef": "2", "name": "bigger"}},
     schema_error("resize", {"flavorRef": "2", "name": "bigger"},
                  "Additional properties are not allowed ('name' was unexpected)")),
    ({"resize": {"flavorRef": ""}}, schema_error("flavorRef", "", "'' should be non-empty")),
    ({"resize": {"flavorRef": True}},
     schema_error("flavorRef", True, "True is not of type 'string', 'integer'")),
    ({"resize": {"flavorRef": "2", "OS-DCF:diskConfig": "SOMETIMES"}},
     schema_error("OS-DCF:diskConfig", "SOMETIMES",
                  "'SOMETIMES' is not one of ['AUTO', 'MANUAL']")),
]


def test_migrate_host_schema_failures_at_2_56_are_400_with_novas_message(cloud, admin):
    server = create_server(admin)
    for body, message in MIGRATE_V256_SCHEMA_FAILURES:
        assert_error(action(admin, server.id, body, "2.56"), 400, message)
    assert_untouched(cloud, server.id)
    assert actions_of(cloud, server.id, "migrate") == []


def test_resize_schema_failures_are_400_with_novas_message(cloud, demo):
    server = create_server(demo)
    for body, message in RESIZE_SCHEMA_FAILURES:
        assert_error(action(demo, server.id, body), 400, message)
    assert_untouched(cloud, server.id)


def test_schema_is_checked_before_existence_and_policy(cloud, demo):
    """A bad body is a 400 for a server that does not exist, and for a caller whom the policy
    would refuse (a member migrating): the schema row comes first."""
    missing = str(uuid.uuid4())
    bad_host, message = MIGRATE_V256_SCHEMA_FAILURES[0]
    assert_error(action(demo, missing, bad_host, "2.56"), 400, message)
    server = create_server(demo)
    assert_error(action(demo, server.id, bad_host, "2.56"), 400, message)
    no_flavor, message = RESIZE_SCHEMA_FAILURES[0]
    assert_error(action(demo, missing, no_flavor), 400, message)


# -- row 2: not found / not visible ---------------------------------------------------------------

def test_a_missing_or_foreign_server_is_404_for_every_move_action(cloud, admin, demo,
                                                                 other_project):
    server = create_server(demo)
    missing = str(uuid.uuid4())
    for body in (MIGRATE, resize_to("2"), CONFIRM, REVERT):
        assert_error(action(admin, missing, body), 404, not_found(missing))
        assert_error(action(admin, "not-a-uuid", body), 404, not_found("not-a-uuid"))
        # another project's server is invisible, so 404 comes before migrate's 403
        assert_error(action(other_project, server.id, body), 404, not_found(server.id))
    assert_error(action(other_project, server.id, {"migrate": {"host": "compute2"}}, "2.56"),
                 404, not_found(server.id))
    assert_untouched(cloud, server.id)


# -- row 3: policy --------------------------------------------------------------------------------

def test_members_may_not_migrate_and_readers_may_not_resize(cloud, demo):
    server = create_server(demo)
    assert_error(action(demo, server.id, MIGRATE), 403,
                 denied("os_compute_api:os-migrate-server:migrate"))
    assert_error(action(demo, server.id, {"migrate": {}}, "2.56"), 403,
                 denied("os_compute_api:os-migrate-server:migrate"))
    # naming a host is its own rule (Nova checks migrate:host instead of migrate)
    assert_error(action(demo, server.id, {"migrate": {"host": "compute2"}}, "2.56"), 403,
                 denied("os_compute_api:os-migrate-server:migrate:host"))
    # before 2.56 the host is ignored: a plain migrate
    assert_error(action(demo, server.id, {"migrate": {"host": "compute2"}}, "2.55"), 403,
                 denied("os_compute_api:os-migrate-server:migrate"))
    reader = connect(cloud, "rita:demo:reader")
    assert_error(action(reader, server.id, resize_to("2")), 403,
                 denied("os_compute_api:servers:resize"))
    assert_untouched(cloud, server.id)


# -- rows 4-9: lock, vm_state, task_state, launched, host, source service, in Nova's order -------

def test_state_prechecks_apply_in_spec_order(cloud, admin, demo):
    """One server made wrong in every way at once, then fixed one way at a time: each request
    fails on the first row of the table that still applies."""
    server = create_server(demo)
    sid, source = server.id, instance_record(cloud, server.id).host
    assert demo.compute.post(f"/servers/{sid}/action", json={"lock": None}).status_code == 202
    set_instance(cloud, sid, vm_state=states.ERROR, task_state=states.POWERING_OFF,
                 launched_at=None, host=None)

    assert_error(action(demo, sid, resize_to("2")), 409, f"Instance {sid} is locked")
    # admins are not held by the lock: next row
    assert_error(action(admin, sid, MIGRATE), 409, invalid("migrate", sid, "vm_state", "error"))
    assert_error(action(admin, sid, resize_to("2")), 409,
                 invalid("resize", sid, "vm_state", "error"))

    set_instance(cloud, sid, vm_state=states.ACTIVE)
    assert_error(action(admin, sid, MIGRATE), 409,
                 invalid("migrate", sid, "task_state", "powering-off"))
    assert_error(action(admin, sid, resize_to("2")), 409,
                 invalid("resize", sid, "task_state", "powering-off"))

    set_instance(cloud, sid, task_state=None)
    assert_error(action(admin, sid, MIGRATE), 409, invalid("migrate", sid, "launched_at", None))
    assert_error(action(admin, sid, resize_to("2")), 409,
                 invalid("resize", sid, "launched_at", None))

    set_instance(cloud, sid, launched_at=instance_record(cloud, sid).created_at)
    assert_error(action(admin, sid, MIGRATE), 409, f"Instance {sid} is not ready")
    assert_error(action(admin, sid, resize_to("2")), 409, f"Instance {sid} is not ready")

    set_instance(cloud, sid, host=source)
    silence_compute(cloud, source)
    for body, version in ((MIGRATE, None), ({"migrate": {"host": source}}, "2.56"),
                          (resize_to("2"), None)):
        assert_error(action(admin, sid, body, version), 409,
                     "Service is unavailable at this time.")

    set_instance(cloud, sid, locked=False, locked_by=None)
    assert_error(action(demo, sid, resize_to("2")), 409, "Service is unavailable at this time.")
    # nothing was started by any of these refusals
    assert migrations_of(cloud, sid) == []
    assert actions_of(cloud, sid, "migrate") == actions_of(cloud, sid, "resize") == []
    assert instance_record(cloud, sid).task_state is None


def test_a_resized_server_cannot_move_again_and_its_lock_holds_its_owner(cloud, admin, demo):
    server = create_server(demo)
    sid = server.id
    migrate_to_verify_resize(cloud, admin, sid)
    assert_error(action(demo, sid, resize_to("2")), 409,
                 invalid("resize", sid, "vm_state", "resized"))
    assert_error(action(admin, sid, MIGRATE), 409, invalid("migrate", sid, "vm_state", "resized"))

    assert demo.compute.post(f"/servers/{sid}/action", json={"lock": None}).status_code == 202
    for body in (CONFIRM, REVERT, resize_to("2")):
        assert_error(action(demo, sid, body), 409, f"Instance {sid} is locked")
    assert migrations_of(cloud, sid)[-1].status == states.MIGRATION_FINISHED
    # an admin is not held by the lock
    assert action(admin, sid, REVERT).status_code == 202
    wait_for_status(admin, sid, "ACTIVE")
    assert action(admin, sid, MIGRATE).status_code == 202
    wait_for_status(admin, sid, "VERIFY_RESIZE")


def test_a_forced_down_source_refuses_moves(cloud, admin, demo):
    server = create_server(demo)
    set_compute_service(cloud, instance_record(cloud, server.id).host, forced_down=True)
    assert_error(action(admin, server.id, MIGRATE), 409, "Service is unavailable at this time.")
    assert_error(action(demo, server.id, resize_to("2")), 409,
                 "Service is unavailable at this time.")
    assert_untouched(cloud, server.id)


# -- rows 10-11: migrate to a named host ----------------------------------------------------------

def test_migrate_to_the_current_or_an_unknown_host_is_400(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    assert_error(action(admin, server.id, {"migrate": {"host": source}}, "2.56"), 400,
                 "Cannot migrate to the host where the server exists.")
    assert_error(action(admin, server.id, {"migrate": {"host": "compute9"}}, "2.56"), 400,
                 "Compute host compute9 could not be found.")
    # a host that runs herder services, but no compute
    control = socket.gethostname()
    assert_error(action(admin, server.id, {"migrate": {"host": control}}, "2.56"), 400,
                 f"Compute host {control} could not be found.")
    assert_untouched(cloud, server.id)

    target = next(h for h in sorted(cloud.computes) if h != source)
    assert action(admin, server.id, {"migrate": {"host": target}}, "2.56").status_code == 202
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    assert instance_record(cloud, server.id).host == target


# -- rows 12-16: resize's own checks --------------------------------------------------------------

def test_resize_to_a_flavor_the_caller_cannot_use_is_400(cloud, admin, demo):
    server = create_server(demo)
    make_flavor(cloud, "private-big", ram=1024, public=False)
    make_flavor(cloud, "retired", ram=1024, disabled=True)
    assert_error(action(demo, server.id, resize_to("999")), 400, "Flavor 999 could not be found.")
    assert_error(action(demo, server.id, resize_to("private-big")), 400,
                 "Flavor private-big could not be found.")
    assert_error(action(demo, server.id, resize_to("retired")), 400,
                 "Flavor retired could not be found.")
    assert_error(action(admin, server.id, resize_to("retired")), 400,
                 "Flavor retired could not be found.")
    assert_untouched(cloud, server.id)

    # once the project has access, the private flavor is usable
    flavor = flavor_db.get(cloud.db, "private-big")
    with cloud.db.transaction() as session:
        session.add(FlavorProject(flavor_id=flavor.id, project_id="demo"))
    assert action(demo, server.id, resize_to("private-big")).status_code == 202
    wait_for_status(demo, server.id, "VERIFY_RESIZE")
    assert instance_record(cloud, server.id).flavor["flavorid"] == "private-big"


def test_resize_to_the_same_flavor_is_400_even_when_that_flavor_is_disabled(cloud, demo):
    server = create_server(demo)
    same = "When resizing, instances must change flavor!"
    assert_error(action(demo, server.id, resize_to("1")), 400, same)
    assert_error(action(demo, server.id, {"resize": {"flavorRef": 1}}), 400, same)
    with cloud.db.transaction() as session:
        session.scalars(select(Flavor).where(Flavor.flavorid == "1")).one().disabled = True
    # Nova: a disabled flavor only hides it as a *new* flavor
    assert_error(action(demo, server.id, resize_to("1")), 400, same)
    assert_untouched(cloud, server.id)


def test_resize_refuses_to_shrink_or_zero_a_disk(cloud, demo):
    make_flavor(cloud, "zero-disk", ram=1024, disk=0)
    make_flavor(cloud, "with-ephemeral", ram=1024, disk=20, ephemeral=5)
    make_flavor(cloud, "big-root-no-ephemeral", ram=2048, disk=40, ephemeral=0)
    small = create_server(demo, name="small", flavor="m1.small")      # 20 GB root
    assert_error(action(demo, small.id, resize_to("zero-disk")), 400,
                 "Server disk was unable to be resized because: "
                 "Resize to zero disk flavor is not allowed.")
    message = error_message(action(demo, small.id, resize_to("1")), 400)   # 20 GB -> 1 GB
    assert message.startswith("Server disk was unable to be resized because: "), message
    assert_untouched(cloud, small.id)

    with_ephemeral = create_server(demo, name="eph", flavor="flavor-with-ephemeral")
    message = error_message(action(demo, with_ephemeral.id, resize_to("big-root-no-ephemeral")),
                            400)
    assert "ephemeral" in message, message
    assert_untouched(cloud, with_ephemeral.id)


def test_resize_over_quota_is_403_with_novas_message(cloud, admin, demo):
    server = create_server(demo)        # m1.tiny: 1 vcpu, 512 MB
    with cloud.db.transaction() as session:
        session.add(Quota(project_id="demo", resource="ram", hard_limit=1024))
        session.add(Quota(project_id="demo", resource="cores", hard_limit=1))
    # m1.small is +1536 MB: 512 + 1536 > 1024
    assert_error(action(demo, server.id, resize_to("2")), 403,
                 "Quota exceeded for ram: Requested 1536, but already used 512 of 1024 ram")
    make_flavor(cloud, "two-cpus", vcpus=2, ram=512)
    assert_error(action(demo, server.id, resize_to("two-cpus")), 403,
                 "Quota exceeded for cores: Requested 1, but already used 1 of 1 cores")
    assert_untouched(cloud, server.id)

    # migrate counts no quota
    assert action(admin, server.id, MIGRATE).status_code == 202
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    assert action(admin, server.id, CONFIRM).status_code == 204
    wait_for_status(admin, server.id, "ACTIVE")
    # exactly at the limit is allowed: 512 + 1536 == 2048
    with cloud.db.transaction() as session:
        session.scalars(select(Quota).where(Quota.project_id == "demo",
                                            Quota.resource == "ram")).one().hard_limit = 2048
    assert action(demo, server.id, resize_to("2")).status_code == 202
    wait_for_status(demo, server.id, "VERIFY_RESIZE")


# -- rows 17-19: confirm and revert ---------------------------------------------------------------

def test_confirm_and_revert_need_a_resized_server(cloud, demo):
    server = create_server(demo)
    assert_error(action(demo, server.id, CONFIRM), 409,
                 invalid("confirmResize", server.id, "vm_state", "active"))
    assert_error(action(demo, server.id, REVERT), 409,
                 invalid("revertResize", server.id, "vm_state", "active"))
    # resized, but there is no finished migration to act on
    set_instance(cloud, server.id, vm_state=states.RESIZED)
    assert_error(action(demo, server.id, CONFIRM), 400, "Instance has not been resized.")
    assert_error(action(demo, server.id, REVERT), 400, "Instance has not been resized.")
    assert instance_record(cloud, server.id).task_state is None
    assert actions_of(cloud, server.id, "confirmResize") == []
    assert actions_of(cloud, server.id, "revertResize") == []


def test_confirm_and_revert_refuse_a_server_with_a_task_in_progress(cloud, admin, demo):
    server = create_server(demo)
    migrate_to_verify_resize(cloud, admin, server.id)
    set_instance(cloud, server.id, task_state=states.RESIZE_REVERTING)
    assert_error(action(demo, server.id, CONFIRM), 409,
                 invalid("confirmResize", server.id, "task_state", "resize_reverting"))
    assert_error(action(demo, server.id, REVERT), 409,
                 invalid("revertResize", server.id, "task_state", "resize_reverting"))
    assert migrations_of(cloud, server.id)[-1].status == states.MIGRATION_FINISHED


def test_confirm_needs_the_source_compute_up(cloud, admin, demo):
    server = create_server(demo)
    source = migrate_to_verify_resize(cloud, admin, server.id)
    silence_compute(cloud, source)
    assert_error(action(demo, server.id, CONFIRM), 409, "Service is unavailable at this time.")
    assert_error(action(admin, server.id, CONFIRM), 409, "Service is unavailable at this time.")
    assert migrations_of(cloud, server.id)[-1].status == states.MIGRATION_FINISHED
    assert wait_for_status(demo, server.id, "VERIFY_RESIZE", timeout=0.1)


def test_reset_state_clears_an_error_but_never_strands_a_move_awaiting_confirm(cloud, admin):
    """os-resetState puts an ERROR server back to active; in VERIFY_RESIZE it is a 409, since a
    reset there would leave the move's source copy and allocation with nothing to free them
    (the fuzzer found it: reset, then migrate again, leaked the first move's allocation)."""
    broken = create_server(admin)
    set_instance(cloud, broken.id, vm_state=states.ERROR)
    assert action(admin, broken.id, {"os-resetState": {"state": "active"}}).status_code == 202
    assert (instance_record(cloud, broken.id).vm_state,
            actions_of(cloud, broken.id)[-1].action) == (states.ACTIVE, "resetState")

    moved = create_server(admin)
    migrate_to_verify_resize(cloud, admin, moved.id)
    for state in ("active", "error"):
        assert_error(action(admin, moved.id, {"os-resetState": {"state": state}}), 409,
                     invalid("os-resetState", moved.id, "vm_state", "resized"))
    assert migrations_of(cloud, moved.id)[-1].status == states.MIGRATION_FINISHED
    assert action(admin, moved.id, CONFIRM).status_code == 204
    wait_for_status(admin, moved.id, "ACTIVE")
    wait_until(lambda: migrations_of(cloud, moved.id)[-1].status == states.MIGRATION_CONFIRMED,
               message="the confirm to finish")
    assert_consistent(cloud)


# -- row 20: no valid host ------------------------------------------------------------------------

def test_no_valid_host_is_accepted_then_recorded_on_the_migration_and_the_action(cloud, admin):
    server = create_server(admin)
    source = instance_record(cloud, server.id).host
    for host in cloud.computes:
        if host != source:
            set_compute_service(cloud, host, disabled=True, disabled_reason="test")
    resp = action(admin, server.id, MIGRATE)
    assert resp.status_code == 202 and resp.text == ""
    request_id = resp.headers["x-openstack-request-id"]

    migration = wait_until(lambda: next((m for m in migrations_of(cloud, server.id)
                                         if m.status == states.MIGRATION_ERROR), None),
                           message="the migration to fail")
    assert "No valid host" in (migration.error_reason or ""), migration.error_reason
    migrate_action = wait_until(lambda: next((a for a in actions_of(cloud, server.id, "migrate")
                                              if a.finish_time is not None), None),
                                message="the migrate action to finish")
    assert migrate_action.request_id == request_id
    assert migrate_action.message == "Error"
    failed = [e for e in events_of(cloud, migrate_action) if e.result == "Error"]
    assert failed and "No valid host" in (failed[0].details or failed[0].traceback or "")

    back = wait_for_status(admin, server.id, "ACTIVE")
    assert back.task_state is None
    assert instance_record(cloud, server.id).host == source
    assert_consistent(cloud)


# -- row 21: a concurrent state change between check and save -------------------------------------

def _race(cloud, token: str, requests_to_send: list[tuple]) -> list[int]:
    """Send (server id, body) actions, or (server id, "DELETE"), at the same moment, each on
    its own connection."""
    barrier = threading.Barrier(len(requests_to_send))
    codes: list[int | None] = [None] * len(requests_to_send)

    def send(i: int, server_id: str, body) -> None:
        url = f"{cloud.endpoint}/v2.1/servers/{server_id}"
        with requests.Session() as session:
            session.headers["X-Auth-Token"] = token
            barrier.wait()
            if body == "DELETE":
                codes[i] = session.delete(url, timeout=10).status_code
            else:
                codes[i] = session.post(f"{url}/action", json=body, timeout=10).status_code

    threads = [threading.Thread(target=send, args=(i, sid, body))
               for i, (sid, body) in enumerate(requests_to_send)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    return codes


def test_concurrent_moves_of_one_server_one_wins_the_others_get_409(cloud, admin):
    token = cloud.conf.admin_token
    servers = [create_server(admin, name=f"race-{i}") for i in range(3)]
    for server in servers:
        codes = _race(cloud, token, [(server.id, MIGRATE)] * 4 + [(server.id, resize_to("2"))] * 4)
        assert sorted(codes) == [202] + [409] * 7, codes
        assert len(migrations_of(cloud, server.id)) <= 1
        started = actions_of(cloud, server.id, "migrate") + actions_of(cloud, server.id, "resize")
        assert len(started) == 1
    for server in servers:
        wait_for_status(admin, server.id, "VERIFY_RESIZE")
        assert len(migrations_of(cloud, server.id)) == 1

    # confirm and revert racing on one finished move: exactly one of them happens
    for server in servers:
        codes = _race(cloud, token, [(server.id, CONFIRM), (server.id, REVERT)] * 3)
        assert sorted(codes).count(409) == 5 and set(codes) - {409} in ({202}, {204}), codes
    for server in servers:
        wait_for_status(admin, server.id, "ACTIVE")
    assert_consistent(cloud)


def test_deleting_a_server_while_its_move_is_confirmed_is_never_a_500(cloud, admin):
    """Deleting in VERIFY_RESIZE confirms first; racing a user's confirm, one of them takes the
    move and the other is told so (409), or finds the server gone (404)."""
    token = cloud.conf.admin_token
    servers = [create_server(admin, name=f"doomed-{i}") for i in range(3)]
    for server in servers:
        migrate_to_verify_resize(cloud, admin, server.id)
    for server in servers:
        codes = _race(cloud, token, [(server.id, "DELETE"), (server.id, CONFIRM)] * 2)
        assert all(code in (204, 404, 409) for code in codes), codes
        assert 204 in codes, codes
    for server in servers:   # whoever won, the server can be deleted now
        wait_until(lambda: admin.compute.delete(f"/servers/{server.id}").status_code
                   in (204, 404), message=f"a delete of {server.id} to be accepted")
        wait_until(lambda: admin.compute.get(f"/servers/{server.id}").status_code == 404,
                   message=f"{server.id} to be deleted")
    assert_consistent(cloud)


# -- the bodies different clients send (SDK, novaclient, tempest) ---------------------------------

def test_every_clients_migrate_confirm_and_revert_bodies_are_accepted(cloud, admin):
    migrate_bodies = [(None, {"migrate": None}),            # openstacksdk / OSC
                      (None, {"migrate": {}}),              # novaclient, tempest
                      ("2.56", {"migrate": None}),
                      ("2.56", {"migrate": {}}),
                      ("2.56", {"migrate": {"host": None}}),
                      # before 2.56 the body is not validated and a host is ignored
                      ("2.55", {"migrate": {"host": "not a host!"}}),
                      ("2.1", {"migrate": "anything"})]
    servers = [create_server(admin, name=f"body-{i}") for i in range(len(migrate_bodies))]
    sources = {s.id: instance_record(cloud, s.id).host for s in servers}
    for server, (version, body) in zip(servers, migrate_bodies):
        resp = action(admin, server.id, body, version)
        assert resp.status_code == 202 and resp.text == "", (body, version, resp.text)
    for server in servers:
        wait_for_status(admin, server.id, "VERIFY_RESIZE")
        assert instance_record(cloud, server.id).host != sources[server.id]

    finish_bodies = [({"confirmResize": None}, 204), ({"confirmResize": {}}, 204),
                     ({"revertResize": None}, 202), ({"revertResize": {}}, 202),
                     ({"confirmResize": None}, 204), ({"revertResize": {}}, 202),
                     ({"confirmResize": {}}, 204)]
    for server, (body, code) in zip(servers, finish_bodies):
        resp = action(admin, server.id, body)
        assert resp.status_code == code and resp.text == "", (body, resp.status_code, resp.text)
    for server, (body, _) in zip(servers, finish_bodies):
        wait_for_status(admin, server.id, "ACTIVE")
        moved_back = "revertResize" in body
        assert (instance_record(cloud, server.id).host == sources[server.id]) == moved_back
    assert_consistent(cloud)


def test_unknown_actions_and_broken_bodies_are_400(cloud, admin):
    server = create_server(admin)
    token = cloud.conf.admin_token
    missing = str(uuid.uuid4())
    # the action is looked up before the server
    for sid in (server.id, missing):
        assert_error(action(admin, sid, {"fooBar": None}), 400, "There is no such action: fooBar")
        assert_error(action(admin, sid, {"os-migrateLive": {"host": None}}), 400,
                     "There is no such action: os-migrateLive")
    path = f"/v2.1/servers/{server.id}/action"
    for data in (b'{"migrate": ', b"migrate", b"", b"[]", b'"migrate"', b"null", b"42",
                 b'{"migrate": null, "resize": {"flavorRef": "2"}}', b"{}",
                 b'{"migrate": null}\xff'):
        assert_error(raw(cloud, "POST", path, token, data=data), 400, "Malformed request body")
    assert_untouched(cloud, server.id)


def test_odd_bodies_never_cause_a_500(cloud, admin, demo):
    """A 500 must never happen for any client input."""
    server = create_server(demo)
    odd = [{"migrate": []}, {"migrate": {"host": ["compute2"]}}, {"migrate": {"host": {}}},
           {"resize": []}, {"resize": "2"}, {"resize": {"flavorRef": {"id": "2"}}},
           {"resize": {"flavorRef": 1.5}}, {"resize": {"flavorRef": 10 ** 40}},
           {"resize": {"flavorRef": "\u0000"}}, {"resize": {"flavorRef": "../../2"}},
           {"resize": {"flavorRef": "x" * 10000}}, {"confirmResize": "yes"},
           {"confirmResize": []}, {"revertResize": 7}, {"revertResize": {"force": True}},
           {"lock": "please"}, {"os-resetState": None}, {"os-resetState": {"state": "bogus"}},
           {"": None}, {"migrate" * 1000: None}]
    for conn in (admin, demo):
        for version in ("2.1", "2.56", "latest"):
            for body in odd:
                resp = action(conn, server.id, body, version)
                assert resp.status_code < 500, (body, version, resp.status_code, resp.text)
                if resp.status_code >= 400:
                    error_message(resp, resp.status_code)
                else:  # something was accepted: let it settle before the next request
                    wait_until(lambda: instance_record(cloud, server.id).task_state is None,
                               message="the accepted action to settle")
