"""Embedded-mode authentication (like Nova's noauth2), used when Keystone is not configured.

A token is `user:project[:role,role]`, or the configured admin token. No token, no entry: 401.
"""
import logging

from herder.context import RequestContext

LOG = logging.getLogger(__name__)


def warn_if_unauthenticated(conf) -> None:
    """Say loudly, at every start, that an api without Keystone lets anyone in."""
    if conf.api.auth_strategy != "keystone":
        LOG.warning("AUTHENTICATION IS OFF ([api] auth_strategy = noauth2): any caller may act "
                    "as any project, and anyone who knows the admin token is admin. Set "
                    "[api] auth_strategy = keystone for a cloud others can reach.")


def context_from_token(token: str | None, admin_token: str, request_id: str
                       ) -> RequestContext | None:
    if not token:
        return None
    if token == admin_token:
        return RequestContext(user_id="admin", project_id="admin",
                              roles=["admin", "member", "reader"], request_id=request_id,
                              is_admin=True)
    parts = token.split(":")
    # user and project ids are stored with what the caller does, in columns of 255
    if len(parts) not in (2, 3) or not 0 < len(parts[0]) <= 255 or not 0 < len(parts[1]) <= 255:
        return None
    roles = [r for r in parts[2].split(",") if r] if len(parts) == 3 else ["member", "reader"]
    return RequestContext(user_id=parts[0], project_id=parts[1], roles=roles,
                          request_id=request_id, is_admin="admin" in roles)
