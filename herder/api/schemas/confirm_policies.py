"""Request schema of a project's confirm policy (herder's own API)."""
from herder import confirm_policy

MAX_WINDOW = 2 ** 31 - 1  # what the window column holds (68 years)

# null, or left out: the setting is the cloud's (PUT replaces the whole policy)
PUT = {
    "type": "object",
    "properties": {"confirm_policy": {
        "type": "object",
        "properties": {
            "window": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_WINDOW},
            "action": {"type": ["string", "null"], "enum": [*confirm_policy.ACTIONS, None]},
        },
        "additionalProperties": False}},
    "required": ["confirm_policy"],
    "additionalProperties": False,
}
