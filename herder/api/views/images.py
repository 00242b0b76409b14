"""Image bodies: the Compute API's image proxy and the Image API v2."""
from herder.api.views.common import iso, links
from herder.db.models import Image

# Nova's proxy shows glance's statuses in its own words, with a rough progress
_COMPUTE_STATUS = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING",
                   "deleted": "DELETED", "pending_delete": "DELETED", "killed": "ERROR"}
_PROGRESS = {"queued": 25, "saving": 50, "active": 100}


def compute_image(image: Image, base_url: str, detail: bool = True) -> dict:
    body = {"id": image.id, "name": image.name, "links": links(base_url, "images", image.id)}
    if detail:
        body.update({"status": _COMPUTE_STATUS.get(image.status, "UNKNOWN"),
                     "progress": _PROGRESS.get(image.status, 0),
                     "minDisk": image.min_disk, "minRam": image.min_ram,
                     "created": iso(image.created_at),
                     "updated": iso(image.updated_at or image.created_at),
                     "metadata": dict(image.properties or {}), "OS-EXT-IMG-SIZE:size": image.size})
    return body


def image_v2(image: Image) -> dict:
    """glance's image body: every base property (null when unset), then the extra properties,
    which never hide a base one."""
    body = {"id": image.id, "name": image.name, "status": image.status,
            "visibility": image.visibility, "protected": bool(image.protected),
            "os_hidden": False, "disk_format": image.disk_format,
            "container_format": image.container_format, "size": image.size,
            "virtual_size": image.virtual_size, "min_disk": image.min_disk,
            "min_ram": image.min_ram, "checksum": image.checksum,
            "os_hash_algo": image.os_hash_algo, "os_hash_value": image.os_hash_value,
            "owner": image.owner, "tags": list(image.tags or []),
            "created_at": iso(image.created_at),
            "updated_at": iso(image.updated_at or image.created_at),
            "self": f"/v2/images/{image.id}", "file": f"/v2/images/{image.id}/file",
            "schema": "/v2/schemas/image"}
    for key, value in (image.properties or {}).items():
        body.setdefault(key, value)
    return body
