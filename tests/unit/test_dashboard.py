"""The dashboard's pieces without a cloud: the cookie standing for the token, escaping in
every panel, the chart, the drain panel."""
from datetime import datetime, timedelta

import pytest

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
        drains.panel([{"kind": "drain", "host": HOSTILE, "status": "running",
                       "servers_by_state": {"moved": 1},
                       "servers": [{"server_id": HOSTILE, "state": "failed",
                                    "reason": HOSTILE}]}]),
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


def test_the_drain_panel_says_when_drains_are_not_available():
    assert "not available in this release" in drains.panel(None)
    assert "No drain jobs." in drains.panel([])


@pytest.mark.parametrize("seconds, shown", [(None, "-"), (0.25, "0.2 s"), (42.4, "42 s"),
                                            (185, "3 min 05 s"), (7800, "2 h 10 min")])
def test_durations_read_as_people_say_them(seconds, shown):
    assert duration(seconds) == shown
