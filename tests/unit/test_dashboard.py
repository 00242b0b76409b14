"""The dashboard's pieces without a cloud: the cookie standing for the token, escaping in
every panel, the chart, the drain panel."""
from datetime import datetime, timedelta

import pytest

from herder.api import errors
from herder.dashboard import chart, drains, session, views
from herder.dashboard.data import HostRow, MoveRow, ServerRow, Usage, WaitingRow
from herder.dashboard.history import ActionRow, EventRow, StepRow
from herder.dashboard.html import duration
from herder.dashboard.recent import RecentMove

HOSTILE = '"><script>alert(1)</script>'
NOW = datetime(2026, 12, 7, 12, 0, 0)


def _through(path: str, cookie: str | None, header: str | None = None) -> dict:
    """The environ the app behind token_from_cookie sees."""
    seen = {}
    environ = {"PATH_INFO": path}
    if cookie is not None:
        environ["HTTP_COOKIE"] = cookie
    if header is not None:
        environ["HTTP_X_AUTH_TOKEN"] = header
    session.token_from_cookie(lambda env, start: seen.update(env))(environ, None)
    return seen


def test_the_cookie_is_the_token_on_dashboard_paths_only():
    cookie = f"{session.TOKEN_COOKIE}={session._encode('demo:demo:member,reader')}"
    assert _through("/dashboard", cookie)["HTTP_X_AUTH_TOKEN"] == "demo:demo:member,reader"
    assert _through("/dashboard/live", cookie)["HTTP_X_AUTH_TOKEN"] == \
        "demo:demo:member,reader"
    # the API never takes the cookie, and keeps its own header
    assert "HTTP_X_AUTH_TOKEN" not in _through("/v2.1/servers", cookie)
    assert _through("/v2.1/servers", cookie, "t")["HTTP_X_AUTH_TOKEN"] == "t"
    assert "HTTP_X_AUTH_TOKEN" not in _through("/dashboardx", cookie)
    # the dashboard never takes the header: its cookie is its one way in
    assert "HTTP_X_AUTH_TOKEN" not in _through("/dashboard", None, "admin-token")


_NUL = "a\x00b"


@pytest.mark.parametrize("cookie", [f"{session.TOKEN_COOKIE}=!!!", f"{session.TOKEN_COOKIE}=",
                                    f"{session.TOKEN_COOKIE}={session._encode('a' * 9000)}",
                                    f"{session.TOKEN_COOKIE}={session._encode(_NUL)}",
                                    'broken="cookie', "other=1"])
def test_a_cookie_that_holds_no_token_authenticates_nothing(cookie):
    assert "HTTP_X_AUTH_TOKEN" not in _through("/dashboard", cookie)


def test_a_login_form_without_a_usable_token_is_refused_in_words():
    with pytest.raises(ValueError, match="Enter a token"):
        session.check_token("   ")
    with pytest.raises(ValueError, match="control characters"):
        session.check_token("a\nb")
    assert session.check_token(" admin-token ") == "admin-token"


def test_every_panel_escapes_what_users_wrote():
    usage = Usage(1, 4)
    pages = [
        views.hosts_panel([HostRow(HOSTILE, "disabled", HOSTILE, usage, usage, usage, 1, 0,
                                   1, 0, 8)]),
        views.moves_panel([MoveRow(1, HOSTILE, HOSTILE, HOSTILE, "migration", HOSTILE,
                                   HOSTILE, "migrating", "copy", 40, 100, 40, 3.0, False,
                                   True)], HOSTILE),
        views.waiting_panel([WaitingRow(2, "id", HOSTILE, "a", "b", 10, 60, "confirm",
                                        HOSTILE, True, True)], "csrf"),
        views.servers_panel([ServerRow("id", HOSTILE, HOSTILE, "ACTIVE", HOSTILE, True)],
                            "csrf"),
        views.recent_panel([RecentMove(3, "id", HOSTILE, "migration", HOSTILE, HOSTILE,
                                       "error", NOW, 5.0, 1.0, 2.0, 2.0)], 6),
        views.history_panel([ActionRow("migrate", "req-1", HOSTILE, NOW, NOW, "Error",
                                       [EventRow("compute_resize_instance", HOSTILE, NOW, NOW,
                                                 "Error", HOSTILE)], 3, "error", HOSTILE,
                                       [StepRow("prep_resize", "destination", "compensated",
                                                HOSTILE)])]),
        drains.panel([_drain_job(HOSTILE)], HOSTILE),
        drains.drain_form(HOSTILE, HOSTILE),
        views.hosts_panel([HostRow(HOSTILE, "up", None, usage, usage, usage, 0, 0, 0, 0, 8)],
                          lambda host: drains.drain_form(host, "csrf")),
        views.login_page(HOSTILE, keystone=False),
    ]
    for page in pages:
        assert "<script>" not in page
        assert "&lt;script&gt;" in page or "&quot;&gt;" in page


