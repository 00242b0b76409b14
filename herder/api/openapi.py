"""The OpenAPI 3.0 document of herder's API, derived from the routes and from what each responder
declares with `apidoc.describe` (its request schemas, query parameters and microversions).

Nothing here is written per endpoint: a route without a description still appears, with its
path parameters and the fault response. Served at GET /openapi.json; `herder openapi` prints it
(docs/openapi.json, which a test keeps equal to this output).
"""
import json
import re

from herder.api import apidoc, errors, microversion
from herder.api.middleware import PUBLIC_PATHS, is_versioned

_METHODS = ("get", "post", "put", "patch", "delete")
_PATH_PARAMETER = re.compile(r"{(\w+)}")
_JSON = "application/json"
_BYTES = {"schema": {"type": "string", "format": "binary"}}
# the Image API v2's paths: handlers there answer errors in glance's format
_IMAGE_API = ("/image/v2/", "/v2/")
# keywords of a draft 4 schema that apply to values of one JSON type
_TYPE_KEYWORDS = {
    "string": ("minLength", "maxLength", "pattern", "format"),
    "integer": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
    "object": ("properties", "required", "additionalProperties", "minProperties",
               "maxProperties", "x-patternProperties"),
    "array": ("items", "minItems", "maxItems", "uniqueItems"),
    "boolean": (),
}
_JSON_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool,
               "object": dict, "array": list}


def document(routes: list[tuple[str, object]]) -> dict:
    """The document for `routes`, (URI template, resource) pairs as `app._routes` gives them."""
    paths = {}
    for template, resource in routes:
        item = {}
        for method in _METHODS:
            responder = getattr(resource, f"on_{method}", None)
            if callable(responder):
                described = apidoc.operation_of(responder) or apidoc.Operation(
                    f"{method.upper()} {template}")
                item[method] = _operation(template, method, described)
        if item:
            paths[template] = item
    return {
        "openapi": "3.0.3",
        "info": {"title": "herder Compute API", "version": microversion.max_version(),
                 "description": (
                     "The OpenStack Compute API v2.1 as herder serves it, microversions "
                     f"{microversion.min_version()} to {microversion.max_version()}: ask for one "
                     f"with the `{microversion.HEADER}: {microversion.SERVICE_TYPE} 2.N` "
                     "header. Errors are `{\"<faultName>\": {\"code\": N, \"message\": "
                     "\"...\"}}`. Beside it, under /herder, herder's own API, versioned on its "
                     "own by path and without microversions (docs/herder-api.md), with errors in "
                     "the same format. Generated from herder's routes and request schemas.")},
        "paths": paths,
        "components": _components(),
        "security": [{"token": []}],
    }


