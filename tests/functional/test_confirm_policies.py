"""Confirm policies: when a move waiting in VERIFY_RESIZE is confirmed or reverted by herder
itself, set per flavor (extra specs), per project (herder's API) and for the cloud (options),
driven through the Compute API with openstacksdk and herder's API over HTTP."""
import logging
import threading
import time
from contextlib import contextmanager

import pytest
import requests

from herder import confirm_policy
from tests.conftest import connect, make_cloud
from tests.functional.observe import (assert_consistent, create_server, instance_record,
                                      migration_of, wait_for_status, wait_until)

# long enough that nothing the test waits for can be the cloud's doing
NEVER_IN_THIS_TEST = 3600
MEMBER_OF_DEMO, MEMBER_OF_OTHER = "demo:demo:member,reader", "eve:other:member,reader"


def policy_url(cloud, project_id: str) -> str:
    return f"{cloud.endpoint}/herder/v1/projects/{project_id}/confirm-policy"


def herder_api(cloud, method: str, project_id: str, token: str, body=None):
    return requests.request(method, policy_url(cloud, project_id), json=body, timeout=10,
                            headers={"X-Auth-Token": token})


def set_project_policy(cloud, project_id: str, **policy) -> None:
    answer = herder_api(cloud, "PUT", project_id, cloud.conf.admin_token,
                        {"confirm_policy": policy})
    assert answer.status_code == 200, answer.text


def flavor_with(admin, name: str, **specs):
    """A flavor like m1.tiny (so any server of m1.tiny may resize to it) with extra specs."""
    flavor = admin.compute.create_flavor(name=name, ram=512, vcpus=1, disk=1)
    admin.compute.create_flavor_extra_specs(flavor, {k: str(v) for k, v in specs.items()})
    return flavor


def resized(cloud, conn, flavor):
    """A new m1.tiny server of `conn`'s project resized to `flavor`, in VERIFY_RESIZE:
    (server, source host)."""
    server = create_server(conn)
    source = instance_record(cloud, server.id).host
    conn.compute.resize_server(server, flavor.id)
    wait_for_status(conn, server.id, "VERIFY_RESIZE")
    return server, source


def migrated_server(cloud, admin, owner):
    """A new server of `owner`'s project, migrated by the admin: (server, source host)."""
    server = create_server(owner)
    source = instance_record(cloud, server.id).host
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    return server, source


def actions_of(conn, server_id: str) -> list[str]:
    return sorted(a.action for a in conn.compute.server_actions(server_id))


def still_waiting_after(cloud, admin, server_id: str, seconds: float) -> None:
    """The move has not been confirmed or reverted `seconds` after it finished."""
    time.sleep(seconds)
    assert admin.compute.get_server(server_id).status == "VERIFY_RESIZE"
    assert migration_of(cloud, server_id).status == "finished"


@pytest.fixture
def logged(caplog):
    caplog.set_level(logging.INFO, logger="herder.conductor.expired_resizes")
    return caplog


@pytest.fixture
def slow_cloud(tmp_path):
    """A cloud whose own window is long: what confirms sooner is a flavor's or a project's."""
    with running_cloud(tmp_path, resize_confirm_window=NEVER_IN_THIS_TEST) as cloud:
        yield cloud


@contextmanager
def running_cloud(tmp_path, **settings):
    cloud = make_cloud(tmp_path, **settings)
    try:
        yield cloud
    finally:
        cloud.stop()


# -- flavors ---------------------------------------------------------------------------------

def test_a_flavors_window_confirms_sooner_than_the_clouds(slow_cloud, logged):
    cloud = slow_cloud
    admin, demo = connect(cloud, cloud.conf.admin_token), connect(cloud, MEMBER_OF_DEMO)
    quick = flavor_with(admin, "m1.quick", **{confirm_policy.WINDOW_SPEC: 1})
    server, source = resized(cloud, demo, quick)
    wait_for_status(demo, server.id, "ACTIVE", timeout=10)
    record = instance_record(cloud, server.id)
    assert record.host != source and record.flavor["name"] == "m1.quick"
    assert migration_of(cloud, server.id).status == "confirmed"
    assert actions_of(admin, server.id) == ["confirmResize", "create", "resize"]
    confirm = next(a for a in admin.compute.server_actions(server.id)
                   if a.action == "confirmResize")
    assert confirm.user_id == "herder"   # herder's own doing, not the user's
    assert (f"Automatically confirming migration {migration_of(cloud, server.id).uuid} "
            "(window 1 s from flavor m1.quick (extra specs), action confirm from the "
            "cloud's [DEFAULT] resize_confirm_window and resize_confirm_action)") in logged.text
    assert_consistent(cloud)


