"""The small pieces of HTML every dashboard view uses. Every value that reaches a page goes
through `esc` (server names, fault messages and project ids are other people's input)."""
import html
from datetime import datetime

from herder.dashboard import PREFIX


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def duration(seconds: float | None) -> str:
    """1.2 s, 42 s, 3 min 05 s, 2 h 10 min."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def moment(value: datetime | None) -> str:
    """A recorded time (UTC), for a <time> element."""
    if value is None:
        return "-"
    return (f'<time datetime="{esc(value.isoformat())}Z">'
            f'{esc(value.strftime("%Y-%m-%d %H:%M:%S"))}</time>')


def table(headings: list[str], rows: list[str], empty: str) -> str:
    """A table of `rows` (each a whole <tr>), or a line saying there is nothing."""
    if not rows:
        return f'<p class="empty">{esc(empty)}</p>'
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headings)
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def cells(*values: str) -> str:
    """A row of cells already rendered (escape what goes in them)."""
    return "<tr>" + "".join(f"<td>{value}</td>" for value in values) + "</tr>"


def button_form(action_url: str, csrf: str, label: str, fields: dict[str, str],
                css: str = "", confirm: str | None = None, plain: bool = False) -> str:
    """One POST button: a form, so that it works without the script too; the script sends it
    without reloading the page, unless `plain` (a form whose answer is a new page)."""
    hidden = "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">'
                     for k, v in {"csrf": csrf, **fields}.items())
    ask = f' data-confirm="{esc(confirm)}"' if confirm else ""
    kind = "" if plain else ' class="act"'
    return (f'<form{kind} method="post" action="{esc(action_url)}"{ask}>{hidden}'
            f'<button type="submit" class="{esc(css)}">{esc(label)}</button></form>')


def server_link(server_id: str, name: str) -> str:
    return f'<a href="{PREFIX}/servers/{esc(server_id)}">{esc(name)}</a>'


def route(source: str | None, destination: str | None) -> str:
    """source → destination, '?' for a destination not chosen yet."""
    if source is None:
        return "-"
    return f"{esc(source)} → {esc(destination or '?')}"
