"""The dashboard over HTTP (docs/dashboard.md): its login, what each caller sees, its actions
through the API's checks, CSRF, escaping, a failed move's history, and that a page polling its
live endpoint keeps one connection and costs the server nothing that grows."""
import json
import threading

import pytest

from tests.conftest import connect, make_cloud
from tests.functional.api_reads import set_policy
from tests.functional.browser import DashboardClient
from tests.functional.host_drain_api import call, servers_on, wait_finished
from tests.functional.observe import (create_server, instance_record, migrated, wait_for_status,
                                      wait_until)

MEMBER = "demo:demo:member,reader"


@pytest.fixture
def as_admin(cloud):
    client = DashboardClient(cloud, cloud.conf.admin_token)
    yield client
    client.close()


@pytest.fixture
def as_member(cloud):
    client = DashboardClient(cloud, MEMBER)
    yield client
    client.close()


def test_a_caller_without_a_token_gets_the_login_page(cloud):
    client = DashboardClient(cloud, "someone:somewhere")
    client.cookies = {}
    for path in ("/dashboard", "/dashboard/servers/x"):
        response = client.request("GET", path)
        assert response.status == 401
        assert b'<form method="post" action="/dashboard/login">' in response.body
    response = client.request("GET", "/dashboard/live", headers={"Accept": "application/json"})
    assert response.status == 401 and b'"login": "/dashboard/login"' in response.body
    # an API token in the header is not the dashboard's way in: only its cookie is
    response = client.request("GET", "/dashboard",
                              headers={"X-Auth-Token": cloud.conf.admin_token})
    assert response.status == 401
    client.close()


def test_login_keeps_the_token_in_an_http_only_cookie_of_the_dashboard_path(cloud):
    client = DashboardClient.__new__(DashboardClient)
    client.__init__(cloud, cloud.conf.admin_token)
    response = client.request("POST", "/dashboard/login", {"token": cloud.conf.admin_token})
    set_cookies = [v for k, v in response.getheaders() if k.lower() == "set-cookie"]
    assert len(set_cookies) == 2
    for cookie in set_cookies:
        assert "HttpOnly" in cookie and "Path=/dashboard" in cookie
        assert "SameSite=Strict" in cookie
    assert response.getheader("Location") == "/dashboard"
    empty = client.request("POST", "/dashboard/login", {"token": " "})
    assert empty.status == 400 and b"Enter a token." in empty.body
    # the cookie authenticates the dashboard only, never the API
    api = client.request("GET", "/v2.1/servers")
    assert api.status == 401
    client.close()


def test_a_refused_token_is_sent_back_to_log_in(cloud):
    client = DashboardClient(cloud, "not a valid token")
    response = client.request("GET", "/dashboard")
    assert response.status == 401
    assert b"Your token was refused or has expired" in response.body
    client.close()


def test_the_admin_sees_hosts_moves_and_every_project(cloud, admin, demo, as_admin):
    mine = create_server(admin, name="admins-vm")
    theirs = create_server(demo, name="<img src=x onerror=alert(1)>")
    page = as_admin.page()
    for title in ("Hosts", "Moves in flight", "Waiting in VERIFY_RESIZE", "Drain jobs",
                  "Recent moves", "Servers"):
        assert f"<h2>{title}" in page
    for host in cloud.computes:
        assert f'data-host="{host}"' in page
    assert f'data-server="{mine.id}"' in page and f'data-server="{theirs.id}"' in page
    # a server's name is the user's input: shown, never interpreted
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img src=x" not in page
    assert ">Migrate</button>" in page