def render(doc: dict) -> str:
    """The document as docs/openapi.json holds it."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _operation(template: str, method: str, described: apidoc.Operation) -> dict:
    versioned = is_versioned(template)
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in _PATH_PARAMETER.findall(template)]
    parameters += [{"name": name, "in": "query", "required": False,
                    "schema": apidoc.QUERY_SCHEMAS.get(name, {"type": "string"})}
                   for name in described.query]
    if versioned:
        parameters += [{"$ref": "#/components/parameters/microversion"},
                       {"$ref": "#/components/parameters/legacyMicroversion"}]
    responses = {}
    for status in described.statuses:
        responses[str(status)] = {"description": described.summary,
                                  "headers": _response_headers(versioned)}
        carries_body = status in described.body_statuses if described.body_statuses \
            else described.returns_body and status != 204
        if carries_body:
            responses[str(status)]["content"] = {described.response_type: _BYTES} \
                if described.response_type else {_JSON: {"schema": {"type": "object"}}}
    responses["default"] = {"$ref": "#/components/responses/" + (
        "imageFault" if template.startswith(_IMAGE_API) else "fault")}
    operation = {
        "operationId": f"{method}_{re.sub(r'[^A-Za-z0-9]+', '_', template).strip('_') or 'root'}",
        "summary": described.summary,
        "parameters": parameters,
        "responses": responses,
    }
    notes = []
    if described.min_version:
        operation["x-min-microversion"] = described.min_version
        notes.append(f"From microversion {described.min_version}.")
    if described.max_version:
        operation["x-max-microversion"] = described.max_version
        notes.append(f"Until microversion {described.max_version}.")
    if notes:
        operation["description"] = " ".join(notes) + " Outside that range: 404."
    if described.bodies:
        operation["requestBody"] = {"required": True,
                                    "content": {_JSON: {"schema": _body(described.bodies)}}}
    elif described.request_type:
        operation["requestBody"] = {"required": True,
                                    "content": {described.request_type: _BYTES}}
    if template in PUBLIC_PATHS:
        operation["security"] = []
    return operation


def _body(bodies: dict[str, dict]) -> dict:
    """One schema, or any of the schemas that successive microversions accept."""
    if len(bodies) == 1:
        return to_openapi(next(iter(bodies.values())))
    starts = sorted(bodies, key=microversion.Version.parse)
    variants = []
    for index, start in enumerate(starts):
        schema = to_openapi(bodies[start])
        if index + 1 < len(starts):
            following = microversion.Version.parse(starts[index + 1])
            schema["description"] = \
                f"Microversions {start} to {following.major}.{following.minor - 1}."
        else:
            schema["description"] = f"From microversion {start}."
        variants.append(schema)
    return {"anyOf": variants}


def to_openapi(schema):
    """A jsonschema (draft 4) schema as an OpenAPI 3.0 Schema Object.

    OpenAPI 3.0 knows one `type` per schema and `nullable` instead of the type "null", so
    `{"type": ["integer", "string"], ...}` becomes anyOf one schema per type, each with the
    keywords that apply to it. It has no `patternProperties`: the value schema becomes
    `additionalProperties` and the key pattern is kept as `x-patternProperties` (approximate).
    """
    if isinstance(schema, list):
        return [to_openapi(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "patternProperties":
            out["x-patternProperties"] = list(value)
            out["additionalProperties"] = \
                to_openapi(next(iter(value.values()))) if len(value) == 1 else {}
        elif key == "additionalProperties" and "patternProperties" in schema:
            continue  # replaced by the pattern's value schema above
        elif key == "properties":
            out[key] = {name: to_openapi(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "oneOf", "anyOf", "allOf"):
            out[key] = to_openapi(value)
        else:
            out[key] = value
    if out.get("type") == "array":
        out.setdefault("items", {})
    types = out.get("type")
    if not isinstance(types, list):
        return out
    nullable = "null" in types
    types = [t for t in types if t != "null"]
    if len(types) == 1:
        out["type"] = types[0]
        if nullable:
            out["nullable"] = True
        return out
    branches = [_one_type(out, name, nullable) for name in types]
    return {"anyOf": [branch for branch in branches if branch is not None]}


def _one_type(schema: dict, name: str, nullable: bool) -> dict | None:
    """The part of a multi-typed schema that applies to values of type `name` (None: no value
    of that type is allowed)."""
    branch = {"type": name, **{k: v for k, v in schema.items() if k in _TYPE_KEYWORDS[name]}}
    if name == "array":
        branch.setdefault("items", {})
    if "enum" in schema:
        kind = _JSON_TYPES[name]
        branch["enum"] = [v for v in schema["enum"] if isinstance(v, kind) and
                          (name == "boolean" or not isinstance(v, bool))]
        if not branch["enum"]:
            return None
    if nullable:
        branch["nullable"] = True
    return branch


def _response_headers(versioned: bool) -> dict:
    headers = {"x-openstack-request-id": {"$ref": "#/components/headers/requestId"}}
    if versioned:
        headers[microversion.HEADER] = {"$ref": "#/components/headers/microversion"}
        headers[microversion.LEGACY_HEADER] = {"$ref": "#/components/headers/legacyMicroversion"}
    return headers


def _components() -> dict:
    versions = [f"2.{minor}" for minor in range(microversion.MIN_VERSION[1],
                                                microversion.MAX_VERSION[1] + 1)] + ["latest"]
    service = microversion.SERVICE_TYPE
    return {
        "securitySchemes": {"token": {
            "type": "apiKey", "in": "header", "name": "X-Auth-Token",
            "description": "A Keystone token, the configured admin token, or (embedded) "
                           "`user:project[:role,role]`."}},
        "parameters": {
            "microversion": {
                "name": microversion.HEADER, "in": "header", "required": False,
                "description": f"The wanted microversion, `{service} 2.N`; none means 2.1.",
                "schema": {"type": "string", "enum": [f"{service} {v}" for v in versions]}},
            "legacyMicroversion": {
                "name": microversion.LEGACY_HEADER, "in": "header", "required": False,
                "description": f"Read when {microversion.HEADER} names no compute version.",
                "schema": {"type": "string", "enum": versions}},
        },
        "headers": {
            "requestId": {"description": "The request id (instance actions record it).",
                          "schema": {"type": "string"}},
            "microversion": {"description": "The microversion the response speaks.",
                             "schema": {"type": "string"}},
            "legacyMicroversion": {"description": "The same, in the legacy header.",
                                   "schema": {"type": "string"}},
        },
        "schemas": {"Fault": {
            "type": "object", "minProperties": 1, "maxProperties": 1,
            "description": "One key, the fault name: " + ", ".join(
                f"{code} {name}" for code, name in sorted(errors.ERROR_NAMES.items()))
                + ", any other code computeFault.",
            "additionalProperties": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "integer"}, "message": {"type": "string"}}}},
            "ImageFault": {
                "type": "object", "required": ["code", "title", "message"],
                "additionalProperties": False,
                "description": "glance's (webob's) error body: code is e.g. \"404 Not Found\".",
                "properties": {"code": {"type": "string"}, "title": {"type": "string"},
                               "message": {"type": "string"}}}},
        "responses": {"fault": {
            "description": "An error, in the Compute API's fault format.",
            "headers": {"x-openstack-request-id": {"$ref": "#/components/headers/requestId"}},
            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Fault"}}}},
            "imageFault": {
                "description": "An error of the Image API, in glance's format (one that comes "
                               "before the handler, such as 401, in the Compute API's).",
                "headers": {"x-openstack-request-id": {"$ref": "#/components/headers/requestId"}},
                "content": {_JSON: {"schema": {"anyOf": [
                    {"$ref": "#/components/schemas/ImageFault"},
                    {"$ref": "#/components/schemas/Fault"}]}}}}},
    }