def test_a_flavor_with_window_0_never_confirms_while_the_clouds_would(tmp_path):
    with running_cloud(tmp_path, resize_confirm_window=1) as cloud:
        admin, demo = connect(cloud, cloud.conf.admin_token), connect(cloud, MEMBER_OF_DEMO)
        kept = flavor_with(admin, "m1.kept", **{confirm_policy.WINDOW_SPEC: 0})
        server, _ = resized(cloud, demo, kept)
        # the cloud's window, on a move to a flavor without a window of its own, does run
        other, _ = migrated_server(cloud, admin, demo)
        wait_for_status(admin, other.id, "ACTIVE", timeout=10)
        still_waiting_after(cloud, admin, server.id, 1)
        demo.compute.confirm_server_resize(server)
        wait_for_status(demo, server.id, "ACTIVE")
        assert_consistent(cloud)


def test_a_flavor_set_to_revert_reverts_to_the_source_and_the_old_flavor(slow_cloud, logged):
    cloud = slow_cloud
    admin, demo = connect(cloud, cloud.conf.admin_token), connect(cloud, MEMBER_OF_DEMO)
    trial = flavor_with(admin, "m1.trial", **{confirm_policy.WINDOW_SPEC: 1,
                                              confirm_policy.ACTION_SPEC: "revert"})
    server, source = resized(cloud, demo, trial)
    assert instance_record(cloud, server.id).host != source
    wait_until(lambda: migration_of(cloud, server.id).status == "reverted", timeout=10,
               message="the automatic revert")
    wait_for_status(demo, server.id, "ACTIVE")
    record = instance_record(cloud, server.id)
    assert record.host == source and record.flavor["name"] == "m1.tiny"
    assert (record.old_flavor, record.new_flavor) == (None, None)
    assert demo.compute.get_server(server.id).flavor["original_name"] == "m1.tiny"
    assert actions_of(admin, server.id) == ["create", "resize", "revertResize"]
    assert "Automatically reverting migration" in logged.text
    assert "action revert from flavor m1.trial (extra specs)" in logged.text
    assert_consistent(cloud)


# -- projects --------------------------------------------------------------------------------

def test_a_project_policy_applies_to_that_project_only(slow_cloud, logged):
    cloud = slow_cloud
    admin = connect(cloud, cloud.conf.admin_token)
    demo, other = connect(cloud, MEMBER_OF_DEMO), connect(cloud, MEMBER_OF_OTHER)
    set_project_policy(cloud, "demo", window=1)
    ours, _ = migrated_server(cloud, admin, demo)
    theirs, _ = migrated_server(cloud, admin, other)
    wait_for_status(demo, ours.id, "ACTIVE", timeout=10)
    assert migration_of(cloud, ours.id).status == "confirmed"
    assert "window 1 s from project demo's confirm policy" in logged.text
    still_waiting_after(cloud, admin, theirs.id, 1)
    assert_consistent(cloud)


def test_a_project_set_to_revert_puts_its_migrated_servers_back(slow_cloud):
    cloud = slow_cloud
    admin, demo = connect(cloud, cloud.conf.admin_token), connect(cloud, MEMBER_OF_DEMO)
    set_project_policy(cloud, "demo", window=1, action="revert")
    server, source = migrated_server(cloud, admin, demo)
    wait_until(lambda: migration_of(cloud, server.id).status == "reverted", timeout=10,
               message="the automatic revert")
    wait_for_status(demo, server.id, "ACTIVE")
    assert instance_record(cloud, server.id).host == source
    assert actions_of(admin, server.id) == ["create", "migrate", "revertResize"]
    assert_consistent(cloud)


