"""The OpenAPI document: derived from the routes and request schemas, valid, committed, served."""
import json
from pathlib import Path

import falcon.testing
import schemathesis

from herder.api import app, openapi
from herder.api.handlers import server_actions
from herder.api.handlers.base import ApiServices
from herder.api.middleware import PUBLIC_PATHS
from herder.api.schemas import servers as server_schemas
from herder.cmd.main import main

COMMITTED = Path(__file__).parents[2] / "docs" / "openapi.json"
_NO_SERVICES = ApiServices(None, None, None, None)


def document() -> dict:
    return json.loads(app.openapi_text())


def test_committed_document_is_what_the_code_generates():
    assert COMMITTED.read_text() == app.openapi_text(), \
        "docs/openapi.json is stale: run `herder openapi > docs/openapi.json`"


def test_herder_openapi_prints_the_document(capsys):
    assert main(["openapi"]) == 0
    assert capsys.readouterr().out == app.openapi_text()


def test_document_is_valid_openapi_3_0():
    doc = document()
    assert doc["openapi"].startswith("3.0.")
    schemathesis.openapi.from_dict(doc).validate()


def test_every_route_and_method_is_documented_and_described():
    doc = document()
    routes = app._routes(_NO_SERVICES)
    assert list(doc["paths"]) == [template for template, _ in routes]
    for template, resource in routes:
        methods = {m for m in ("get", "post", "put", "patch", "delete")
                   if callable(getattr(resource, f"on_{m}", None))}
        assert set(doc["paths"][template]) == methods, template
        for method, operation in doc["paths"][template].items():
            # a responder without @describe would be summarised as "GET /path"
            assert operation["summary"] != f"{method.upper()} {template}"


def test_path_parameters_security_and_microversion_headers():
    doc = document()
    show = doc["paths"]["/v2.1/servers/{server_id}/migrations/{migration_id}"]["get"]
    names = [p.get("name") or p["$ref"].rsplit("/", 1)[-1] for p in show["parameters"]]
    assert names == ["server_id", "migration_id", "microversion", "legacyMicroversion"]
    assert show["x-min-microversion"] == "2.23"
    token = doc["components"]["securitySchemes"]["token"]
    assert (token["type"], token["in"], token["name"]) == ("apiKey", "header", "X-Auth-Token")
    assert doc["security"] == [{"token": []}]
    public = [template for template, item in doc["paths"].items()
              if item.get("get", {}).get("security") == []]
    assert set(public) == set(doc["paths"]) & PUBLIC_PATHS
    assert show["responses"]["default"] == {"$ref": "#/components/responses/fault"}


def test_action_body_is_one_of_every_action_the_handler_runs():
    action = document()["paths"]["/v2.1/servers/{server_id}/action"]["post"]
    variants = action["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert [v["required"] for v in variants] == [[name] for name in server_schemas.ACTIONS]
    assert set(server_schemas.ACTIONS) == set(server_actions._ACTIONS)
    assert set(action["responses"]) == {"200", "202", "204", "default"}
    # only os-getConsoleOutput answers with a body (200); the others are empty 202s and 204s
    assert [status for status in ("200", "202", "204")
            if "content" in action["responses"][status]] == ["200"]


def test_several_types_become_one_schema_per_type_with_its_keywords():
    assert openapi.to_openapi({"type": ["integer", "string"], "pattern": "^[0-9]+$",
                               "minimum": 1}) == {
        "anyOf": [{"type": "integer", "minimum": 1},
                  {"type": "string", "pattern": "^[0-9]+$"}]}
    assert openapi.to_openapi({"type": ["boolean", "string"], "enum": [True, "yes", False]}) == {
        "anyOf": [{"type": "boolean", "enum": [True, False]},
                  {"type": "string", "enum": ["yes"]}]}


def test_null_becomes_nullable_and_pattern_properties_additional_properties():
    assert openapi.to_openapi({"type": ["string", "null"], "maxLength": 3}) == {
        "type": "string", "maxLength": 3, "nullable": True}
    assert openapi.to_openapi({"type": "object", "patternProperties": {"^a": {"type": "string"}},
                               "additionalProperties": False}) == {
        "type": "object", "x-patternProperties": ["^a"],
        "additionalProperties": {"type": "string"}}


def test_document_is_served_without_a_token():
    client = falcon.testing.TestClient(app.make_app(_NO_SERVICES))
    resp = client.simulate_get("/openapi.json")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.text == app.openapi_text()
