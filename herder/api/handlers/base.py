"""What every handler needs: the caller's context, the microversion, policy and the body."""
import json
from dataclasses import dataclass, field

import falcon
from oslo_policy import policy

from herder import exception
from herder.api import errors
from herder.api.microversion import Version
from herder.api.validation import validate
from herder.bus.rpc import Bus
from herder.conductor.rpcapi import ConductorAPI
from herder.context import RequestContext
from herder.db import instances
from herder.db.models import Instance
from herder.db.session import Database


@dataclass
class ApiServices:
    conf: object
    db: Database
    bus: Bus
    enforcer: policy.Enforcer
    conductor: ConductorAPI = field(init=False)

    def __post_init__(self):
        # the api records each request before it casts it (operations/handover.py): a cast
        # the broker refuses is sent again by a conductor, so the api answers at once rather
        # than wait out a broker restart
        self.conductor = ConductorAPI(self.bus, cast_patience=0.0)


class Handler:
    def __init__(self, api: ApiServices):
        self.api = api
        self.db = api.db
        self.conf = api.conf

    # -- request facts -------------------------------------------------------------------
    @staticmethod
    def context(req: falcon.Request) -> RequestContext:
        return req.context.herder

    @staticmethod
    def version(req: falcon.Request) -> Version:
        return req.context.version

    @staticmethod
    def base_url(req: falcon.Request) -> str:
        return req.context.base_url

    def authorize(self, req: falcon.Request, rule: str, target: dict | None = None) -> None:
        context = self.context(req)
        target = target or {"project_id": context.project_id, "user_id": context.user_id}
        if not self.allowed(req, rule, target):
            raise errors.Forbidden(f"Policy doesn't allow {rule} to be performed.")

    def allowed(self, req: falcon.Request, rule: str, target: dict | None = None) -> bool:
        context = self.context(req)
        target = target or {"project_id": context.project_id, "user_id": context.user_id}
        # authorize, not enforce: a rule nobody registered (so with no default and no
        # description in the sample policy file) is a bug, raised rather than judged by
        # the default rule
        return self.api.enforcer.authorize(rule, target, context.policy_creds())

    @staticmethod
    def body(req: falcon.Request, schema: dict | None = None):
        raw = req.bounded_stream.read()
        if not raw:
            data = None
        else:
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError):  # not JSON, or nested deeper than we parse
                raise errors.BadRequest("Malformed request body") from None
            if not _storable(data):
                raise errors.BadRequest("Invalid input: text with a NUL character or an "
                                        "unpaired surrogate")
        if schema is not None:
            validate(schema, data)
        return data

    def one_key_body(self, req: falcon.Request, choices: dict[str, dict],
                     unknown: str) -> tuple[str, object]:
        """A body of one key naming one of `choices` (name -> the whole body's schema),
        validated: (the name, its value). `unknown`: the refusal of any other name, with
        `{name}` in it."""
        body = self.body(req)
        if not isinstance(body, dict) or len(body) != 1:
            raise errors.BadRequest("Malformed request body")
        (name, value), = body.items()
        if name not in choices:
            raise errors.BadRequest(unknown.format(name=name))
        validate(choices[name], body)
        return name, value

    # -- shared lookups ------------------------------------------------------------------
    def server(self, req: falcon.Request, server_id: str) -> Instance:
        """The server if the caller may see it (admins see all), else 404."""
        context = self.context(req)
        try:
            return instances.get(self.db, server_id,
                                 None if context.is_admin else context.project_id)
        except exception.InstanceNotFound as error:
            raise errors.NotFound(str(error)) from None

    def project_in_path(self, req: falcon.Request, project_id: str, rule: str) -> str:
        """A project a path names, once the caller may `rule` on it. There is no identity
        service to ask: refused is only what no project id can be (and what a database could
        not even compare with its project_id column)."""
        if len(project_id) > 255 or not project_id.isprintable():
            raise errors.BadRequest(f"Project ID {project_id} is not a valid project.")
        self.authorize(req, rule, {"project_id": project_id})
        return project_id

    @staticmethod
    def target(instance: Instance) -> dict:
        return {"project_id": instance.project_id, "user_id": instance.user_id}


def _storable(data) -> bool:
    """Whether every string in a decoded body can be stored and echoed: JSON may spell a NUL
    character, which PostgreSQL refuses, and half a surrogate pair, which has no UTF-8."""
    pending = [data]
    while pending:  # a loop, not recursion: bodies nest as deep as the JSON parser allows
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and (
                "\x00" in item or not item.isascii() and not _encodable(item)):
            return False
    return True


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def accepted(resp: falcon.Response) -> None:
    resp.status = 202
    resp.text = ""


def no_content(resp: falcon.Response) -> None:
    """204, with the Content-Type Nova sends on its empty answers (clients that check the
    type of every answer expect it)."""
    resp.status = 204
    resp.text = None
    resp.content_type = "application/json"


def require_version(version: Version, minimum: str, maximum: str | None = None) -> None:
    """A method outside its microversion range does not exist there: 404, as in Nova."""
    if not version.at_least(minimum) or (maximum is not None and version > maximum):
        raise errors.NotFound("The resource could not be found.")
