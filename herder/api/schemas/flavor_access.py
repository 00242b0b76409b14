"""Request schemas for POST /flavors/{id}/action: giving and taking a private flavor's access."""

_TENANT = {"type": "string", "minLength": 1, "maxLength": 255}


def _tenant_action(action: str) -> dict:
    return {
        "type": "object",
        "properties": {action: {"type": "object", "properties": {"tenant": _TENANT},
                                "required": ["tenant"], "additionalProperties": False}},
        "required": [action],
        "additionalProperties": False,
    }


ADD_TENANT_ACCESS = _tenant_action("addTenantAccess")
REMOVE_TENANT_ACCESS = _tenant_action("removeTenantAccess")
ACTIONS = {"addTenantAccess": ADD_TENANT_ACCESS, "removeTenantAccess": REMOVE_TENANT_ACCESS}
