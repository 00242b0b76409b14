"""The dashboard's Falcon resources and routes (served by the api under /dashboard).

A page is rendered whole on GET; its live endpoint answers the same panels as JSON
({"panels": {name: html}}) for the script to swap in, so a page left open costs one short
request a second and nothing held between them: no per-client state here, and connections
are kept alive and reused by the browser. (Server-sent events would hold one of the api's
`[api] workers` threads per open page for as long as it stays open.)
"""
import json
import pathlib
from urllib.parse import parse_qsl

import falcon

from herder.api import errors
from herder.api.handlers.base import ApiServices, Handler
from herder.dashboard import PREFIX, actions, data, drains, history, recent, session, views
from herder.dashboard.access import SERVER_SHOW, Access
from herder.dashboard.html import esc
from herder.db.models import Instance

_STATIC_DIR = pathlib.Path(__file__).parent / "static"
_STATIC_TYPES = {"dashboard.css": "text/css; charset=utf-8",
                 "dashboard.js": "text/javascript; charset=utf-8",
                 "favicon.svg": "image/svg+xml"}
# everything a page loads comes from this server; nothing inline but the SVG chart's markup
_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
           "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
_FORM_FIELDS = 20


class LoginNeeded(Exception):
    """The request has no caller (no cookie, or a token the API refused)."""

    def __init__(self, refused: bool, keystone: bool):
        self.refused, self.keystone = refused, keystone


def _secure_headers(resp: falcon.Response) -> None:
    resp.set_header("Content-Security-Policy", _POLICY)
    resp.set_header("X-Content-Type-Options", "nosniff")
    # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on the
    # forms' POSTs, and the same-origin check needs the real one
    resp.set_header("Referrer-Policy", "same-origin")
    resp.set_header("X-Frame-Options", "DENY")


def _html(resp: falcon.Response, page: str, status: int = 200) -> None:
    _secure_headers(resp)
    resp.status = status
    resp.content_type = "text/html; charset=utf-8"
    resp.set_header("Cache-Control", "no-store")
    resp.text = page


def _json(resp: falcon.Response, body: dict, status: int = 200) -> None:
    _secure_headers(resp)
    resp.status = status
    resp.content_type = "application/json"
    resp.set_header("Cache-Control", "no-store")
    resp.text = json.dumps(body)


def _keystone(conf) -> bool:
    return conf is not None and conf.api.auth_strategy == "keystone"


def _wants_json(req: falcon.Request) -> bool:
    return "application/json" in (req.get_header("Accept") or "")


