"""The dashboard's pages and panels as HTML. Each panel is a function of the rows it shows;
a page is its panels in <section data-panel> elements, which the script refreshes in place
from the live endpoint (the same functions render both)."""
from collections.abc import Callable

from herder.dashboard import PREFIX
from herder.dashboard.chart import durations_chart
from herder.dashboard.data import HostRow, MoveRow, ServerRow, Usage, WaitingRow
from herder.dashboard.history import ActionRow
from herder.dashboard.html import (button_form, cells, duration, esc, moment, route, server_link,
                                   table)
from herder.dashboard.recent import RecentMove
from herder.move_progress import size

STATIC = f"{PREFIX}/static"


def document(title: str, body: str, csrf: str = "", live_url: str = "") -> str:
    """A whole page. `live_url`: where the script fetches the page's panels again."""
    live = f' data-live="{esc(live_url)}"' if live_url else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{esc(csrf)}">
<title>{esc(title)}</title>
<link rel="icon" href="{STATIC}/favicon.svg">
<link rel="stylesheet" href="{STATIC}/dashboard.css">
<script src="{STATIC}/dashboard.js" defer></script>
</head><body{live}>
{body}
</body></html>
"""


def header(who: str, csrf: str) -> str:
    logout = button_form(f"{PREFIX}/logout", csrf, "Log out", {}, css="quiet", plain=True)
    return (f'<header><h1><a href="{PREFIX}">herder</a></h1>'
            f'<span class="who">{esc(who)}</span>{logout}</header>'
            '<p id="note" role="status" aria-live="polite"></p>')


def section(name: str, title: str, content: str) -> str:
    return (f'<section id="{esc(name)}"><h2>{esc(title)}</h2>'
            f'<div data-panel="{esc(name)}">{content}</div></section>')


def login_page(message: str | None, keystone: bool) -> str:
    hint = ("a Keystone token (<code>openstack token issue -f value -c id</code>)" if keystone
            else "a herder token: <code>user:project[:roles]</code> or the admin token")
    note = f'<p class="error" role="alert">{esc(message)}</p>' if message else ""
    return document("herder: log in", f"""<main class="login">
<h1>herder</h1>{note}
<form method="post" action="{PREFIX}/login">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" required>
<p class="hint">The token the API takes: {hint}.</p>
<button type="submit">Log in</button>
</form></main>""")


# -- panels --------------------------------------------------------------------------------

def _usage(label: str, usage: Usage, unit: str) -> str:
    return (f'<div class="usage"><span>{esc(label)} {usage.used}/{usage.total}{unit}, '
            f'{usage.free} free</span>'
            f'<meter min="0" max="{max(usage.total, 1)}" low="{usage.total * 0.75:.0f}" '
            f'high="{usage.total * 0.9:.0f}" optimum="0" value="{usage.used}">'
            f'{usage.percent}%</meter></div>')


def hosts_panel(rows: list[HostRow], drain_form: Callable[[str], str] | None = None) -> str:
    """`drain_form`: a host's drain form, for a caller who may drain hosts."""
    body = []
    for host in rows:
        why = f'<br><small>{esc(host.why)}</small>' if host.why else ""
        busy = host.slots_held >= host.limit
        moves = (f'<span class="{"full" if busy else ""}">{host.slots_held}/{host.limit} '
                 f'slots</span><br><small>{host.moving_out} out, {host.moving_in} in'
                 f'{f", {host.slots_waiting} queued" if host.slots_waiting else ""}</small>')
        body.append(f'<tr data-host="{esc(host.name)}">'
                    f'<th scope="row">{esc(host.name)}</th>'
                    f'<td><span class="state {esc(host.state)}">{esc(host.state)}</span>{why}</td>'
                    f'<td>{_usage("vCPU", host.vcpus, "")}{_usage("RAM", host.ram_mb, " MB")}'
                    f'{_usage("disk", host.disk_gb, " GB")}</td><td>{moves}</td>'
                    f'{f"<td>{drain_form(host.name)}</td>" if drain_form else ""}</tr>')
    return table(["host", "service", "resources used", "moves", *([""] if drain_form else [])],
                 body, "No compute host has reported yet.")


def _actions_url(server_id: str) -> str:
    return f"{PREFIX}/servers/{server_id}/actions"


def moves_panel(rows: list[MoveRow], csrf: str) -> str:
    body = []
    for move in rows:
        if move.total_bytes:
            done = move.done_bytes or 0
            bar = (f'<progress max="{move.total_bytes}" value="{done}"></progress>'
                   f'<br><small>{esc(size(done))} / {esc(size(move.total_bytes))} · '
                   '<span class="rate">-/s</span> · ETA <span class="eta">-</span></small>')
        else:
            bar = (f'<progress max="100" value="{move.progress}"></progress>'
                   f'<br><small>{move.progress}%</small>')
        abort = ""
        if move.aborting:
            abort = '<span class="state down">aborting</span>'
        elif move.may_abort:
            abort = button_form(_actions_url(move.server_id), csrf, "Abort",
                                {"action": "abort", "migration_id": str(move.migration_id)},
                                css="danger", confirm=f"Abort the move of {move.server_name}?")
        body.append(
            f'<tr data-migration="{move.migration_id}" data-done="{move.done_bytes or 0}" '
            f'data-total="{move.total_bytes or 0}">'
            + "".join(f"<td>{value}</td>" for value in (
                server_link(move.server_id, move.server_name), route(move.source,
                                                                        move.destination),
                f'<span class="phase">{esc(move.phase)}</span><br>'
                f'<small>{esc(move.kind)}, {esc(move.status)}</small>',
                bar, esc(duration(move.age_seconds)), abort)) + "</tr>")
    return table(["server", "from → to", "phase", "progress", "age", ""], body,
                 "No move in flight.")


