"""A server's hostname when its creator names none: its display name made into a DNS label.

The guest learns it from the metadata service; the API shows it as OS-EXT-SRV-ATTR:hostname
(admins from 2.3, everyone from 2.90). As in Nova, it is set once at create, so renaming the
server later does not change it; from 2.90 a caller may choose it instead.
"""
import re

_MAX_LABEL = 63


def from_name(display_name: str, server_uuid: str) -> str:
    """Lower case; spaces, underscores and dots become dashes; anything else outside
    [a-z0-9-] goes; no leading or trailing dash; at most 63 characters. A name with nothing
    left gives `Server-<uuid>`, Nova's default name."""
    label = re.sub(r"[ _.]", "-", display_name[:_MAX_LABEL])
    label = re.sub(r"[^a-zA-Z0-9-]+", "", label).lower().strip("-")
    return label or f"Server-{server_uuid}"[:_MAX_LABEL]