def test_the_flavor_wins_over_the_project_setting_by_setting(slow_cloud, logged):
    """The flavor gives the window, the project the action (docs/workflow.md)."""
    cloud = slow_cloud
    admin, demo = connect(cloud, cloud.conf.admin_token), connect(cloud, MEMBER_OF_DEMO)
    set_project_policy(cloud, "demo", window=NEVER_IN_THIS_TEST, action="revert")
    quick = flavor_with(admin, "m1.quick", **{confirm_policy.WINDOW_SPEC: 1})
    server, source = resized(cloud, demo, quick)
    wait_until(lambda: migration_of(cloud, server.id).status == "reverted", timeout=10,
               message="the automatic revert")
    assert ("window 1 s from flavor m1.quick (extra specs), action revert from project "
            "demo's confirm policy") in logged.text
    wait_for_status(demo, server.id, "ACTIVE")
    assert instance_record(cloud, server.id).host == source
    assert_consistent(cloud)


# -- racing a user ---------------------------------------------------------------------------

def test_a_users_confirm_racing_the_automatic_revert_leaves_one_outcome(slow_cloud):
    """The user confirms as the window runs out, a little before, at, or a little after: the
    compare-and-swap of the migration lets one of the two through, and the server ends as
    that one leaves it, with that one action recorded."""
    cloud = slow_cloud
    admin, demo = connect(cloud, cloud.conf.admin_token), connect(cloud, MEMBER_OF_DEMO)
    trial = flavor_with(admin, "m1.trial", **{confirm_policy.WINDOW_SPEC: 1,
                                              confirm_policy.ACTION_SPEC: "revert"})
    offsets = (0.9, 0.95, 1.0, 1.02, 1.05, 1.1)
    servers = [create_server(demo, name=f"vm{n}") for n in range(len(offsets))]
    sources = {s.id: instance_record(cloud, s.id).host for s in servers}
    answers = {}

    def confirm_at(server, offset: float) -> None:
        wait_until(lambda: getattr(migration_of(cloud, server.id), "status", None) ==
                   "finished", timeout=30, interval=0.005, message="the move finished")
        finished_at = time.monotonic()
        time.sleep(max(0.0, offset - (time.monotonic() - finished_at)))
        answers[server.id] = demo.compute.post(f"/servers/{server.id}/action",
                                               json={"confirmResize": None}).status_code

    threads = []
    for server, offset in zip(servers, offsets):
        demo.compute.resize_server(server, trial.id)
        threads.append(threading.Thread(target=confirm_at, args=(server, offset)))
        threads[-1].start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == len(servers)
    for server in servers:
        outcome = wait_until(lambda: migration_of(cloud, server.id).status in (
            "confirmed", "reverted") and migration_of(cloud, server.id).status, timeout=20,
            message="the move confirmed or reverted")
        wait_for_status(demo, server.id, "ACTIVE")
        done = [a for a in actions_of(admin, server.id) if a in ("confirmResize",
                                                                  "revertResize")]
        if answers[server.id] == 204:      # the user's confirm won
            assert (outcome, done) == ("confirmed", ["confirmResize"])
            assert instance_record(cloud, server.id).host != sources[server.id]
        else:                              # herder's revert won; the user was told so
            assert answers[server.id] in (400, 409)
            assert (outcome, done) == ("reverted", ["revertResize"])
            assert instance_record(cloud, server.id).host == sources[server.id]
    assert_consistent(cloud)


# -- the production default ------------------------------------------------------------------

def test_by_default_nothing_is_confirmed_or_reverted(tmp_path):
    """Window 0 and no policies (and the default periodic interval): the move waits."""
    with running_cloud(tmp_path, compute__periodic_interval=1.0) as cloud:
        assert (cloud.conf.resize_confirm_window, cloud.conf.resize_confirm_action) == \
            (0, "confirm")
        admin, demo = connect(cloud, cloud.conf.admin_token), connect(cloud, MEMBER_OF_DEMO)
        server, _ = migrated_server(cloud, admin, demo)
        still_waiting_after(cloud, admin, server.id, 3)
        assert actions_of(admin, server.id) == ["create", "migrate"]


# -- the API ---------------------------------------------------------------------------------

