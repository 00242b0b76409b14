"""What the Image API v2 handlers share: glance's error body, and who may see or change an
image.

glance answers errors as webob does for a JSON client:
`{"message": "<explanation><br /><br />\n\n\n", "code": "404 Not Found", "title": "Not Found"}`,
not in the Compute API's error format; openstacksdk and the CLI read the message from either.
Errors raised before a handler runs (no token: 401; no such route: 404) keep the Compute API's
format, as they do for every other path.
"""
import functools
import json

import falcon

from herder import exception
from herder.api import errors
from herder.api.handlers.base import Handler
from herder.db import images
from herder.db.models import Image

# webob's titles (Python's own changed with 3.13: "Content Too Large")
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 409: "Conflict", 410: "Gone",
          413: "Request Entity Too Large", 415: "Unsupported Media Type",
          416: "Requested Range Not Satisfiable", 500: "Internal Server Error",
          503: "Service Unavailable"}


def error_body(code: int, message: str) -> dict:
    title = TITLES.get(code, "Error")
    return {"message": f"{message}<br /><br />\n\n\n", "code": f"{code} {title}",
            "title": title}


def glance_errors(responder):
    """Render the API errors a responder raises (and falcon's own, such as a malformed header)
    in glance's error format."""
    @functools.wraps(responder)
    def answer(self, req: falcon.Request, resp: falcon.Response, **params) -> None:
        try:
            responder(self, req, resp, **params)
        except errors.ApiError as error:
            _render(resp, error.code, error.message)
        except falcon.HTTPError as error:
            _render(resp, int(error.status_code),
                    error.description or error.title or "Error")
    return answer


def _render(resp: falcon.Response, code: int, message: str) -> None:
    resp.status = code
    resp.content_type = "application/json"
    resp.stream = None
    resp.media = None
    resp.text = json.dumps(error_body(code, message))


def image_root(req: falcon.Request) -> str:
    """Where this request's Image API lives: /image (the catalog's endpoint) or the root."""
    prefix = "/image" if req.path.startswith("/image/") else ""
    return f"{req.context.root_url}{prefix}"


class ImageHandler(Handler):
    def visible_image(self, req: falcon.Request, image_id: str) -> Image:
        """The image if the caller may see it, else 404 (as if it did not exist)."""
        context = self.context(req)
        try:
            return images.get_visible(self.db, image_id,
                                      None if context.is_admin else context.project_id)
        except exception.ImageNotFound:
            raise errors.NotFound(f"No image found with ID {image_id}") from None

    def authorize_image(self, req: falcon.Request, rule: str, owner: str | None) -> None:
        """`rule` (image:<action>) for an image of project `owner`; glance's 403 if not."""
        context = self.context(req)
        target = {"project_id": owner or "", "user_id": context.user_id}
        if not self.allowed(req, rule, target):
            action = rule.split(":", 1)[-1]
            raise errors.Forbidden(f"You are not authorized to complete {action} action.")