def waiting_panel(rows: list[WaitingRow], csrf: str) -> str:
    body = []
    for row in rows:
        if row.seconds_left is None:
            left = f"never (window 0, from {esc(row.decided_by)})"
        else:
            left = (f"{esc(duration(row.seconds_left))}, then {esc(row.action)}<br>"
                    f"<small>window {esc(duration(row.window_seconds))} from "
                    f"{esc(row.decided_by)}</small>")
        buttons = ""
        if row.may_confirm:
            buttons += button_form(_actions_url(row.server_id), csrf, "Confirm",
                                   {"action": "confirm"})
        if row.may_revert:
            buttons += button_form(_actions_url(row.server_id), csrf, "Revert",
                                   {"action": "revert"}, css="quiet",
                                   confirm=f"Revert {row.server_name} to its source host?")
        body.append(cells(server_link(row.server_id, row.server_name),
                          route(row.source, row.destination),
                          esc(duration(row.waited_seconds)), left, buttons))
    return table(["server", "from → to", "waiting", "time left", ""], body,
                 "No move waits in VERIFY_RESIZE.")


def servers_panel(rows: list[ServerRow], csrf: str) -> str:
    body = []
    for server in rows:
        migrate = ""
        if server.may_migrate and server.status in ("ACTIVE", "SHUTOFF"):
            migrate = button_form(_actions_url(server.server_id), csrf, "Migrate",
                                  {"action": "migrate"}, css="quiet")
        body.append(f'<tr data-server="{esc(server.server_id)}">'
                    + "".join(f"<td>{value}</td>" for value in (
                        server_link(server.server_id, server.name), esc(server.project_id),
                        f'<span class="status">{esc(server.status)}</span>',
                        esc(server.host or "-"), migrate)) + "</tr>")
    return table(["server", "project", "status", "host", ""], body, "No servers.")


def recent_panel(rows: list[RecentMove], hours: int) -> str:
    body = [cells(server_link(m.server_id, m.server_name), route(m.source, m.destination),
                  f'<span class="outcome {esc(m.status)}">{esc(m.status)}</span>',
                  moment(m.started), esc(duration(m.seconds)),
                  " / ".join(esc(duration(s)) for s in (m.power_off, m.copy, m.boot)))
            for m in rows]
    return (durations_chart(rows, hours)
            + table(["server", "from → to", "outcome", "started (UTC)", "took",
                     "power-off / copy / boot"], body, f"No move in the last {hours} hours."))


def server_panel(server: ServerRow, moves: list[MoveRow], waiting: list[WaitingRow],
                 csrf: str) -> str:
    """A server's state and what may be done to it now."""
    facts = (f'<p><span class="status">{esc(server.status)}</span>'
             f'{" on " + esc(server.host) if server.host else ""} · project '
             f'{esc(server.project_id)}</p>')
    more = ""
    if server.may_migrate and server.status in ("ACTIVE", "SHUTOFF"):
        more = button_form(_actions_url(server.server_id), csrf, "Migrate",
                           {"action": "migrate"})
    return (facts + (moves_panel(moves, csrf) if moves else "")
            + (waiting_panel(waiting, csrf) if waiting else "") + more)


def history_panel(rows: list[ActionRow] | None) -> str:
    if rows is None:
        return '<p class="empty">The policy does not let you see this server\'s actions.</p>'
    if not rows:
        return '<p class="empty">No actions recorded.</p>'
    items = []
    for action in rows:
        failed = action.message == "Error"
        events = "".join(
            f'<li class="{"failed" if e.result == "Error" else ""}">'
            f'<b>{esc(e.name)}</b>{" on " + esc(e.host) if e.host else ""}: '
            f'{moment(e.started)} → {moment(e.finished)} '
            f'<span class="result">{esc(e.result or "running")}</span>'
            f'{"<br><small>" + esc(e.details) + "</small>" if e.details else ""}</li>'
            for e in action.events)
        move = (f' · migration {action.migration_id}: {esc(action.migration_status)}'
                if action.migration_id is not None else "")
        fault = (f'<p class="error">Fault: {esc(action.fault)}</p>'
                 if action.fault and (failed or action.migration_status in
                                      ("error", "cancelled")) else "")
        rolled = ""
        if action.rolled_back:
            steps = "".join(f'<li><b>{esc(s.name)}</b> ({esc(s.service)}): {esc(s.state)}'
                            f'{": " + esc(s.error) if s.error else ""}</li>'
                            for s in action.rolled_back)
            rolled = f'<p>Rolled back:</p><ol class="steps">{steps}</ol>'
        items.append(
            f'<li class="action{" failed" if failed else ""}">'
            f'<h3>{esc(action.action)} <small>{moment(action.started)} by '
            f'{esc(action.user_id or "-")}{move}</small></h3>'
            f'<ol class="events">{events}</ol>{fault}{rolled}</li>')
    return f'<ol class="timeline">{"".join(items)}</ol>'