def test_the_chart_stacks_each_moves_phases_at_its_time():
    moves = [RecentMove(1, "a", "vm-a", "migration", "c1", "c2", "confirmed",
                        NOW - timedelta(hours=1), 9.0, 1.0, 6.0, 2.0),
             RecentMove(2, "b", "vm-b", "migration", "c1", "c2", "error",
                        NOW - timedelta(hours=2), 2.0, 2.0, None, None)]
    svg = chart.durations_chart(moves, 6, now=NOW)
    assert svg.count("<rect ") == 4   # three phases, then the one a failed move reached
    assert svg.count('class="p-copy"') == 1 and svg.count('class="p-power-off"') == 2
    assert "9.0 s" in svg   # the tallest bar names the axis
    assert "no move" not in svg.lower()
    assert "No move" in chart.durations_chart([RecentMove(
        3, "c", "vm-c", "migration", None, None, "error", NOW, None, None, None, None)], 6,
        now=NOW)


def _drain_job(text: str, status: str = "running", buttons=("pause", "cancel")):
    """A job in the API's shape (herder/api/handlers/host_drains.py `view`), with `text` in
    every field a user or an operator wrote."""
    counts = {"waiting": 2, "moving": 1, "moved": 3, "failed": 1, "skipped": 1,
              "cancelled": 0, "deleted": 0}
    servers = [{"server_id": f"id-{i}", "state": state, "source_host": text,
                "destination_host": text if state == "moved" else None, "reason": text}
               for i, state in enumerate(["moved", "failed", "skipped"])]
    return drains.DrainJob(
        {"id": text, "kind": "drain", "host": text, "status": status, "reason": text,
         "max_per_source": 1, "max_per_destination": 2, "auto_confirm": True,
         "drain_id": None, "user_id": text, "created_at": "2026-12-07T12:00:00.000000",
         "servers_total": sum(counts.values()), "servers_by_state": counts,
         "servers": servers},
        {"id-0": text}, buttons)


def test_a_drain_job_shows_its_progress_each_servers_result_and_its_buttons():
    page = drains.panel([_drain_job("vm")], "csrf")
    # 5 of 8 at rest (moved, failed, skipped); the first four counts always, others if any
    assert '<progress max="8" value="5">' in page and "5/8 servers" in page
    for state, shown in (("moved", "3 done"), ("moving", "1 moving"), ("waiting", "2 waiting"),
                         ("failed", "1 failed"), ("skipped", "1 skipped")):
        assert f'data-state="{state}">{shown}</span>' in page
    assert 'data-state="deleted">' not in page
    assert page.count("<tr data-drain-server=") == 3
    assert '<a href="/dashboard/servers/id-0">vm</a>' in page   # a name where the server lives
    assert ">Pause</button>" in page and ">Cancel</button>" in page
    assert ">Resume</button>" not in page and ">Restore</button>" not in page
    assert 'action="/dashboard/drains/vm/actions"' in page
    assert "No drain jobs." in drains.panel([], "csrf")


def test_the_drain_form_becomes_the_apis_body():
    body = drains.drain_body({"host": "compute1", "reason": " BIOS ", "max_per_source": "3",
                              "max_per_destination": "", "auto_confirm": "on"})
    assert body == {"host_drain": {"host": "compute1", "reason": "BIOS", "max_per_source": 3,
                                   "auto_confirm": True}}
    assert drains.drain_body({"host": "c"})["host_drain"] == {"host": "c",
                                                              "auto_confirm": False}
    with pytest.raises(errors.ApiError, match="max_per_source"):
        drains.drain_body({"host": "c", "max_per_source": "-1"})


@pytest.mark.parametrize("seconds, shown", [(None, "-"), (0.25, "0.2 s"), (42.4, "42 s"),
                                            (185, "3 min 05 s"), (7800, "2 h 10 min")])
def test_durations_read_as_people_say_them(seconds, shown):
    assert duration(seconds) == shown
