"""Request schemas for servers and their actions."""
import copy

NAME = {"type": "string", "minLength": 1, "maxLength": 255,
        "pattern": r"^(?! )[\S ]*(?<! )$"}
FLAVOR_REF = {"type": ["string", "integer"], "minLength": 1}
HOST = {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
        "pattern": r"^[a-zA-Z0-9-._]*$"}
COUNT = {"type": ["integer", "string"], "pattern": r"^[0-9]+$", "minimum": 1}
METADATA = {"type": "object",
            "patternProperties": {r"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string",
                                                                  "maxLength": 255}},
            "additionalProperties": False}

_BDM = {"type": "object", "properties": {
    "boot_index": {"type": ["integer", "string", "null"]},
    "uuid": {"type": "string"}, "source_type": {"type": "string"},
    "destination_type": {"type": "string"}, "delete_on_termination": {"type": ["boolean", "string"]},
    "volume_size": {"type": ["integer", "string", "null"]}, "device_name": {"type": "string"},
    "guest_format": {"type": "string"}, "disk_bus": {"type": "string"},
    "device_type": {"type": "string"}, "tag": {"type": "string"},
    "volume_type": {"type": ["string", "null"]}}, "additionalProperties": False}

CREATE = {
    "type": "object",
    "properties": {
        "server": {
            "type": "object",
            "properties": {
                "name": NAME, "imageRef": {"type": "string"}, "flavorRef": FLAVOR_REF,
                "networks": {"oneOf": [{"type": "string", "enum": ["auto", "none"]},
                                       {"type": "array", "items": {"type": "object"}}]},
                "metadata": METADATA, "availability_zone": {"type": "string", "minLength": 1,
                                                            "maxLength": 255},
                "block_device_mapping_v2": {"type": "array", "items": _BDM},
                "key_name": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": {"type": ["string", "null"], "maxLength": 255},
                "min_count": COUNT, "max_count": COUNT,
                "return_reservation_id": {"type": ["boolean", "string"]},
                # as Nova: base64, at most 65535 characters
                "user_data": {"type": "string", "format": "base64", "maxLength": 65535},
                "config_drive": {"type": ["boolean", "string"]},
                "security_groups": {"type": "array"}, "adminPass": {"type": "string"},
                "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
                "accessIPv4": {"type": "string"}, "accessIPv6": {"type": "string"},
                "tags": {"type": "array"}, "host": {"type": "string"},
                "hypervisor_hostname": {"type": "string"},
            },
            "required": ["name", "flavorRef"],
            "additionalProperties": False,
        },
        "os:scheduler_hints": {"type": "object"},
        "OS-SCH-HNT:scheduler_hints": {"type": "object"},
    },
    "required": ["server"],
    "additionalProperties": False,
}

# 2.90: the guest's hostname, one DNS label; 2.94: a fully qualified name of such labels
_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
HOSTNAME = {"type": "string", "minLength": 1, "maxLength": 63, "pattern": f"^{_LABEL}$"}
FQDN = {"type": "string", "minLength": 1, "maxLength": 255,
        "pattern": rf"^{_LABEL}(\.{_LABEL})*\.?$"}


def _adding(schema: dict, **fields: dict) -> dict:
    """`schema` (a `{"server": {...}}` body) whose server also takes `fields`."""
    grown = copy.deepcopy(schema)
    grown["properties"]["server"]["properties"].update(fields)
    return grown


CREATE_V290 = _adding(CREATE, hostname=HOSTNAME)
CREATE_V294 = _adding(CREATE, hostname=FQDN)

_UPDATE_FIELDS = {"name": NAME,
                  "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
                  "accessIPv4": {"type": "string"}, "accessIPv6": {"type": "string"}}

UPDATE_V21 = {
    "type": "object",
    "properties": {"server": {"type": "object", "properties": _UPDATE_FIELDS,
                              "additionalProperties": False}},
    "required": ["server"],
    "additionalProperties": False,
}

