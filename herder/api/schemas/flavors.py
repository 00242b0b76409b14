"""Request schemas for flavors."""

# Nova's limits: what a database integer column and a SQL float hold. For a number sent as a
# string only the pattern applies here, so the handler checks the range again after int().
MAX_INT = 2147483647
MAX_FLOAT = 3.40282e+38


def _whole(minimum: int, pattern: str = r"^[0-9]+$") -> dict:
    return {"type": ["integer", "string"], "pattern": pattern, "minimum": minimum,
            "maximum": MAX_INT}


CREATE = {
    "type": "object",
    "properties": {"flavor": {"type": "object", "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255,
                 "pattern": r"^(?! )[\S ]*(?<! )$"},
        # a number too, as Nova takes it (tempest sends an integer id); it is kept as text
        "id": {"type": ["string", "number", "null"], "minLength": 1, "maxLength": 255,
               "pattern": r"^(?! )[a-zA-Z0-9. _-]+(?<! )$"},
        "ram": _whole(1), "vcpus": _whole(1), "disk": _whole(0),
        "OS-FLV-EXT-DATA:ephemeral": _whole(0), "swap": _whole(0, r"^[0-9]*$"),
        "rxtx_factor": {"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?$",
                        "minimum": 0, "exclusiveMinimum": True, "maximum": MAX_FLOAT},
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
