"""The drain jobs' panel, apart from the rest: host drains and restores (herder's API,
/herder/v1/host-drains) are being built on their own branch and are not in this release yet.

`drain_jobs` is the one place that reads them. Until the drain API is merged it answers None
("not available") and the panel says so; once it is, it returns the jobs newest first as the
API's body shows each (`{"id", "kind", "host", "status", "reason", "servers_by_state",
"servers": [{"server_id", "state", "source_host", "destination_host", "reason"}]}`), and the
panel renders them as they are, with pause / resume / cancel / restore buttons posted to
DRAIN_ACTIONS_URL through the drain operations (see docs/dashboard.md, "Drain jobs").
"""
from herder.dashboard.access import Access
from herder.dashboard.html import cells, esc, table

# the counts a job's progress shows, in this order
PROGRESS_STATES = ("moved", "moving", "waiting", "failed", "skipped", "cancelled", "deleted")
JOB_ROWS = 10


def drain_jobs(api, access: Access) -> list[dict] | None:
    """The newest drain and restore jobs the caller may see; None: this release has none."""
    return None


def panel(jobs: list[dict] | None) -> str:
    if jobs is None:
        return ('<p class="empty">Host drains are not available in this release of herder: '
                'the drain API (/herder/v1/host-drains) is not installed.</p>')
    rows = []
    for job in jobs[:JOB_ROWS]:
        counts = job.get("servers_by_state") or {}
        done = " · ".join(f"{esc(state)} {int(counts.get(state, 0))}"
                          for state in PROGRESS_STATES if counts.get(state))
        servers = "".join(
            f'<li>{esc(s.get("server_id"))}: {esc(s.get("state"))}'
            f'{" – " + esc(s["reason"]) if s.get("reason") else ""}</li>'
            for s in job.get("servers") or [])
        rows.append(cells(esc(job.get("kind")), esc(job.get("host")), esc(job.get("status")),
                          done or "-", f'<ul class="plain">{servers}</ul>' if servers else "-"))
    return table(["job", "host", "status", "servers", "results"], rows, "No drain jobs.")
