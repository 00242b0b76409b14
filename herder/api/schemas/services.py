"""Request schemas for PUT /os-services: the pre-2.53 actions and the 2.53 update."""
from herder.api.query import BOOLEAN_VALUES, HOSTNAME_PATTERN

BOOLEAN = {"type": ["boolean", "string"], "enum": BOOLEAN_VALUES}
_REASON = {"type": "string", "minLength": 1, "maxLength": 255}

# PUT /os-services/{enable,disable,disable-log-reason}: the service is named in the body
UPDATE = {
    "type": "object",
    "properties": {
        "host": {"type": "string", "minLength": 1, "maxLength": 255,
                 "pattern": HOSTNAME_PATTERN},
        "binary": {"type": "string", "minLength": 1, "maxLength": 255},
        "disabled_reason": _REASON,
    },
    "required": ["host", "binary"],
    "additionalProperties": False,
}

# 2.11 adds PUT /os-services/force-down
UPDATE_V211 = {**UPDATE, "properties": {**UPDATE["properties"], "forced_down": BOOLEAN}}

# 2.53: PUT /os-services/{uuid}; nothing is required, an empty update is refused in code
UPDATE_V253 = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["enabled", "disabled"]},
        "disabled_reason": _REASON,
        "forced_down": BOOLEAN,
    },
    "additionalProperties": False,
}
