"""Formatting shared by the views: timestamps and links."""
import hashlib
from datetime import datetime


def iso(value: datetime | None) -> str | None:
    """Nova's `created`/`updated` form: 2013-07-23T11:33:21Z."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def iso_micro(value: datetime | None) -> str | None:
    """Nova's action/migration form: 2013-07-23T11:33:21.000000."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def links(base_url: str, collection: str, item_id) -> list[dict]:
    root = base_url.rsplit("/v2.1", 1)[0]
    return [{"rel": "self", "href": f"{base_url}/{collection}/{item_id}"},
            {"rel": "bookmark", "href": f"{root}/{collection}/{item_id}"}]


def host_id_for(project_id: str | None, host: str | None) -> str:
    """Nova's obfuscated `hostId`: a project sees that two things share a host, not which."""
    if not host:
        return ""
    return hashlib.sha224(((project_id or "") + host).encode()).hexdigest()
