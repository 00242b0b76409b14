"""Compute API error responses: `{"<errorName>": {"code": N, "message": "..."}}`, Nova's format."""
import json
from contextlib import contextmanager
from typing import Iterator

import falcon

from herder import exception

ERROR_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
               405: "badMethod", 409: "conflictingRequest",
               413: "overLimit", 415: "badMediaType", 429: "overLimit", 501: "notImplemented",
               503: "serviceUnavailable"}


class ApiError(Exception):
    """Raised by handlers; rendered in the Compute API's error format."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def BadRequest(message: str) -> ApiError:  # noqa: N802 - reads like the HTTP name it stands for
    return ApiError(400, message)


def NotFound(message: str) -> ApiError:  # noqa: N802
    return ApiError(404, message)


def Forbidden(message: str) -> ApiError:  # noqa: N802
    return ApiError(403, message)


def Conflict(message: str) -> ApiError:  # noqa: N802
    return ApiError(409, message)


# Nova's error responses name their charset (webob's default for text), unlike its 200 answers
CONTENT_TYPE = "application/json; charset=UTF-8"


# The refusals the compute API layer (herder/operations) raises, as the codes Nova gives them;
# the first that matches wins, so a subclass comes before its base.
_REFUSALS = ((exception.QuotaExceeded, 403), (exception.Invalid, 400),
             (exception.NotFound, 404), (exception.Conflict, 409),
             (exception.ConsoleUnavailable, 503))


@contextmanager
def refusals_as_errors() -> Iterator[None]:
    """Around a call to the compute API layer: its refusals become the errors a client sees,
    with their messages; any other error goes on as it is (a 500)."""
    try:
        yield
    except exception.HerderError as error:
        code = next((code for kind, code in _REFUSALS if isinstance(error, kind)), None)
        if code is None:
            raise
        raise ApiError(code, str(error)) from None


def body(code: int, message: str) -> str:
    return json.dumps({ERROR_NAMES.get(code, "computeFault"): {"code": code, "message": message}})


def render(resp: falcon.Response, code: int, message: str) -> None:
    resp.status = code
    resp.content_type = CONTENT_TYPE
    resp.text = body(code, message)
    resp.media = None