def test_a_member_sees_their_project_only_and_no_admin_buttons(cloud, admin, demo,
                                                               as_member):
    create_server(admin, name="admins-vm")
    theirs = create_server(demo, name="moving")
    source = instance_record(cloud, theirs.id).host
    admin.compute.migrate_server(theirs)
    wait_for_status(demo, theirs.id, "VERIFY_RESIZE")
    other = create_server(demo, name="resting")
    page = as_member.page()
    assert "admins-vm" not in page
    assert f'data-server="{other.id}"' in page
    assert "<h2>Hosts" not in page and "<h2>Drain jobs" not in page
    assert "data-host=" not in page and "compute1" not in page   # no host names at all
    assert ">Migrate</button>" not in page and ">Abort</button>" not in page
    # a move waiting in VERIFY_RESIZE is no longer in flight: it waits for its confirm
    assert "No move in flight." in page
    # a member may confirm or revert their own move, as the API lets them
    assert ">Confirm</button>" in page and ">Revert</button>" in page
    # and may not see another project's server page
    hidden = create_server(admin, name="hidden")
    response = as_member.request("GET", f"/dashboard/servers/{hidden.id}")
    assert response.status == 404 and b"could not be found" in response.body
    assert as_member.act(theirs.id, "confirm").status == 202
    wait_for_status(demo, theirs.id, "ACTIVE")
    assert instance_record(cloud, theirs.id).host != source
    assert as_member.page(f"/dashboard/servers/{other.id}")
    # a server's page is what GET /servers/{id} shows: under its policy rule
    set_policy(cloud, {"os_compute_api:servers:show": "role:admin"})
    refused = as_member.request("GET", f"/dashboard/servers/{other.id}")
    assert refused.status == 403 and b"os_compute_api:servers:show" in refused.body


def test_actions_pass_the_api_policy_and_pre_checks(cloud, admin, demo, as_member, as_admin):
    server = create_server(demo)
    refused = as_member.act(server.id, "migrate")
    assert refused.status == 403
    assert b"os_compute_api:os-migrate-server:migrate" in refused.body
    assert as_member.act(server.id, "abort", migration_id="1").status == 403
    # an operator's policy file that lets members migrate lets the dashboard's button too
    set_policy(cloud, {"os_compute_api:os-migrate-server:migrate": "role:member"})
    assert as_member.act(server.id, "migrate").status == 202
    wait_for_status(demo, server.id, "VERIFY_RESIZE")
    # the operation's own pre-checks answer as the API does
    again = as_admin.act(server.id, "migrate")
    assert again.status == 409 and b"vm_state resized" in again.body.replace(b"'", b"")
    assert as_admin.act(server.id, "dance").status == 400
    bad_id = as_admin.act(server.id, "abort", migration_id="1; drop")
    assert bad_id.status == 400 and b"whole number" in bad_id.body
    assert as_admin.act(server.id, "revert").status == 202
    wait_for_status(demo, server.id, "ACTIVE")


def test_state_changes_need_the_csrf_token_and_this_origin(cloud, admin, as_admin):
    server, _, _ = migrated(cloud, admin)
    path = f"/dashboard/servers/{server.id}/actions"
    missing = as_admin.request("POST", path, {"action": "confirm"},
                               {"Accept": "application/json"})
    wrong = as_admin.request("POST", path, {"action": "confirm", "csrf": "guess"},
                             {"Accept": "application/json"})
    elsewhere = as_admin.request("POST", path, {"action": "confirm", "csrf": as_admin.csrf},
                                 {"Accept": "application/json",
                                  "Origin": "http://evil.example"})
    for response in (missing, wrong, elsewhere):
        assert response.status == 403, response.body
    assert admin.compute.get_server(server.id).status == "VERIFY_RESIZE"
    login_elsewhere = as_admin.request("POST", "/dashboard/login", {"token": "x:y"},
                                       {"Origin": "http://evil.example"})
    assert login_elsewhere.status == 403
    logout = as_admin.request("POST", "/dashboard/logout", {"csrf": as_admin.csrf})
    assert logout.status == 303
    gone = [v for k, v in logout.getheaders() if k.lower() == "set-cookie"]
    assert len(gone) == 2 and all('=""; expires=' in v for v in gone), gone


def test_a_failed_move_shows_its_fault_and_what_was_rolled_back(cloud, admin, as_admin):
    server = create_server(admin, name="unlucky")
    cloud.computes[instance_record(cloud, server.id).host].driver.fault_points.arm("power_off")
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "ACTIVE")   # rolled back to where it was
    page = wait_until(lambda: (p := as_admin.page(f"/dashboard/servers/{server.id}"))
                      and "Rolled back:" in p and "Fault: " in p and p,
                      message="the failed move in the server's history")
    assert "Fault: " in page and "injected fault" in page
    assert "<b>prep_resize</b>" in page and "compensated" in page
    assert 'class="failed"><b>compute_resize_instance</b>' in page
    assert "migration 1: error" in page
    # the member of another project cannot see it at all; the events' hosts are the admin's
    assert "compute_prep_resize</b> on compute" in page


