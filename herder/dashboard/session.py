"""The dashboard's login: the token the API takes, kept in a cookie.

Logging in stores the token (any token the API would take: a herder token in noauth2 mode, a
Keystone token in keystone mode) in an HttpOnly cookie scoped to the dashboard's path, with a
second cookie holding a random CSRF token. `token_from_cookie` wraps the whole WSGI app, in
front of keystonemiddleware: on dashboard paths only, it puts the cookie's token into
X-Auth-Token, so the dashboard is authenticated by exactly the API's code. Nothing outside the
dashboard's path ever reads the cookie, so no API call can be made by a cross-site request
that carries it.

State-changing requests (every POST but the login) must send the CSRF token back in a form
field that the page holds (double submit: another site can neither read the cookie nor the
page) and, when the browser says where they come from, come from this same origin. The
cookies are SameSite=Strict besides.
"""
import base64
import binascii
import hmac
import secrets
from http import cookies

import falcon

from herder.dashboard import PREFIX, is_dashboard_path

TOKEN_COOKIE = "herder_dashboard_token"
CSRF_COOKIE = "herder_dashboard_csrf"
MAX_TOKEN_LENGTH = 8192   # a Keystone token with a long catalogue is a few KiB


class Refused(Exception):
    """A state-changing request without a valid CSRF token or from another origin."""


def _encode(token: str) -> str:
    # a herder token holds ':' and ',', which cookies do not take as they are
    return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def _decode(value: str) -> str | None:
    try:
        token = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return token if token.isprintable() and 0 < len(token) <= MAX_TOKEN_LENGTH else None


def token_from_cookie(app):
    """The WSGI app, with the dashboard's cookie standing for X-Auth-Token on its paths."""
    def dashboard_token(environ, start_response):
        if is_dashboard_path(environ.get("PATH_INFO", "")):
            # the dashboard answers to its cookie alone: one way in, one CSRF rule
            environ.pop("HTTP_X_AUTH_TOKEN", None)
            token = _cookie_token(environ.get("HTTP_COOKIE", ""))
            if token is not None:
                environ["HTTP_X_AUTH_TOKEN"] = token
        return app(environ, start_response)
    return dashboard_token


def _cookie_token(header: str) -> str | None:
    jar = cookies.SimpleCookie()
    try:
        jar.load(header)
    except cookies.CookieError:
        return None
    morsel = jar.get(TOKEN_COOKIE)
    return _decode(morsel.value) if morsel is not None else None


def _set(req: falcon.Request, resp: falcon.Response, name: str, value: str) -> None:
    resp.set_cookie(name, value, path=PREFIX, http_only=True, same_site="Strict",
                    secure=req.scheme == "https")


def log_in(req: falcon.Request, resp: falcon.Response, token: str) -> None:
    _set(req, resp, TOKEN_COOKIE, _encode(token))
    _set(req, resp, CSRF_COOKIE, secrets.token_urlsafe(32))


def log_out(req: falcon.Request, resp: falcon.Response) -> None:
    for name in (TOKEN_COOKIE, CSRF_COOKIE):
        resp.unset_cookie(name, same_site="Strict", path=PREFIX)   # emptied, expiring now


def csrf_token(req: falcon.Request) -> str:
    values = req.get_cookie_values(CSRF_COOKIE) or [""]
    return values[0]


def check_same_origin(req: falcon.Request) -> None:
    """Browsers send Origin with every POST; one naming another site is refused."""
    origin = req.get_header("Origin")
    if origin is not None and origin != f"{req.scheme}://{req.netloc}":
        raise Refused(f"a request from {origin} may not change anything here")


def check_state_change(req: falcon.Request, form: dict[str, str]) -> None:
    check_same_origin(req)
    expected, sent = csrf_token(req), form.get("csrf", "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise Refused("the form is stale or did not come from this dashboard: "
                      "reload the page and try again")


def check_token(token: str | None) -> str:
    """The token a login form sent, or ValueError saying what is wrong with it."""
    token = (token or "").strip()
    if not token:
        raise ValueError("Enter a token.")
    if len(token) > MAX_TOKEN_LENGTH or not token.isprintable():
        raise ValueError("That is not a token: it is too long or holds control characters.")
    return token