def _form(req: falcon.Request) -> dict[str, str]:
    if (req.content_type or "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise errors.BadRequest("Send the form as application/x-www-form-urlencoded.")
    try:
        fields = parse_qsl(req.bounded_stream.read().decode("utf-8"), strict_parsing=False,
                           max_num_fields=_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise errors.BadRequest("The form could not be read.") from None
    return dict(fields)


class _Dashboard(Handler):
    """What every dashboard resource needs: the caller as an Access, and the answers to a
    caller who is not logged in (the login page) and to a refusal (the API's message)."""

    def access(self, req: falcon.Request) -> Access:
        context = req.context.get("herder")
        if context is None:
            raise LoginNeeded(refused=req.get_header("X-Auth-Token") is not None,
                              keystone=_keystone(self.conf))
        return Access(context, self.api.enforcer)

    def who(self, access: Access) -> str:
        context = access.context
        roles = ", ".join(context.roles)
        return f"{context.user_id} in project {context.project_id} ({roles})"

    def shown_server(self, req: falcon.Request, server_id: str) -> Instance:
        """As GET /servers/{id}: 404 unless the caller may see it, 403 unless the policy lets
        them show it."""
        server = self.server(req, server_id)
        self.authorize(req, SERVER_SHOW, self.target(server))
        return server


def _panels(api: ApiServices, access: Access, csrf: str) -> dict[str, str]:
    """The overview's panels, by name. A panel the caller may not see is left out."""
    db, conf = api.db, api.conf
    panels = {}
    if access.sees_hosts():
        form = (lambda host: drains.drain_form(host, csrf)) if drains.may_start(access) else None
        panels["hosts"] = views.hosts_panel(data.hosts(db, conf), form)
    panels["moves"] = views.moves_panel(data.moves_in_flight(db, access), csrf)
    panels["waiting"] = views.waiting_panel(data.waiting_to_confirm(db, conf, access), csrf)
    jobs = drains.drain_jobs(api, access)
    if jobs is not None:
        panels["drains"] = drains.panel(jobs, csrf)
    panels["recent"] = views.recent_panel(recent.recent_moves(db, access), recent.HOURS)
    panels["servers"] = views.servers_panel(data.servers(db, access), csrf)
    return panels


_TITLES = {"hosts": "Hosts", "moves": "Moves in flight",
           "waiting": "Waiting in VERIFY_RESIZE", "drains": "Drain jobs",
           "recent": f"Recent moves (last {recent.HOURS} hours)", "servers": "Servers"}


class Overview(_Dashboard):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        access = self.access(req)
        csrf = session.csrf_token(req)
        body = views.header(self.who(access), csrf) + "<main>" + "".join(
            views.section(name, _TITLES[name], html)
            for name, html in _panels(self.api, access, csrf).items()) + "</main>"
        _html(resp, views.document("herder dashboard", body, csrf, f"{PREFIX}/live"))


class OverviewLive(_Dashboard):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        access = self.access(req)
        _json(resp, {"panels": _panels(self.api, access, session.csrf_token(req))})


def _server_panels(api: ApiServices, access: Access, server: Instance,
                   csrf: str) -> dict[str, str]:
    row = next(iter(data.servers(api.db, access, [server.uuid])), None)
    moves = [m for m in data.moves_in_flight(api.db, access) if m.server_id == server.uuid]
    waiting = [w for w in data.waiting_to_confirm(api.db, api.conf, access)
               if w.server_id == server.uuid]
    return {"server": views.server_panel(row, moves, waiting, csrf) if row else
            '<p class="empty">Not listed: deleted, or the policy does not let you list '
            'servers.</p>',
            "history": views.history_panel(history.server_history(api.db, access, server))}


class ServerPage(_Dashboard):
    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        access = self.access(req)
        server = self.shown_server(req, server_id)
        csrf = session.csrf_token(req)
        panels = _server_panels(self.api, access, server, csrf)
        body = (views.header(self.who(access), csrf)
                + f'<main><p><a href="{PREFIX}">← all</a></p>'
                + views.section("server", f"Server {server.display_name}", panels["server"])
                + views.section("history", "History", panels["history"]) + "</main>")
        _html(resp, views.document(f"herder: {server.display_name}", body, csrf,
                                   f"{PREFIX}/servers/{server.uuid}/live"))


class ServerLive(_Dashboard):
    def on_get(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        access = self.access(req)
        server = self.shown_server(req, server_id)
        _json(resp, {"panels": _server_panels(self.api, access, server,
                                              session.csrf_token(req))})


class ServerActions(_Dashboard):
    def on_post(self, req: falcon.Request, resp: falcon.Response, server_id: str) -> None:
        access = self.access(req)
        form = _form(req)
        session.check_state_change(req, form)
        # the action's own rule decides, as in the API, not the rule of showing the server
        note = actions.run(self.api, access, self.server(req, server_id), form)
        _accepted(req, resp, note, f"{PREFIX}/servers/{server_id}", "Back to the server")


class DrainStart(_Dashboard):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        access = self.access(req)
        form = _form(req)
        session.check_state_change(req, form)
        _accepted(req, resp, drains.start(self.api, access, form), PREFIX,
                  "Back to the dashboard")


class DrainActions(_Dashboard):
    def on_post(self, req: falcon.Request, resp: falcon.Response, drain_id: str) -> None:
        access = self.access(req)
        form = _form(req)
        session.check_state_change(req, form)
        _accepted(req, resp, drains.act(self.api, access, drain_id, form), PREFIX,
                  "Back to the dashboard")


def _accepted(req: falcon.Request, resp: falcon.Response, note: str, back: str,
              back_label: str) -> None:
    """A button's answer: JSON for the script, a page when the form was sent without it."""
    if _wants_json(req):
        _json(resp, {"message": note}, 202)
    else:
        _html(resp, views.document("herder", f'<main><p>{esc(note)}</p>'
                                   f'<p><a href="{esc(back)}">{esc(back_label)}</a></p>'
                                   '</main>'), 202)


class Login(_Dashboard):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _html(resp, views.login_page(None, _keystone(self.conf)))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        session.check_same_origin(req)
        try:
            token = session.check_token(_form(req).get("token"))
        except ValueError as error:
            _html(resp, views.login_page(str(error), _keystone(self.conf)), 400)
            return
        # the token is judged by the API's own authentication on the next request
        session.log_in(req, resp, token)
        _secure_headers(resp)
        raise falcon.HTTPSeeOther(PREFIX)


class Logout(_Dashboard):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        session.check_state_change(req, _form(req))
        session.log_out(req, resp)
        raise falcon.HTTPSeeOther(f"{PREFIX}/login")


class Static:
    """The style sheet and the script: files of this package, nothing from elsewhere."""

    def __init__(self):
        self.files = {name: (_STATIC_DIR / name).read_bytes() for name in _STATIC_TYPES}

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        if name not in self.files:
            raise errors.NotFound("The resource could not be found.")
        _secure_headers(resp)
        resp.content_type = _STATIC_TYPES[name]
        resp.set_header("Cache-Control", "no-cache")   # revalidated: a new release shows
        resp.data = self.files[name]


def routes(api: ApiServices) -> list[tuple[str, object]]:
    return [(PREFIX, Overview(api)), (f"{PREFIX}/live", OverviewLive(api)),
            (f"{PREFIX}/login", Login(api)), (f"{PREFIX}/logout", Logout(api)),
            (f"{PREFIX}/servers/{{server_id}}", ServerPage(api)),
            (f"{PREFIX}/servers/{{server_id}}/live", ServerLive(api)),
            (f"{PREFIX}/servers/{{server_id}}/actions", ServerActions(api)),
            (drains.START_URL, DrainStart(api)),
            (f"{drains.START_URL}/{{drain_id}}/actions", DrainActions(api)),
            (f"{PREFIX}/static/{{name}}", Static())]


def add_error_handlers(app: falcon.App) -> None:
    """Answers on dashboard paths: the login page for no caller, and refusals in words (a
    page, or JSON for the script) instead of the API's JSON bodies."""
    app.add_error_handler(LoginNeeded, _login_needed)
    app.add_error_handler(session.Refused, _refused)


def _login_needed(req, resp, error: LoginNeeded, params) -> None:
    if _wants_json(req) or req.method != "GET":
        _json(resp, {"message": "Log in again: your token was refused or has expired."
                     if error.refused else "Log in first.", "login": f"{PREFIX}/login"}, 401)
        return
    message = "Your token was refused or has expired: log in again." if error.refused else None
    _html(resp, views.login_page(message, error.keystone), 401)


def _refused(req, resp, error: session.Refused, params) -> None:
    if _wants_json(req):
        _json(resp, {"message": f"Refused: {error}."}, 403)
    else:
        _html(resp, views.document("herder", f'<main><p class="error">Refused: '
                                   f'{esc(error)}.</p></main>'), 403)


def api_error(req, resp, error: errors.ApiError) -> None:
    """A refusal of the API's checks on a dashboard path: its code and message, as JSON for
    the script or as a page."""
    if _wants_json(req):
        _json(resp, {"message": error.message}, error.code)
    else:
        _html(resp, views.document("herder", f'<main><p class="error">{esc(error.message)}</p>'
                                   f'<p><a href="{PREFIX}">Back to the dashboard</a></p>'
                                   '</main>'), error.code)