def test_recent_moves_show_outcome_durations_and_a_chart(cloud, admin, as_admin):
    server, source, destination = migrated(cloud, admin)
    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    panel = wait_until(lambda: (p := as_admin.page()) and 'class="outcome confirmed"' in p and p,
                       message="the confirmed move among the recent ones")
    assert f"{source} → {destination}" in panel
    assert '<svg class="chart"' in panel and 'class="p-copy"' in panel
    assert 'class="p-boot"' in panel


def _connections_to(port: int) -> int:
    """Established TCP connections whose local end is `port`: the server's side of them."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if int(row[1].split(":")[1], 16) == port and row[3] == "01")


def _http_workers() -> int:
    """The api's HTTP worker threads (cheroot names them so), busy or idle."""
    return sum(1 for t in threading.enumerate() if t.name.startswith("CP Server"))


def test_a_page_left_open_reuses_one_connection_and_grows_nothing(cloud, admin, as_admin):
    """120 refreshes of the live endpoint, as a page open for two minutes makes: all on the
    one kept-alive connection, and the api holds no more worker threads or connections after
    them."""
    create_server(admin)
    for _ in range(10):   # warm: the database pool and the worker threads are made
        as_admin.page("/dashboard/live")
    connection = as_admin.connection
    socket_before = connection.sock
    workers_before = _http_workers()
    connections_before = _connections_to(cloud.port)
    for _ in range(120):
        response = as_admin.request("GET", "/dashboard/live",
                                    headers={"Accept": "application/json"})
        assert response.status == 200
        assert (response.getheader("Connection") or "").lower() != "close"
        assert connection.sock is socket_before   # never reconnected
    assert _http_workers() == workers_before
    assert _connections_to(cloud.port) <= connections_before


def test_an_admin_aborts_a_move_from_the_dashboard(tmp_path):
    """Abort, as DELETE /servers/{id}/migrations/{mid}: the move is rolled back and its
    migration ends cancelled; a second abort is refused with the API's conflict."""
    from tests.conftest import connect, make_cloud
    cloud = make_cloud(tmp_path, compute__fake_power_off_seconds=3)   # time to abort in
    client = DashboardClient(cloud, cloud.conf.admin_token)
    try:
        admin = connect(cloud, cloud.conf.admin_token)
        server = create_server(admin)
        source = instance_record(cloud, server.id).host
        admin.compute.migrate_server(server)
        page = wait_until(lambda: (p := client.page()) and ">Abort</button>" in p and p,
                          message="the move's Abort button")
        migration_id = page.split('name="migration_id" value="')[1].split('"')[0]
        response = client.act(server.id, "abort", migration_id=migration_id)
        assert response.status == 202, response.body
        again = client.act(server.id, "abort", migration_id=migration_id)
        assert again.status == 409 and b"being aborted already" in again.body
        wait_for_status(admin, server.id, "ACTIVE", timeout=30)
        history = wait_until(lambda: (p := client.page(f"/dashboard/servers/{server.id}"))
                             and f"migration {migration_id}: cancelled" in p and p,
                             message="the cancelled move in the history")
        assert "migration_cancel" in history
        assert instance_record(cloud, server.id).host == source
    finally:
        client.close()
        cloud.stop()


def test_moves_waiting_show_the_time_left_and_who_set_the_window(tmp_path):
    from herder.db import confirm_policies
    from tests.conftest import connect, make_cloud
    cloud = make_cloud(tmp_path, resize_confirm_window=3600)
    client = DashboardClient(cloud, cloud.conf.admin_token)
    try:
        admin = connect(cloud, cloud.conf.admin_token)
        demo = connect(cloud, MEMBER)
        migrated(cloud, admin)   # a move of the admin project: the cloud's window
        confirm_policies.put(cloud.db, "demo", 600, "revert")
        theirs = create_server(demo, name="demo-vm")
        admin.compute.migrate_server(theirs)
        wait_for_status(demo, theirs.id, "VERIFY_RESIZE")
        page = client.page()
        waiting = page.split('data-panel="waiting"')[1].split("</section>")[0]
        rows = waiting.split("<tr>")[2:]
        assert len(rows) == 2
        assert "59 min" in rows[0] and "then confirm" in rows[0]
        assert "from the cloud&#x27;s settings" in rows[0]
        assert "9 min" in rows[1] and "then revert" in rows[1]
        assert "project demo&#x27;s confirm policy" in rows[1]
    finally:
        client.close()
        cloud.stop()


