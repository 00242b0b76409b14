"""Request schemas for os-quota-sets: which limits a microversion lets an admin set."""
import copy

from herder.api.query import BOOLEAN_VALUES

MAX_INT = 2 ** 31 - 1  # what a quota limit column holds

# -1 means unlimited; a string of digits is accepted as well (the range of a string is checked
# by the handler, since jsonschema bounds numbers only)
LIMIT = {"type": ["integer", "string"], "pattern": r"^-?[0-9]+$", "minimum": -1,
         "maximum": MAX_INT}
BOOLEAN = {"type": ["boolean", "string"], "enum": BOOLEAN_VALUES}

# the quotas each microversion shows and sets: 2.36 drops the nova-network proxies, 2.57 the
# injected (personality) files
NETWORK_QUOTAS = ("fixed_ips", "floating_ips", "security_groups", "security_group_rules")
INJECTED_FILE_QUOTAS = ("injected_files", "injected_file_content_bytes",
                        "injected_file_path_bytes")
_ALL = ("instances", "cores", "ram", "metadata_items", "key_pairs", "server_groups",
        "server_group_members", *INJECTED_FILE_QUOTAS, *NETWORK_QUOTAS)


def _update(resources: tuple[str, ...]) -> dict:
    return {
        "type": "object",
        "properties": {"quota_set": {
            "type": "object",
            "properties": {**{name: copy.deepcopy(LIMIT) for name in resources},
                           "force": BOOLEAN},
            "additionalProperties": False}},
        "required": ["quota_set"],
        "additionalProperties": False,
    }


UPDATE = _update(_ALL)
UPDATE_V236 = _update(tuple(n for n in _ALL if n not in NETWORK_QUOTAS))
UPDATE_V257 = _update(tuple(n for n in _ALL if n not in NETWORK_QUOTAS + INJECTED_FILE_QUOTAS))
