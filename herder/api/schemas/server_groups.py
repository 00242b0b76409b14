"""Request schemas for POST /os-server-groups, per microversion.

Before 2.64 a group names its policy in a list of exactly one (`policies`); 2.15 adds the soft
policies; 2.64 replaces the list with `policy` and adds `rules` (max_server_per_host, which
only anti-affinity takes: checked in the handler, as Nova does).
"""
from herder.api.schemas.servers import NAME
from herder.scheduler import group_policy


def _create(group: dict) -> dict:
    return {"type": "object", "properties": {"server_group": group},
            "required": ["server_group"], "additionalProperties": False}


def _policies(names: tuple[str, ...]) -> dict:
    return {"type": "array", "items": {"type": "string", "enum": list(names)},
            "uniqueItems": True, "minItems": 1, "maxItems": 1}


CREATE = _create({
    "type": "object",
    "properties": {"name": NAME, "policies": _policies(group_policy.HARD_POLICIES)},
    "required": ["name", "policies"], "additionalProperties": False})

CREATE_V215 = _create({
    "type": "object",
    "properties": {"name": NAME, "policies": _policies(group_policy.POLICIES)},
    "required": ["name", "policies"], "additionalProperties": False})

# a positive integer, or a string of digits (Nova's parameter_types.positive_integer)
MAX_SERVER_PER_HOST = {"type": ["integer", "string"], "pattern": r"^[0-9]*$", "minimum": 1,
                       "minLength": 1, "maximum": 2147483647}

CREATE_V264 = _create({
    "type": "object",
    "properties": {
        "name": NAME,
        "policy": {"type": "string", "enum": list(group_policy.POLICIES)},
        "rules": {"type": "object",
                  "properties": {"max_server_per_host": MAX_SERVER_PER_HOST},
                  "additionalProperties": False},
    },
    "required": ["name", "policy"], "additionalProperties": False})
