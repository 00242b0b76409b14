"""Raw Compute API calls for contract tests: exact status codes, error bodies and headers.

openstacksdk's proxies (`conn.compute.post/get/put/delete`) hand back the `requests.Response`
without raising on an error status, so a test sees exactly what the client received. Where a
test needs what no SDK sends (no token, a broken body) it uses plain `requests`.
"""
from datetime import datetime, timedelta

import requests
from sqlalchemy import select

from herder.db import instances
from herder.db.models import Service

# Nova's error name by code; any other code is a `computeFault`
ERROR_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
               405: "badMethod", 409: "conflictingRequest", 413: "overLimit",
               415: "badMediaType", 429: "overLimit", 501: "notImplemented",
               503: "serviceUnavailable"}

VERSION_HEADER = "OpenStack-API-Version"
LEGACY_VERSION_HEADER = "X-OpenStack-Nova-API-Version"


def error_name(code: int) -> str:
    return ERROR_NAMES.get(code, "computeFault")


def action(conn, server_id: str, body, microversion: str | None = None) -> requests.Response:
    """POST /servers/{id}/action as the SDK's session sends it (both version headers)."""
    return conn.compute.post(f"/servers/{server_id}/action", json=body,
                             microversion=microversion)


def raw(cloud, method: str, path: str, token: str | None = None, version: str | None = None,
        data: bytes | str | None = None, headers: dict | None = None) -> requests.Response:
    """A request with nothing added: no token unless given, the body exactly as given."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        sent["X-Auth-Token"] = token
    if version is not None:
        sent[VERSION_HEADER] = f"compute {version}"
    return requests.request(method, f"{cloud.endpoint}{path}", data=data, headers=sent,
                            timeout=10)


def assert_error(resp: requests.Response, code: int, message: str) -> None:
    """The response is Nova's error body with exactly this code and message."""
    assert resp.status_code == code, f"expected {code}, got {resp.status_code}: {resp.text}"
    expected = {error_name(code): {"code": code, "message": message}}
    assert resp.json() == expected, f"expected {expected}, got {resp.text}"


def error_message(resp: requests.Response, code: int) -> str:
    """The message of a well-formed error body with this code (for messages Nova does not
    fix)."""
    assert resp.status_code == code, f"expected {code}, got {resp.status_code}: {resp.text}"
    body = resp.json()
    assert list(body) == [error_name(code)], body
    assert body[error_name(code)]["code"] == code
    message = body[error_name(code)]["message"]
    assert isinstance(message, str) and message
    return message


def assert_echoes_version(resp: requests.Response, version: str) -> None:
    assert resp.headers.get(VERSION_HEADER) == f"compute {version}", dict(resp.headers)
    assert resp.headers.get(LEGACY_VERSION_HEADER) == version, dict(resp.headers)
    vary = {v.strip().lower() for v in resp.headers.get("Vary", "").split(",")}
    assert {VERSION_HEADER.lower(), LEGACY_VERSION_HEADER.lower()} <= vary, dict(resp.headers)


def set_instance(cloud, server_id: str, **values) -> None:
    """Put a server into a state the API must refuse (what a crash or a race would leave)."""
    instances.update(cloud.db, server_id, **values)


def set_compute_service(cloud, host: str, **values) -> None:
    with cloud.db.transaction() as session:
        service = session.scalars(select(Service).where(
            Service.host == host, Service.binary == "nova-compute")).one()
        for name, value in values.items():
            setattr(service, name, value)


def silence_compute(cloud, host: str) -> None:
    """The compute on `host` stops heartbeating and its last heartbeat is an hour old: to the
    API its service is down. (Its RPC server stops too: no move through it can complete.)"""
    compute = cloud.computes[host]
    compute.stop()
    compute._thread.join(5)  # a heartbeat already in flight must not land after ours
    set_compute_service(cloud, host, last_seen_up=datetime.utcnow() - timedelta(hours=1))
