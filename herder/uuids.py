"""Whether a text spells a uuid, as the Compute API accepts ids and hints."""
import uuid


def is_uuid_like(text: str) -> bool:
    """What oslo's is_uuid_like accepts: any spelling of a uuid that round-trips."""
    try:
        return str(uuid.UUID(text)).replace("-", "") == \
            text.lower().replace("-", "").replace("urn:uuid:", "").strip("{}")
    except (TypeError, ValueError, AttributeError):
        return False