UPDATE = {  # 2.19: a description
    "type": "object",
    "properties": {"server": {"type": "object", "properties": {
        **_UPDATE_FIELDS, "description": {"type": ["string", "null"], "maxLength": 255}},
        "additionalProperties": False}},
    "required": ["server"],
    "additionalProperties": False,
}

UPDATE_V290 = _adding(UPDATE, hostname=HOSTNAME)
UPDATE_V294 = _adding(UPDATE, hostname=FQDN)
# 2.104: re-pin a server to the zone it is in, or unpin it (null)
UPDATE_V2104 = _adding(UPDATE_V294, pinned_availability_zone={
    "type": ["string", "null"], "minLength": 1, "maxLength": 255})

MIGRATE_V256 = {
    "type": "object",
    "properties": {"migrate": {"type": ["object", "null"],
                               "properties": {"host": HOST},
                               "additionalProperties": False}},
    "required": ["migrate"],
    "additionalProperties": False,
}

RESIZE = {
    "type": "object",
    "properties": {"resize": {"type": "object", "properties": {
        "flavorRef": FLAVOR_REF,
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]}},
        "required": ["flavorRef"], "additionalProperties": False}},
    "required": ["resize"],
    "additionalProperties": False,
}

LOCK = {
    "type": "object",
    "properties": {"lock": {"type": ["object", "null"],
                            "properties": {"locked_reason": {"type": "string", "minLength": 1,
                                                             "maxLength": 255}},
                            "additionalProperties": False}},
    "required": ["lock"], "additionalProperties": False,
}

RESET_STATE = {
    "type": "object",
    "properties": {"os-resetState": {"type": "object", "properties": {
        "state": {"type": "string", "enum": ["active", "error"]}},
        "required": ["state"], "additionalProperties": False}},
    "required": ["os-resetState"], "additionalProperties": False,
}


REBOOT = {
    "type": "object",
    "properties": {"reboot": {"type": "object", "properties": {
        "type": {"type": "string", "enum": ["HARD", "Hard", "hard", "SOFT", "Soft", "soft"]}},
        "required": ["type"], "additionalProperties": False}},
    "required": ["reboot"], "additionalProperties": False,
}

CONSOLE_OUTPUT = {
    "type": "object",
    "properties": {"os-getConsoleOutput": {"type": "object", "properties": {
        # the last `length` lines; -1 or null: all of it
        "length": {"anyOf": [{"type": ["integer", "null"], "minimum": -1},
                             {"type": "string", "pattern": "^-?[0-9]+$"}]}},
        "additionalProperties": False}},
    "required": ["os-getConsoleOutput"], "additionalProperties": False,
}


def _ignored_argument(action: str) -> dict:
    """An action whose argument Nova ignores: `{"os-stop": null}`, `{"os-stop": {}}`, ..."""
    return {"type": "object", "properties": {action: {}}, "required": [action],
            "additionalProperties": False}


# Every action body POST /servers/{id}/action accepts, by action name. `migrate` is validated
# from 2.56 and `lock` from 2.73 only; before that their argument is ignored, as in Nova.
ACTIONS = {
    "migrate": MIGRATE_V256,
    "resize": RESIZE,
    "confirmResize": _ignored_argument("confirmResize"),
    "revertResize": _ignored_argument("revertResize"),
    "os-stop": _ignored_argument("os-stop"),
    "os-start": _ignored_argument("os-start"),
    "lock": LOCK,
    "unlock": _ignored_argument("unlock"),
    "os-resetState": RESET_STATE,
    "pause": _ignored_argument("pause"),
    "unpause": _ignored_argument("unpause"),
    "suspend": _ignored_argument("suspend"),
    "resume": _ignored_argument("resume"),
    "reboot": REBOOT,
    "os-getConsoleOutput": CONSOLE_OUTPUT,
}
