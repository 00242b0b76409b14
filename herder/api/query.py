"""Request parameters (query string and path), checked the way Nova checks them, with its messages.

Nova validates a query string as a JSON schema over `{name: [values]}`: a request may repeat a
parameter (the last value wins) unless the schema allows one value only, and a parameter the
microversion does not know is either silently dropped (older microversions, whose schemas allow
additional properties) or refused with 400 (the newer ones).
"""
from datetime import datetime
from typing import Iterable

import falcon

from herder.api import errors
from herder.api.timeutil import parse_isotime
from herder.uuids import is_uuid_like  # noqa: F401 - the handlers' ids are checked with it

HOSTNAME_PATTERN = r"^[a-zA-Z0-9-._]*$"
_HOSTNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
# Nova's `parameter_types.boolean`: the spellings oslo's bool_from_string(strict=True) accepts
BOOLEAN_VALUES = [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y",
                 "t", False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No",
                 "no", "n", "f"]
_TRUE = frozenset(v.lower() for v in BOOLEAN_VALUES[1:13])
_MAX_DB_INTEGER = 2 ** 63 - 1
MAX_DB_ID = 2 ** 31 - 1  # integer id columns are 32 bits wide


def _invalid(name: str, value, reason: str) -> errors.ApiError:
    return errors.BadRequest(f"Invalid input for query parameters {name}. Value: {value}. "
                             f"{reason}")


class Query:
    """The request's query parameters, limited to the names a microversion accepts.

    `strict` refuses unknown names (Nova's `additionalProperties: False`); otherwise they are
    dropped, so that they neither filter nor reach a `next` link.
    """

    def __init__(self, req: falcon.Request, accepted: Iterable[str], strict: bool):
        self.values: dict[str, list[str]] = {
            name: value if isinstance(value, list) else [value]
            for name, value in req.params.items()}
        known = set(accepted)
        unknown = [name for name in self.values if name not in known]
        if unknown and strict:
            names = ", ".join(repr(name) for name in unknown)
            verb = "was" if len(unknown) == 1 else "were"
            raise errors.BadRequest(
                f"Additional properties are not allowed ({names} {verb} unexpected)")
        for name in unknown:
            del self.values[name]

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def string(self, name: str, single: bool = False) -> str | None:
        """The last value given for `name`; `single` refuses repeats (Nova's single_param)."""
        values = self.values.get(name)
        if values is None:
            return None
        if single and len(values) > 1:
            raise _invalid(name, values, f"{values} is too long")
        return values[-1]

    def non_negative_integer(self, name: str) -> int | None:
        """The value as an int; a huge one is capped to what a database integer holds (it
        means "more than anything stored" all the same, and int() refuses 4300 digits)."""
        raw = self.string(name, single=True)
        if raw is None:
            return None
        if raw == "":
            raise _invalid(name, raw, "'' should be non-empty")
        if not raw.isascii() or not raw.isdigit():
            raise _invalid(name, raw, f"'{raw}' does not match '^[0-9]*$'")
        digits = raw.lstrip("0") or "0"
        return int(digits) if len(digits) < 19 else _MAX_DB_INTEGER

    def limit(self, max_limit: int) -> int:
        """The page size: the requested `limit`, never more than `[api] max_limit`."""
        wanted = self.non_negative_integer("limit")
        return max_limit if wanted is None else min(wanted, max_limit)

    def time(self, name: str) -> datetime | None:
        raw = self.string(name, single=True)
        if raw is None:
            return None
        try:
            return parse_isotime(raw)
        except ValueError:
            raise _invalid(name, raw, f"'{raw}' is not a 'date-time'") from None

    def changes_window(self, before_allowed: bool) -> tuple[datetime | None, datetime | None]:
        """`changes-since` and (when the microversion knows it) `changes-before`, in order."""
        since = self.time("changes-since")
        before = self.time("changes-before") if before_allowed else None
        if since is not None and before is not None and before < since:
            raise errors.BadRequest("The value of changes-since must be less than or equal to "
                                    "changes-before.")
        return since, before

    def boolean(self, name: str) -> bool | None:
        raw = self.string(name, single=True)
        if raw is None:
            return None
        if raw not in BOOLEAN_VALUES:
            raise _invalid(name, raw, f"'{raw}' is not one of {BOOLEAN_VALUES}")
        return to_bool(raw)

    def hostname(self, name: str) -> str | None:
        raw = self.string(name, single=True)
        if raw is None:
            return None
        if raw == "":
            raise _invalid(name, raw, "'' should be non-empty")
        if len(raw) > 255:
            raise _invalid(name, raw, f"'{raw}' is too long")
        if not set(raw) <= _HOSTNAME_CHARS:
            raise _invalid(name, raw, f"'{raw}' does not match '{HOSTNAME_PATTERN}'")
        return raw

    def pairs(self) -> list[tuple[str, str]]:
        """(name, last value) sorted by name: what a `next` link carries forward."""
        return sorted((name, values[-1]) for name, values in self.values.items())


def to_bool(value: bool | str) -> bool:
    """One of BOOLEAN_VALUES (already validated) as a bool."""
    return value if isinstance(value, bool) else value.lower() in _TRUE


def loose_bool(value: str | None) -> bool:
    """A filter value read the way a database compares it to a boolean column."""
    return value is not None and value.strip().lower() in _TRUE


def path_integer(text: str) -> int | None:
    """A path segment as a database integer id, or None: never a number the id column cannot
    hold (PostgreSQL refuses to compare one with it)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    number = int(text)
    return number if number <= MAX_DB_ID else None
