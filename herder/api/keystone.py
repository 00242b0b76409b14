"""Keystone mode (`[api] auth_strategy = keystone`): keystonemiddleware's auth_token validates
the caller's token, and the identity it vouches for becomes the request's RequestContext.

auth_token runs with `delay_auth_decision`: it never answers a request itself, it only marks it
(`X-Identity-Status: Confirmed` or `Invalid`) and lets herder decide. That keeps the version
documents readable without a token, as in Nova, and every 401 in the Compute API's error format.
auth_token strips any identity header a client sends, so what herder reads here came from Keystone.
Its options are read from the `[keystone_authtoken]` section of herder's own configuration.
"""
from collections.abc import Callable

import falcon

from herder.context import RequestContext

WsgiApp = Callable  # a WSGI application: (environ, start_response) -> iterable of bytes


def protect(app: WsgiApp, conf) -> WsgiApp:
    """`app` behind auth_token, configured from `conf`'s [keystone_authtoken] section."""
    try:
        from keystonemiddleware import auth_token
    except ImportError as error:  # an optional dependency: only keystone mode needs it
        raise RuntimeError("[api] auth_strategy = keystone needs keystonemiddleware "
                           "(pip install 'herder[keystone]')") from error
    return auth_token.AuthProtocol(app, {
        "oslo_config_config": conf,  # herder's ConfigOpts, not oslo.config's global one
        "delay_auth_decision": True,
        # herder calls no other service on the caller's behalf: it needs no catalog
        "include_service_catalog": False,
    })


def context_from_request(req: falcon.Request, request_id: str) -> RequestContext | None:
    """The caller auth_token confirmed, or None (no token, a bad one, or a bad service token)."""
    if req.get_header("X-Identity-Status") != "Confirmed":
        return None
    # a service token is optional, but one that was sent and refused taints the request
    if req.get_header("X-Service-Identity-Status", default="Confirmed") != "Confirmed":
        return None
    user_id, project_id = req.get_header("X-User-Id"), req.get_header("X-Project-Id")
    if not user_id or not project_id:
        # a domain- or system-scoped token: herder's resources all belong to projects
        return None
    roles = [role.strip() for role in req.get_header("X-Roles", default="").split(",")
             if role.strip()]
    return RequestContext(user_id=user_id, project_id=project_id, roles=roles,
                          request_id=request_id, is_admin="admin" in (role.lower() for role in roles))
