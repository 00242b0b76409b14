"""The operator's dashboard: web pages the api serves under /dashboard (docs/dashboard.md).

Server-rendered HTML and one small script, no build chain, every asset served from here. It
reads the records the API reads and acts through the same operations layer
(herder/operations), behind the same authentication and the same policy rules.

    access.py    what the caller may see and do, from the API's policy rules
    session.py   the login cookie, its translation into the API's token header, CSRF checks
    data.py      reads: hosts, moves in flight, moves waiting in VERIFY_RESIZE, servers
    history.py   reads: a server's actions and events, the rollbacks of a failed move
    recent.py    reads: recent moves, their outcome and the durations of their phases
    drains.py    the drain jobs' panel: apart, because the drain API is being built elsewhere
    html.py      escaping and the small HTML pieces every view uses
    views.py     the pages and panels, rendered
    chart.py     the inline SVG chart of move durations
    actions.py   confirm, revert, abort, migrate: policy, then herder/operations
    handlers.py  the Falcon resources and their routes
"""
PREFIX = "/dashboard"


def is_dashboard_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")
