"""Per-request plumbing: request id, authentication, microversion, and their response headers."""
import io
import logging
import re

import falcon

from herder import dashboard, image_urls
from herder.api import auth, errors, http_server, keystone, microversion
from herder.context import new_request_id

LOG = logging.getLogger(__name__)

# Paths anyone may read without a token: the version documents (the herder API's too) and the
# OpenAPI document.
PUBLIC_PATHS = {"/", "/v2.1", "/v2.1/", "/v2", "/v2/", "/identity", "/identity/", "/identity/v3",
                "/identity/v3/", "/image", "/image/", "/openapi.json",
                "/herder", "/herder/", "/herder/v1", "/herder/v1/"}


class RequestContextMiddleware:
    """Authenticates the caller and parses the microversion before any handler runs."""

    def __init__(self, conf, public_url: str | None = None, keystone: bool = False, db=None):
        self.conf = conf
        self.public_url = public_url
        self.keystone = keystone
        self.db = db    # where the image URL signing key is kept when none is configured

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        request_id = new_request_id()
        req.context.request_id = request_id
        resp.set_header("x-openstack-request-id", request_id)
        resp.set_header("x-compute-request-id", request_id)
        self._bound_body(req)
        root = (self.public_url or f"{req.scheme}://{req.netloc}").rstrip("/")
        req.context.root_url = root
        req.context.base_url = f"{root}/v2.1"
        req.context.version = microversion.Version(*microversion.MIN_VERSION)
        if is_versioned(req.path):
            self._negotiate(req)
        if req.path in PUBLIC_PATHS:
            return
        if self.keystone:
            context = keystone.context_from_request(req, request_id)
        else:
            context = auth.context_from_token(req.get_header("X-Auth-Token"),
                                              self.conf.admin_token, request_id)
        if context is None and dashboard.is_dashboard_path(req.path):
            # the dashboard sends a caller without a valid token to its login page
            req.context.herder = None
            return
        if context is None:
            signed_image_id = signed_download(req, self.conf, self.db)
            if signed_image_id is None:
                raise errors.ApiError(401, "The request you have made requires authentication.")
            # no caller at all: the download handler serves this one image, nothing else does
            req.context.signed_image_id = signed_image_id
            return
        req.context.herder = context
        if "\x00" in req.path or "%00" in req.query_string:  # the path is decoded, the query not
            # PostgreSQL refuses a NUL in any text, even one it only compares
            raise errors.BadRequest("Invalid input: the URL holds a NUL character")

    def _bound_body(self, req: falcon.Request) -> None:
        """413 for a body larger than its route allows. herder's own server refuses a declared
        length before reading it (http_server.py); this covers other WSGI servers, and chunked
        bodies, which are read here up to the limit and then handed on with their length (a
        handler reading by Content-Length would otherwise see none). Image data is left to its
        handler, which streams it and answers in the Image API's format."""
        chunked = "chunked" in (req.get_header("Transfer-Encoding") or "").lower()
        if not (req.content_length or chunked) or \
                http_server.streams_body(req.method, req.path):
            return
        limit = self.conf.api.max_request_body_size
        too_large = errors.ApiError(413, f"Request is too large: the body may hold {limit} bytes.")
        if (req.content_length or 0) > limit:
            raise too_large
        if chunked:
            body = req.stream.read(limit + 1)
            if len(body) > limit:
                raise too_large
            req.stream = req.env["wsgi.input"] = io.BytesIO(body)
            req.env["CONTENT_LENGTH"] = str(len(body))

    @staticmethod
    def _negotiate(req: falcon.Request) -> None:
        """The wanted microversion, and the one to echo: as Nova, a refused (406) version is
        echoed back, an unreadable (400) one is not."""
        req.context.echo_version = None
        headers = {k.upper(): v for k, v in req.headers.items()}
        try:
            version = microversion.from_headers(headers)
        except microversion.InvalidVersion as error:
            raise errors.BadRequest(str(error)) from None
        except microversion.UnsupportedVersion as error:
            req.context.echo_version = error.version
            raise errors.ApiError(406, str(error)) from None
        req.context.version = req.context.echo_version = version

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        """Every versioned response, errors too, says which microversion it speaks."""
        if not is_versioned(req.path):
            return
        resp.set_header("Vary", f"{microversion.HEADER}, {microversion.LEGACY_HEADER}")
        version = req.context.get("echo_version")
        if version is not None:
            resp.set_header(microversion.HEADER, f"{microversion.SERVICE_TYPE} {version}")
            resp.set_header(microversion.LEGACY_HEADER, str(version))


# The one request that needs no token: a compute host's download of an image's data through a
# URL the conductor signed (herder/image_urls.py), exactly in the form it signs.
_SIGNED_DOWNLOAD = re.compile(r"^/image/v2/images/([^/]+)/file$")


def signed_download(req: falcon.Request, conf, db) -> str | None:
    """The image id of a GET whose `expires` and `signature` are valid for it, else None."""
    match = _SIGNED_DOWNLOAD.match(req.path)
    if req.method != "GET" or match is None or conf is None or db is None:
        return None
    image_id = match.group(1)
    if image_urls.verify(image_urls.signing_key(conf, db), image_id, req.get_param("expires"),
                         req.get_param("signature")):
        return image_id
    return None


def is_versioned(path: str) -> bool:
    return path == "/v2.1" or path.startswith("/v2.1/")


class PolicyRulesMiddleware:
    """The policy rules are brought up to date with the policy file once per request, not
    before each of its checks (policies.Enforcer.begin_request)."""

    def __init__(self, enforcer):
        self.enforcer = enforcer

    def process_request(self, req, resp) -> None:
        if self.enforcer is not None:   # None: an app built only to describe its routes
            self.enforcer.begin_request()

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        if self.enforcer is not None:
            self.enforcer.end_request()


class ReadTransactionMiddleware:
    """A GET's queries run in one database transaction (Database.one_transaction): showing a
    server reads the server, its fault, its host's service, its groups and request spec."""

    def __init__(self, db):
        self.db = db

    def process_resource(self, req, resp, resource, params) -> None:
        if req.method in ("GET", "HEAD") and self.db is not None:
            req.context.read_transaction = self.db.one_transaction(read_only=True)
            req.context.read_transaction.__enter__()

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        scope = req.context.get("read_transaction")
        if scope is None:
            return
        req.context.read_transaction = None
        if req_succeeded:
            scope.__exit__(None, None, None)
        else:  # rolled back: a database error may have left the transaction unusable
            failed = RuntimeError("the request failed")
            scope.__exit__(RuntimeError, failed, None)
