"""What a responder tells the OpenAPI document about itself (see herder/api/openapi.py).

A responder is described where it is written, with the very schema objects it validates with,
so that the document cannot drift from the code: `@describe("List servers", query=...)`.
"""
from dataclasses import dataclass, field
from typing import Callable, Iterable

# How the query parameters herder reads are spelled; any other is a plain string.
QUERY_SCHEMAS: dict[str, dict] = {
    "limit": {"type": "integer", "minimum": 0},
    "marker": {"type": "string"},
    "changes-since": {"type": "string", "format": "date-time"},
    "changes-before": {"type": "string", "format": "date-time"},
    "minRam": {"type": "integer", "minimum": 0},
    "minDisk": {"type": "integer", "minimum": 0},
}


@dataclass(frozen=True)
class Operation:
    summary: str
    statuses: tuple[int, ...] = (200,)  # the success codes
    # request body schemas (jsonschema draft 4) by the first microversion that uses each
    bodies: dict[str, dict] = field(default_factory=dict)
    query: tuple[str, ...] = ()         # the query parameters read (at the newest microversion)
    min_version: str | None = None      # below it the method is a 404, as in Nova
    max_version: str | None = None
    returns_body: bool = True           # False: an empty 202/204
    # not JSON: the media type of the raw bytes a request sends or a response returns
    request_type: str | None = None
    response_type: str | None = None
    # the success codes that carry a body, when only some do (None: all but 204)
    body_statuses: tuple[int, ...] | None = None


def describe(summary: str, *, status: int | tuple[int, ...] = 200, body: dict | None = None,
             bodies: dict[str, dict] | None = None, query: Iterable[str] = (),
             min_version: str | None = None, max_version: str | None = None,
             returns_body: bool | None = None, request_type: str | None = None,
             response_type: str | None = None,
             body_statuses: tuple[int, ...] | None = None) -> Callable:
    """Mark a responder (`on_get`, ...) with its Operation; `body` is `bodies={"2.1": body}`.
    By default a responder returns a body unless its only success is 204. `request_type` and
    `response_type` name a body of raw bytes instead of JSON (image data)."""
    if body is not None:
        bodies = {"2.1": body}
    statuses = (status,) if isinstance(status, int) else tuple(status)
    if returns_body is None:
        returns_body = statuses != (204,)
    operation = Operation(summary, statuses, dict(bodies or {}), tuple(query), min_version,
                          max_version, returns_body, request_type, response_type,
                          body_statuses)

    def mark(responder: Callable) -> Callable:
        responder.openapi = operation
        return responder
    return mark


def operation_of(responder: Callable) -> Operation | None:
    return getattr(responder, "openapi", None)
