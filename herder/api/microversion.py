"""Compute API microversions: parse the request's, echo it on the response.

Reads `OpenStack-API-Version: compute 2.NN`, falling back to `X-OpenStack-Nova-API-Version`.
"""
import re
from functools import total_ordering

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 104)  # the newest Nova microversion; docs/microversions.md says what each does here
SERVICE_TYPE = "compute"
HEADER = "OpenStack-API-Version"
LEGACY_HEADER = "X-OpenStack-Nova-API-Version"
_PATTERN = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")
_LONGEST = 32  # a longer string is no version anyone means (and int() refuses 4300 digits)


class InvalidVersion(ValueError):
    pass


class UnsupportedVersion(ValueError):
    def __init__(self, message: str, version: "Version"):
        super().__init__(message)
        self.version = version


@total_ordering
class Version:
    def __init__(self, major: int, minor: int):
        self.major, self.minor = major, minor

    @classmethod
    def parse(cls, text: str) -> "Version":
        text = text.strip()
        if text == "latest":
            return cls(*MAX_VERSION)
        match = _PATTERN.match(text) if len(text) <= _LONGEST else None
        if not match:
            raise InvalidVersion(f"API Version String {text} is of invalid format. Must be of "
                                 "format MajorNum.MinorNum.")
        return cls(int(match.group(1)), int(match.group(2)))

    def _tuple(self) -> tuple[int, int]:
        return (self.major, self.minor)

    def __eq__(self, other) -> bool:
        return self._tuple() == _as_tuple(other)

    def __lt__(self, other) -> bool:
        return self._tuple() < _as_tuple(other)

    def __hash__(self) -> int:
        return hash(self._tuple())

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, text: str) -> bool:
        return self >= Version.parse(text)


def _as_tuple(other) -> tuple[int, int]:
    if isinstance(other, Version):
        return other._tuple()
    if isinstance(other, str):
        return Version.parse(other)._tuple()
    return tuple(other)


def max_version() -> str:
    return f"{MAX_VERSION[0]}.{MAX_VERSION[1]}"


def min_version() -> str:
    return f"{MIN_VERSION[0]}.{MIN_VERSION[1]}"


def from_headers(headers: dict) -> Version:
    """The requested microversion; raises InvalidVersion (400) or UnsupportedVersion (406)."""
    wanted = None
    value = headers.get(HEADER.upper())
    if value:   # several headers arrive joined by commas: the first one for compute counts
        for item in value.split(","):
            service, _, version = item.strip().partition(" ")
            if service.lower() == SERVICE_TYPE:
                wanted = version.strip()
                break
    if wanted is None:
        wanted = headers.get(LEGACY_HEADER.upper())
    if not wanted:
        return Version(*MIN_VERSION)
    version = Version.parse(wanted)
    if not (Version(*MIN_VERSION) <= version <= Version(*MAX_VERSION)):
        raise UnsupportedVersion(
            f"Version {version} is not supported by the API. Minimum is {min_version()} "
            f"and maximum is {max_version()}.", version)
    return version
