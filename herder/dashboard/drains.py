"""The drain jobs' panel and buttons: host drains and restores (herder's API,
/herder/v1/host-drains; docs/herder-api.md, "Host drains").

The jobs are read through the drain's own database module and rendered from the API
handler's own `view`, so a job here shows what `GET /herder/v1/host-drains/{id}` shows, under
the same rules (`herder:host_drains:index`, and `:show` for each server's result). The buttons
go through the API's checks in the API's order (the form as the API's schema judges a body,
else 400; the rule, else 403; the job, else 404) and then through the very operations its
handlers call (herder/operations/host_drain.py), whose refusals keep the API's code and words.
"""
from collections.abc import Callable
from dataclasses import dataclass

from herder.api import errors
from herder.api.handlers import host_drains as drain_api
from herder.api.schemas import host_drains as schemas
from herder.api.validation import validate
from herder.dashboard import PREFIX
from herder.dashboard.access import Access
from herder.dashboard.html import button_form, esc, route, server_link, table
from herder.db import host_drains, instances
from herder.operations import host_drain

RULE = drain_api.RULE
INDEX, SHOW, CREATE = f"{RULE}:index", f"{RULE}:show", f"{RULE}:create"
JOB_ROWS = 10
START_URL = f"{PREFIX}/drains"

# a job's servers by state, in the order the progress line names them: the first four always,
# the others only when some server is in them
PROGRESS = (("moved", "done"), ("moving", "moving"), ("waiting", "waiting"),
            ("failed", "failed"), ("skipped", "skipped"), ("cancelled", "cancelled"),
            ("deleted", "deleted"))
ALWAYS_SHOWN = 4
FINISHED = (host_drains.COMPLETED, host_drains.CANCELLED)

# button -> the job statuses it applies to (the operation refuses any other, with a 409)
BUTTON_STATUSES = {"pause": (host_drains.RUNNING,), "resume": (host_drains.PAUSED,),
                   "cancel": (host_drains.RUNNING, host_drains.PAUSED), "restore": FINISHED}


@dataclass(frozen=True)
class DrainJob:
    shown: dict                # the job as the API's body shows it
    names: dict[str, str]      # server id -> its name, for the servers that still exist
    buttons: tuple[str, ...]   # what the caller may do to it now


def drain_jobs(api, access: Access) -> list[DrainJob] | None:
    """The newest jobs, as the API shows them; None when the caller may not list them."""
    if not access.allowed(INDEX):
        return None
    jobs = host_drains.list_all(api.db, limit=JOB_ROWS)
    servers = host_drains.servers_of(api.db, [job.uuid for job in jobs])
    with_servers = access.allowed(SHOW)
    names = _names(api.db, servers) if with_servers else {}
    return [DrainJob(drain_api.view(job, servers[job.uuid], with_servers=with_servers),
                     names, _buttons(access, job.kind, job.status))
            for job in jobs]


def _names(db, servers: dict[str, list]) -> dict[str, str]:
    uuids = {row.instance_uuid for rows in servers.values() for row in rows}
    return {uuid: server.display_name
            for uuid, server in instances.placements(db, list(uuids)).items()}


def _buttons(access: Access, kind: str, status: str) -> tuple[str, ...]:
    return tuple(name for name, statuses in BUTTON_STATUSES.items()
                 if status in statuses and (name != "restore" or kind == host_drain.DRAIN)
                 and access.allowed(f"{RULE}:{name}"))


def may_start(access: Access) -> bool:
    return access.allowed(CREATE)


# -- the buttons -------------------------------------------------------------------------

def _restore(svc, context, job_uuid: str):
    return host_drain.start_restore(svc, context, job_uuid, None)   # the drain's own limits


OPERATIONS: dict[str, Callable] = {"pause": host_drain.pause, "resume": host_drain.resume,
                                   "cancel": host_drain.cancel, "restore": _restore}
DONE = {"pause": "Pausing host {kind} {id} of {host}: moves under way finish.",
        "resume": "Resuming host {kind} {id} of {host}.",
        "cancel": "Cancelling host {kind} {id} of {host}: moves under way finish.",
        "restore": "Restoring host {host}: new restore job {id}."}


def _authorize(access: Access, rule: str) -> None:
    if not access.allowed(rule):
        raise errors.Forbidden(f"Policy doesn't allow {rule} to be performed.")


def act(api, access: Access, drain_id: str, form: dict) -> str:
    """Pause, resume, cancel or restore a job, as POST .../{id}/action or .../{id}/restore
    would; the note to show."""
    name = form.get("action", "")
    if name not in OPERATIONS:
        raise errors.BadRequest(f"A host drain's action is pause, resume, cancel or restore, "
                                f"not {name!r}.")
    _authorize(access, f"{RULE}:{name}")
    job = drain_api.find_job(api.db, drain_id)
    with errors.refusals_as_errors():
        answer = OPERATIONS[name](api, access.context, job.uuid)
    return DONE[name].format(kind=job.kind, id=answer.uuid, host=job.host)


def _limit(form: dict, name: str) -> dict:
    """A limit field as the API's body holds it: left out when empty (the API's default)."""
    value = form.get(name, "").strip()
    if not value:
        return {}
    if not value.isdigit():
        raise errors.BadRequest(f"Invalid input for field {name}: {value!r} is not a whole "
                                f"number from 1 to {schemas.MAX_LIMIT}.")
    return {name: int(value)}


