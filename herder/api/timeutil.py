"""Parsing the ISO 8601 times clients send in query strings (changes-since, changes-before)."""
from datetime import datetime, timezone


def parse_isotime(text: str) -> datetime:
    """A naive UTC datetime from an ISO 8601 string (with Z, an offset, or neither)."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "+", 1)
                                   if "T" in text else text.strip())
    if value.tzinfo is not None:
        try:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        except OverflowError:
            # an offset pushing the time past year 1 or 9999: as unparseable as a typo
            raise ValueError(f"{text!r} is out of range") from None
    return value
