"""The catalogue a new cloud starts with: four flavors and one image in the local image store.

The image `herder-guest` is what the computes can run: with the fake driver, 1 MiB of
recognisable bytes; with the libvirt driver, the project's bootable guest image
(`[libvirt] guest_image_file`, built by scripts/guest-image/build.sh).
"""
import hashlib
import logging
import os
import uuid

from herder import exception, image_store
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
BOOTABLE_IMAGE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "herder:image:herder-guest:bootable"))
LOG = logging.getLogger(__name__)


def _image_content() -> bytes:
    """1 MiB of deterministic, non-zero bytes: something a disk checksum can tell apart."""
    block = hashlib.sha512(b"herder guest image").digest()
    return (block * (IMAGE_BYTES // len(block) + 1))[:IMAGE_BYTES]


def install(db: Database, conf) -> None:
    """Idempotent: a restarted cloud keeps what it has."""
    if not flavors.list_all(db, is_public=None):
        for flavorid, name, vcpus, ram, disk in FLAVORS:
            flavors.create(db, flavorid=flavorid, name=name, vcpus=vcpus, memory_mb=ram,
                           root_gb=disk, ephemeral_gb=0, swap=0, rxtx_factor=1.0,
                           is_public=True, disabled=False, extra_specs={})
    if conf.compute.compute_driver == "libvirt":
        _add_bootable_image(db, conf)
    else:
        _add_fake_image(db, conf)


def _add_bootable_image(db: Database, conf) -> None:
    source = conf.libvirt.guest_image_file
    try:
        images.get(db, BOOTABLE_IMAGE_ID)
        return
    except exception.ImageNotFound:
        pass
    if not os.path.exists(source):
        LOG.warning("no guest image at %s: build it with scripts/guest-image/build.sh %s, "
                    "or upload one (openstack image create)", source, os.path.dirname(source))
        return
    with open(source, "rb") as f:
        stored = image_store.write(conf, BOOTABLE_IMAGE_ID, f.read, os.path.getsize(source),
                                   "qcow2")
    images.add(db, Image(id=BOOTABLE_IMAGE_ID, name=IMAGE_NAME, status="active",
                         disk_format="qcow2", container_format="bare", size=stored.size,
                         virtual_size=stored.virtual_size, min_disk=0, min_ram=0,
                         visibility="public", protected=False, owner="admin",
                         file_path=stored.path, properties={}, tags=[],
                         checksum=stored.checksum, os_hash_algo=image_store.HASH_ALGO,
                         os_hash_value=stored.os_hash_value))


def _add_fake_image(db: Database, conf) -> None:
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
        # installed before images had glance's hash (migration 0007): the same bytes, hashed
        images.update(db, IMAGE_ID, {"virtual_size": len(content), **hashes})