def test_a_project_policy_round_trip(cloud):
    token = cloud.conf.admin_token
    assert herder_api(cloud, "GET", "demo", token).status_code == 404
    answer = herder_api(cloud, "PUT", "demo", token,
                        {"confirm_policy": {"window": 600, "action": "revert"}})
    assert answer.status_code == 200
    assert answer.json() == {"confirm_policy": {"project_id": "demo", "window": 600,
                                                "action": "revert"}}
    assert herder_api(cloud, "GET", "demo", token).json() == answer.json()
    # a PUT replaces the whole policy: what it leaves out is the cloud's again
    answer = herder_api(cloud, "PUT", "demo", token, {"confirm_policy": {"window": 0}})
    assert answer.json()["confirm_policy"] == {"project_id": "demo", "window": 0,
                                               "action": None}
    assert herder_api(cloud, "GET", "other", token).status_code == 404
    answer = herder_api(cloud, "DELETE", "demo", token)
    assert (answer.status_code, answer.text) == (204, "")
    answer = herder_api(cloud, "GET", "demo", token)
    assert answer.status_code == 404
    assert answer.json() == {"itemNotFound": {
        "code": 404, "message": "Project demo has no confirm policy."}}
    assert herder_api(cloud, "DELETE", "demo", token).status_code == 404


@pytest.mark.parametrize("body", [
    {"confirm_policy": {"window": -1}},
    {"confirm_policy": {"window": "60"}},
    {"confirm_policy": {"window": 1.5}},
    {"confirm_policy": {"window": True}},
    {"confirm_policy": {"window": 2 ** 31}},
    {"confirm_policy": {"action": "explode"}},
    {"confirm_policy": {"action": "confirm", "after": 5}},
    {"confirm_policy": {}},
    {"confirm_policy": {"window": None, "action": None}},
    {"window": 60},
    None,
])
def test_bad_project_policies_are_400_in_the_compute_apis_format(cloud, body):
    answer = herder_api(cloud, "PUT", "demo", cloud.conf.admin_token, body)
    assert answer.status_code == 400, answer.text
    assert set(answer.json()) == {"badRequest"}
    assert answer.json()["badRequest"]["code"] == 400
    assert herder_api(cloud, "GET", "demo", cloud.conf.admin_token).status_code == 404


def test_a_project_id_no_project_can_have_is_400(cloud):
    answer = herder_api(cloud, "GET", "x" * 256, cloud.conf.admin_token)
    assert answer.status_code == 400 and "badRequest" in answer.json()


@pytest.mark.parametrize("method, body", [
    ("GET", None), ("PUT", {"confirm_policy": {"window": 1}}), ("DELETE", None)])
def test_members_may_not_read_or_set_even_their_own_projects_policy(cloud, method, body):
    answer = herder_api(cloud, method, "demo", MEMBER_OF_DEMO, body)
    assert answer.status_code == 403
    rule = {"GET": "show", "PUT": "update", "DELETE": "delete"}[method]
    assert answer.json() == {"forbidden": {"code": 403, "message": (
        f"Policy doesn't allow herder:projects:confirm_policy:{rule} to be performed.")}}
    assert requests.get(policy_url(cloud, "demo"), timeout=10).status_code == 401


@pytest.mark.parametrize("microversion", ["2.1", "2.86"])
@pytest.mark.parametrize("specs", [
    {confirm_policy.WINDOW_SPEC: "-1"}, {confirm_policy.WINDOW_SPEC: "soon"},
    {confirm_policy.ACTION_SPEC: "explode"}, {"herder:resize_confirm_windw": "5"}])
def test_bad_flavor_confirm_specs_are_400_at_every_microversion(cloud, admin, microversion,
                                                                 specs):
    answer = admin.compute.post("/flavors/1/os-extra_specs", json={"extra_specs": specs},
                                microversion=microversion)
    assert answer.status_code == 400
    assert answer.json()["badRequest"]["message"].startswith("Validation failed; extra spec")
    assert admin.compute.get("/flavors/1/os-extra_specs").json()["extra_specs"] == {}


def test_good_flavor_confirm_specs_are_stored(cloud, admin):
    specs = {confirm_policy.WINDOW_SPEC: "0", confirm_policy.ACTION_SPEC: "revert"}
    answer = admin.compute.post("/flavors/1/os-extra_specs", json={"extra_specs": specs})
    assert answer.status_code == 200 and answer.json()["extra_specs"] == specs