def show_jobs(cloud) -> list[dict]:
    return call(cloud, "GET").json()["host_drains"]


def _live_drains(client) -> str:
    response = client.request("GET", "/dashboard/live", headers={"Accept": "application/json"})
    assert response.status == 200
    return json.loads(response.body)["panels"]["drains"]


def _message(response) -> str:
    return json.loads(response.body)["message"]


def test_an_admin_drains_pauses_resumes_and_restores_a_host_from_the_dashboard(tmp_path):
    """Every button of the drain panel through the API's checks and the drain operations, and
    the panel showing what GET /herder/v1/host-drains/{id} shows."""
    cloud = make_cloud(tmp_path, conductor__host_drain_interval=0.1)
    admin = connect(cloud, cloud.conf.admin_token)
    as_admin, as_member = DashboardClient(cloud, cloud.conf.admin_token), DashboardClient(
        cloud, MEMBER)
    try:
        servers = servers_on(admin, "compute1", 3)
        # a member: no drain panel, no drain form, and the rule's refusal
        page = as_member.page()
        assert "Drain jobs" not in page and "/dashboard/drains" not in page
        refused = as_member.drain("compute1")
        assert refused.status == 403 and "herder:host_drains:create" in _message(refused)
        # the admin: a drain form on each host; the API's own refusals, in its words
        page = as_admin.page()
        assert page.count('action="/dashboard/drains"') == len(cloud.computes)
        assert "No drain jobs." in page
        too_many = as_admin.drain("compute1", max_per_source="1001")
        assert too_many.status == 400 and "max_per_source" in _message(too_many)
        nowhere = as_admin.drain("nowhere")
        assert nowhere.status == 404
        assert _message(nowhere) == "Compute host nowhere could not be found."
        stale = as_admin.request("POST", "/dashboard/drains",
                                 {"csrf": "guess", "host": "compute1"},
                                 {"Accept": "application/json"})
        assert stale.status == 403 and show_jobs(cloud) == []

        started = as_admin.drain("compute1", reason="<b>BIOS</b>", max_per_source="1",
                                 auto_confirm="on")
        assert started.status == 202, started.body
        job_id = show_jobs(cloud)[0]["id"]
        assert _message(started) == f"Draining compute1: job {job_id}."
        assert as_admin.drain_action(job_id, "pause").status == 202
        again = as_admin.drain("compute1")
        assert again.status == 409 and job_id in _message(again)
        paused = _live_drains(as_admin)
        assert f'data-drain="{job_id}" data-status="paused"' in paused
        assert ">Resume</button>" in paused and ">Pause</button>" not in paused
        assert "&lt;b&gt;BIOS&lt;/b&gt;" in paused and "<b>BIOS" not in paused
        refused = as_admin.drain_action(job_id, "pause")
        assert refused.status == 409
        assert _message(refused) == f"Cannot pause host drain {job_id} while it is paused."
        assert as_admin.drain_action(job_id, "dance").status == 400
        assert as_admin.drain_action("not-a-job", "resume").status == 404

        assert as_admin.drain_action(job_id, "resume").status == 202
        done = wait_finished(cloud, job_id)
        assert done["status"] == "completed" and done["servers_by_state"]["moved"] == 3
        panel = _live_drains(as_admin)
        # what the API shows: every count, and each server's name, id, state, route, result
        counts = done["servers_by_state"]
        assert (f'<progress max="3" value="3"></progress> 3/3 servers · '
                f'<span class="count" data-state="moved">{counts["moved"]} done</span>') in panel
        for row in done["servers"]:
            assert (f'<tr data-drain-server="{row["server_id"]}" data-state="moved">'
                    in panel)
            assert f'compute1 → {row["destination_host"]}' in panel
            assert row["reason"] in panel
        assert {row["server_id"] for row in done["servers"]} == set(servers)
        assert all(f">vm{i}</a>" in panel for i in range(3))

        restored = as_admin.drain_action(job_id, "restore")
        assert restored.status == 202, restored.body
        restore = show_jobs(cloud)[0]
        assert restore["kind"] == "restore" and restore["drain_id"] == job_id
        assert _message(restored) == f"Restoring host compute1: new restore job {restore['id']}."
        assert wait_finished(cloud, restore["id"])["servers_by_state"]["moved"] == 3
        assert ">Restore</button>" in _live_drains(as_admin)   # the drain's, again
    finally:
        as_admin.close()
        as_member.close()
        cloud.stop()
