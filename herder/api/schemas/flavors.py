"""Request schemas for flavors."""

CREATE = {
    "type": "object",
    "properties": {"flavor": {"type": "object", "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255,
                 "pattern": r"^(?! )[\S ]*(?<! )$"},
        "id": {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
               "pattern": r"^(?! )[a-zA-Z0-9. _-]+(?<! )$"},
        "ram": {"type": ["integer", "string"], "pattern": r"^[0-9]+$", "minimum": 1},
        "vcpus": {"type": ["integer", "string"], "pattern": r"^[0-9]+$", "minimum": 1},
        "disk": {"type": ["integer", "string"], "pattern": r"^[0-9]+$", "minimum": 0},
        "OS-FLV-EXT-DATA:ephemeral": {"type": ["integer", "string"], "pattern": r"^[0-9]+$",
                                      "minimum": 0},
        "swap": {"type": ["integer", "string"], "pattern": r"^[0-9]*$", "minimum": 0},
        "rxtx_factor": {"type": ["number", "string"], "minimum": 0},
        "os-flavor-access:is_public": {"type": ["boolean", "string"]},
        "description": {"type": ["string", "null"], "maxLength": 65535}},
        "required": ["name", "ram", "vcpus", "disk"], "additionalProperties": False}},
    "required": ["flavor"], "additionalProperties": False,
}

EXTRA_SPECS = {
    "type": "object",
    "properties": {"extra_specs": {"type": "object", "patternProperties": {
        r"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": ["string", "number", "boolean"],
                                      "maxLength": 255}},
        "additionalProperties": False}},
    "required": ["extra_specs"], "additionalProperties": False,
}
