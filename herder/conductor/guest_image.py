"""The image a guest is created from, as a compute host gets it: metadata and a signed URL.

Compute hosts hold no credentials. The conductor, which reads the catalogue, hands them a URL
of the api's image download that is signed for this one image and expires
(`[image] url_ttl`, key: image_urls.signing_key); the host checks the bytes it gets against the
image's hash.
"""
from herder import exception, image_urls
from herder.db import images
from herder.db.session import Database


def image_meta(db: Database, conf, image_ref: str | None) -> dict | None:
    """None for a server without an image (booted from nothing the host must fetch)."""
    if not image_ref:
        return None
    try:
        image = images.get(db, image_ref)
    except exception.ImageNotFound:
        # deleted since the server was created: a host that has it cached still can use it,
        # one that has not gets a fetch error that names the image
        return {"id": image_ref, "url": None}
    return {"id": image.id, "name": image.name, "disk_format": image.disk_format,
            "size": image.size, "checksum": image.checksum,
            "os_hash_algo": image.os_hash_algo, "os_hash_value": image.os_hash_value,
            "properties": dict(image.properties or {}),
            "url": image_urls.signed_file_url(conf.image.api_url,
                                              image_urls.signing_key(conf, db), image.id,
                                              conf.image.url_ttl)}