def drain_body(form: dict) -> dict:
    """The drain form as the body POST /herder/v1/host-drains takes; an unchecked checkbox is
    not sent by browsers, so auto_confirm is false unless it is there."""
    reason = form.get("reason", "").strip()
    return {"host_drain": {"host": form.get("host", ""),
                           **({"reason": reason} if reason else {}),
                           **_limit(form, "max_per_source"),
                           **_limit(form, "max_per_destination"),
                           "auto_confirm": form.get("auto_confirm") == "on"}}


def start(api, access: Access, form: dict) -> str:
    """Drain the form's host, as POST /herder/v1/host-drains would; the note to show."""
    body = drain_body(form)
    validate(schemas.CREATE, body)
    _authorize(access, CREATE)
    fields = body["host_drain"]
    with errors.refusals_as_errors():
        job = host_drain.start_drain(api, access.context, fields["host"], fields.get("reason"),
                                     drain_api.drain_limits(fields))
    return f"Draining {fields['host']}: job {job.uuid}."


# -- HTML --------------------------------------------------------------------------------

def drain_form(host: str, csrf: str) -> str:
    """The hosts panel's drain form for `host`. data-keep: the page keeps what is typed in it
    (and whether it is open) across the panel's refreshes."""
    key = esc(f"drain-{host}")
    hidden = "".join(f'<input type="hidden" name="{name}" value="{esc(value)}">'
                     for name, value in (("csrf", csrf), ("host", host)))
    return (f'<details class="drain-form" data-keep="{key}"><summary>Drain…</summary>'
            f'<form class="act" method="post" action="{START_URL}" data-keep="{key}" '
            f'data-confirm="{esc(f"Drain {host}: disable it and move every server off it?")}">'
            f'{hidden}<label>Reason <input name="reason" maxlength="255"></label>'
            f'<label>Max per source <input name="max_per_source" type="number" min="1" '
            f'max="{schemas.MAX_LIMIT}" value="{drain_api.DEFAULT_MAX_PER_SOURCE}"></label>'
            f'<label>Max per destination <input name="max_per_destination" type="number" '
            f'min="1" max="{schemas.MAX_LIMIT}" '
            f'value="{drain_api.DEFAULT_MAX_PER_DESTINATION}"></label>'
            '<label><input name="auto_confirm" type="checkbox"> auto-confirm</label>'
            '<button type="submit">Drain</button></form></details>')


def panel(jobs: list[DrainJob], csrf: str) -> str:
    if not jobs:
        return '<p class="empty">No drain jobs.</p>'
    return "".join(_job(job, csrf) for job in jobs)


def _job(job: DrainJob, csrf: str) -> str:
    shown = job.shown
    status = shown["status"]
    reason = f' · “{esc(shown["reason"])}”' if shown.get("reason") else ""
    auto = ", auto-confirm" if shown["auto_confirm"] else ""
    facts = (f'<p><small>started {esc(shown["created_at"])} by {esc(shown["user_id"])}'
             f'{reason} · at most {shown["max_per_source"]} out, '
             f'{shown["max_per_destination"]} into a host{auto}'
             f'{" · restores drain " + esc(shown["drain_id"]) if shown["drain_id"] else ""}'
             f' · job {esc(shown["id"])}</small></p>')
    buttons = "".join(_button(shown, name, csrf) for name in job.buttons)
    servers = _servers(shown["servers"], job.names) if "servers" in shown else ""
    return (f'<article class="drain" data-drain="{esc(shown["id"])}" '
            f'data-status="{esc(status)}"><h3>{esc(shown["kind"])} of {esc(shown["host"])} '
            f'<span class="state {esc(status)}">{esc(status)}</span></h3>'
            f'{facts}{_progress(shown)}{buttons}{servers}</article>')


def _progress(shown: dict) -> str:
    counts, total = shown["servers_by_state"], shown["servers_total"]
    at_rest = total - counts["waiting"] - counts["moving"]
    named = " · ".join(
        f'<span class="count" data-state="{state}">{int(counts[state])} {label}</span>'
        for i, (state, label) in enumerate(PROGRESS)
        if i < ALWAYS_SHOWN or counts[state])
    return (f'<p class="progress"><progress max="{max(total, 1)}" value="{at_rest}"></progress> '
            f'{at_rest}/{total} servers · {named}</p>')


_QUESTIONS = {"cancel": "Cancel host {kind} of {host}? Moves under way finish.",
              "restore": "Move the servers this drain moved back to {host}?"}


def _button(shown: dict, name: str, csrf: str) -> str:
    question = _QUESTIONS.get(name)
    return button_form(f"{START_URL}/{shown['id']}/actions", csrf, name.capitalize(),
                       {"action": name}, css="danger" if name == "cancel" else "quiet",
                       confirm=question.format(**shown) if question else None)


def _servers(servers: list[dict], names: dict[str, str]) -> str:
    rows = []
    for server in servers:
        name = names.get(server["server_id"])
        who = (server_link(server["server_id"], name) if name is not None else "-")
        rows.append(f'<tr data-drain-server="{esc(server["server_id"])}" '
                    f'data-state="{esc(server["state"])}"><td>{who}<br>'
                    f'<small>{esc(server["server_id"])}</small></td>'
                    f'<td><span class="state {esc(server["state"])}">{esc(server["state"])}'
                    f'</span></td><td>{route(server["source_host"], server["destination_host"])}'
                    f'</td><td>{esc(server["reason"] or "")}</td></tr>')
    return table(["server", "state", "from → to", "result"], rows, "No servers on the host.")
