"""Request bodies of the herder API's host drains and restores."""

MAX_LIMIT = 1000   # moves at once out of or into one host; more is no longer a limit

_LIMITS = {
    "max_per_source": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    "max_per_destination": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    "auto_confirm": {"type": "boolean"},
}

CREATE = {
    "type": "object",
    "properties": {"host_drain": {
        "type": "object",
        "properties": {
            "host": {"type": "string", "minLength": 1, "maxLength": 255},
            # what the compute service's disabled_reason holds (Nova's limit too)
            "reason": {"type": ["string", "null"], "maxLength": 255},
            **_LIMITS},
        "required": ["host"],
        "additionalProperties": False}},
    "required": ["host_drain"],
    "additionalProperties": False,
}

# {"restore": null}, or with limits of its own (else the drain's)
RESTORE = {
    "type": "object",
    "properties": {"restore": {
        "type": ["object", "null"], "properties": _LIMITS, "additionalProperties": False}},
    "required": ["restore"],
    "additionalProperties": False,
}

# POST .../action: one key, the action, with null (or an empty object) as its value
_NO_ARGUMENTS = {"type": ["object", "null"], "additionalProperties": False}
ACTIONS = {name: {"type": "object", "properties": {name: _NO_ARGUMENTS}, "required": [name],
                  "additionalProperties": False}
           for name in ("pause", "resume", "cancel")}
