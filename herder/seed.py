"""The catalogue a new cloud starts with: four flavors and one image in the local image store."""
import hashlib
import os
import uuid

from herder import image_store
from herder.db import flavors, images
from herder.db.models import Image
from herder.db.session import Database

FLAVORS = [  # (flavorid, name, vcpus, memory_mb, root_gb)
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
    ("4", "m1.large", 4, 8192, 80),
]
IMAGE_NAME = "herder-guest"
IMAGE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "herder:image:herder-guest"))
IMAGE_BYTES = 1024 * 1024


def _image_content() -> bytes:
    """1 MiB of deterministic, non-zero bytes: something a disk checksum can tell apart."""
    block = hashlib.sha512(b"herder guest image").digest()
    return (block * (IMAGE_BYTES // len(block) + 1))[:IMAGE_BYTES]


def seed_catalogue(db: Database, conf) -> None:
    """Idempotent: a restarted cloud keeps what it has."""
    if not flavors.list_all(db, is_public=None):
        for flavorid, name, vcpus, ram, disk in FLAVORS:
            flavors.create(db, flavorid=flavorid, name=name, vcpus=vcpus, memory_mb=ram,
                           root_gb=disk, ephemeral_gb=0, swap=0, rxtx_factor=1.0,
                           is_public=True, disabled=False, extra_specs={})
    os.makedirs(image_store.store_dir(conf), exist_ok=True)
    path = image_store.path_for(conf, IMAGE_ID)
    content = _image_content()
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(content)
    hashes = {"checksum": hashlib.md5(content).hexdigest(),
              "os_hash_algo": image_store.HASH_ALGO,
              "os_hash_value": hashlib.sha512(content).hexdigest()}
    images.add(db, Image(id=IMAGE_ID, name=IMAGE_NAME, status="active", disk_format="raw",
                         container_format="bare", size=len(content), virtual_size=len(content),
                         min_disk=0, min_ram=0, visibility="public", protected=False,
                         owner="admin", file_path=path, properties={}, tags=[], **hashes))
    if images.get(db, IMAGE_ID).os_hash_value is None:
        # seeded before images had glance's hash (migration 0007): the same bytes, hashed
        images.update(db, IMAGE_ID, {"virtual_size": len(content), **hashes})
