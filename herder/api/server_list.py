"""Which servers a list request wants, and in what order: Nova's filters and sort keys, checked
and turned into a herder.db.server_queries.ServerFilter (the database filters, sorts and pages).

Nova's meaning for each parameter: `name` is a regular expression searched in the name (matched
by RE2, in time linear in the name whatever the pattern, so that no pattern can hold the
process: RE2 has no backreferences or lookarounds, and a pattern that needs them is refused
with 400), `status` the API status, `changes-since`/`changes-before` the window the server
last changed in (deleted servers included), `sort_key`/`sort_dir` any number of keys with the
newest first by default.

The state filters (`STATE_FILTERS`: admins always, project members from 2.83) compare as
follows: `user_id`, `power_state` and `progress` exactly; `vm_state` and `task_state` against
any of the values given (they may repeat); `availability_zone`, `key_name` and `config_drive`
as text the field contains; `created_at`, `launched_at` and `terminated_at` as the instant
they name (a whole second when it has no fraction).
"""
from datetime import datetime
from typing import Callable

import re2

from herder.api import errors
from herder.db.server_queries import ServerFilter

# RE2 compiles within this memory (a larger pattern is refused) and says nothing on stderr
_NAME_PATTERN_OPTIONS = re2.Options()
_NAME_PATTERN_OPTIONS.max_mem = 8 << 20
_NAME_PATTERN_OPTIONS.log_errors = False
_NAME_PATTERN_OPTIONS.never_capture = True

# Every status Nova knows; herder shows only some of them, the others simply match nothing.
KNOWN_STATUSES = frozenset({
    "ACTIVE", "BUILD", "DELETED", "ERROR", "HARD_REBOOT", "MIGRATING", "PASSWORD", "PAUSED",
    "REBOOT", "REBUILD", "RESCUE", "RESIZE", "REVERT_RESIZE", "SHELVED", "SHELVED_OFFLOADED",
    "SHUTOFF", "SOFT_DELETED", "SUSPENDED", "UNKNOWN", "VERIFY_RESIZE"})

# Nova's sort keys (its database columns), and the attribute each reads here; a key herder has
# no data for sorts nothing out of order (every server holds the same None).
_SORT_ATTRIBUTES = {
    "access_ip_v4": None, "access_ip_v6": None, "auto_disk_config": "disk_config",
    "availability_zone": "availability_zone", "config_drive": "config_drive",
    "created_at": "created_at", "display_description": "description",
    "display_name": "display_name", "host": "host", "hostname": "display_name",
    "image_ref": "image_ref", "instance_type_id": None, "kernel_id": None,
    "key_name": "key_name", "launch_index": "launch_index", "launched_at": "launched_at",
    "locked_by": "locked_by", "node": "node", "power_state": "power_state",
    "progress": "progress", "project_id": "project_id", "ramdisk_id": None,
    "root_device_name": None, "task_state": "task_state", "terminated_at": "terminated_at",
    "updated_at": "updated_at", "user_id": "user_id", "uuid": "uuid", "vm_state": "vm_state",
}
# Keys Nova accepts and then ignores (it will not sort by them)
IGNORED_SORT_KEYS = frozenset({
    "architecture", "cell_name", "cleaned", "default_ephemeral_device",
    "default_swap_device", "deleted", "deleted_at", "disable_terminate", "ephemeral_gb",
    "ephemeral_key_uuid", "id", "key_data", "launched_on", "locked", "memory_mb", "os_type",
    "reservation_id", "root_gb", "shutdown_terminate", "user_data", "vcpus", "vm_mode"})
SORT_KEYS = frozenset(_SORT_ATTRIBUTES) | IGNORED_SORT_KEYS
ADMIN_SORT_KEYS = frozenset({"host", "node"})
_SORT_DIRS = ("asc", "desc")


STATE_FILTERS = ("availability_zone", "config_drive", "key_name", "created_at", "launched_at",
                 "terminated_at", "power_state", "task_state", "vm_state", "progress",
                 "user_id")


def name_pattern(name: str | None) -> Callable[[str], bool] | None:
    """Whether a server's name matches the `name` filter (searched, as Nova does); a pattern
    RE2 cannot compile is a bad request."""
    if name is None:
        return None
    try:
        pattern = re2.compile(name, _NAME_PATTERN_OPTIONS)
    except re2.error:
        raise errors.BadRequest(f"Invalid regular expression for name: {name}") from None
    return lambda server_name: pattern.search(server_name) is not None


def server_filter(project_id: str | None, name: str | None = None, status: str | None = None,
                  host: str | None = None, image: str | None = None, flavor: str | None = None,
                  changes_since: datetime | None = None, changes_before: datetime | None = None,
                  state_filters: dict | None = None) -> ServerFilter:
    """The filter of a list request; a changes window also lists deleted servers. `image` and
    `flavor` may be links: their last segment is the id."""
    return ServerFilter(
        project_id=project_id,
        include_deleted=changes_since is not None or changes_before is not None,
        name_matches=name_pattern(name), status=status.upper() if status else status,
        host=host, image_ref=image.rsplit("/", 1)[-1] if image is not None else None,
        flavorid=flavor.rsplit("/", 1)[-1] if flavor is not None else None,
        changes_since=changes_since, changes_before=changes_before,
        states=dict(state_filters or {}))


def valid_status(status: str, refuse_unknown: bool) -> bool:
    """Whether a `status` filter can match anything: an unknown status matches nothing, and
    from 2.38 it is a bad request (Nova)."""
    if status.upper() in KNOWN_STATUSES:
        return True
    if refuse_unknown:
        raise errors.BadRequest("Invalid status value")
    return False


def sort_order(keys: list[str], dirs: list[str], is_admin: bool) -> list[tuple[str, bool]]:
    """(attribute, descending) pairs for the requested keys, then Nova's default tie-breakers
    (created_at, then id) in the first requested direction (desc when none is given)."""
    for key in keys:
        if key not in SORT_KEYS:
            raise errors.BadRequest(f"Invalid input for query parameters sort_key. Value: "
                                    f"{key}. '{key}' is not one of {sorted(SORT_KEYS)}")
    for direction in dirs:
        if direction not in _SORT_DIRS:
            raise errors.BadRequest(f"Invalid input for query parameters sort_dir. Value: "
                                    f"{direction}. '{direction}' is not one of "
                                    f"{list(_SORT_DIRS)}")
    if len(dirs) > len(keys):
        raise errors.BadRequest("Sort direction size exceeds sort key size")
    for key in keys:
        if key in ADMIN_SORT_KEYS and not is_admin:
            raise errors.Forbidden(f"Only administrators can sort servers by {key}")
    default_dir = dirs[0] if dirs else "desc"
    dirs = dirs + [default_dir] * (len(keys) - len(dirs))
    order = [(_SORT_ATTRIBUTES[key], direction == "desc") for key, direction in zip(keys, dirs)
             if key not in IGNORED_SORT_KEYS and _SORT_ATTRIBUTES[key] is not None]
    for tie_breaker in ("created_at", "id"):
        if tie_breaker not in {attribute for attribute, _ in order}:
            order.append((tie_breaker, default_dir == "desc"))
    return order
