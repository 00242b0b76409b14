"""Image bodies: the Compute API's image proxy and the Image API v2."""
from herder.api.views.common import iso, links
from herder.db.models import Image


def compute_image(image: Image, base_url: str, detail: bool = True) -> dict:
    body = {"id": image.id, "name": image.name, "links": links(base_url, "images", image.id)}
    if detail:
        body.update({"status": image.status.upper(), "progress": 100,
                     "minDisk": image.min_disk, "minRam": image.min_ram,
                     "created": iso(image.created_at),
                     "updated": iso(image.updated_at or image.created_at),
                     "metadata": dict(image.properties or {}), "OS-EXT-IMG-SIZE:size": image.size})
    return body


def image_v2(image: Image, image_root: str) -> dict:
    return {"id": image.id, "name": image.name, "status": image.status,
            "visibility": image.visibility, "protected": False, "os_hidden": False,
            "disk_format": image.disk_format, "container_format": image.container_format,
            "size": image.size, "virtual_size": image.size, "min_disk": image.min_disk,
            "min_ram": image.min_ram, "checksum": image.checksum, "owner": image.owner,
            "tags": [], "created_at": iso(image.created_at),
            "updated_at": iso(image.updated_at or image.created_at),
            "self": f"/v2/images/{image.id}", "file": f"/v2/images/{image.id}/file",
            "schema": "/v2/schemas/image", **(image.properties or {})}
