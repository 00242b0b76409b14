"""A compute host's image cache: `<instances_dir>/_base/<sha1 of the image id>`, as Nova names it.

Images are fetched from wherever the conductor says (`instance["image"]["url"]`: the api's
signed download URL over HTTP, or file:// for a store on a shared filesystem), hashed while
they stream in, and kept only if the hash matches the image's `os_hash_value` (sha512) or,
for images that have none, its md5 `checksum`. A fetch that fails or does not match leaves
nothing behind. Images are kept as uploaded (qcow2 stays qcow2): a guest's disk is an
overlay that names its backing file's format.
"""
import hashlib
import http.client
import logging
import os
import threading
import urllib.parse
import urllib.request

from herder import exception

LOG = logging.getLogger(__name__)
READ_SIZE = 1024 * 1024
FETCH_TIMEOUT = 60.0      # seconds without a byte before a fetch is given up


class ImageCache:
    def __init__(self, host: str, base_dir: str):
        self.host = host
        self.base_dir = base_dir
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def path(self, image_id: str) -> str:
        return os.path.join(self.base_dir, hashlib.sha1(image_id.encode()).hexdigest())

    def fetch(self, image: dict) -> str:
        """The cached file of `image` (ImageMeta as a dict), fetched first if missing."""
        path = self.path(image["id"])
        with self._lock_for(image["id"]):   # two guests of one image fetch it once
            if os.path.exists(path):
                return path
            os.makedirs(self.base_dir, exist_ok=True)
            # hosts sharing an instances directory share `_base`: each writes its own partial
            partial = f"{path}.{self.host}.{os.getpid()}.part"
            try:
                self._download(image, partial)
                os.replace(partial, path)
            except BaseException:
                _remove(partial)
                raise
        LOG.info("image %s cached on %s as %s", image["id"], self.host, path)
        return path

    def _lock_for(self, image_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(image_id, threading.Lock())

    def _download(self, image: dict, partial: str) -> None:
        expected, hasher = _expected_hash(image)
        url = image.get("url")
        if not url or urllib.parse.urlsplit(url).scheme not in ("http", "https", "file"):
            raise self._failed(image, f"no URL to fetch it from ({url!r})")
        size = 0
        try:
            with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as source, \
                    open(partial, "wb") as target:
                while chunk := source.read(READ_SIZE):
                    hasher.update(chunk)
                    target.write(chunk)
                    size += len(chunk)
                target.flush()
                os.fsync(target.fileno())
        except (OSError, http.client.HTTPException) as error:   # URLError is an OSError
            raise self._failed(image, f"{_safe(url)}: {error}") from error
        if expected is not None and hasher.hexdigest() != expected:
            raise self._failed(image, f"its {hasher.name} does not match the image's "
                                      f"({size} bytes received)")
        if image.get("size") not in (None, size):
            raise self._failed(image, f"{size} bytes received, the image has {image['size']}")

    def _failed(self, image: dict, reason: str) -> exception.ImageFetchFailed:
        return exception.ImageFetchFailed(image_id=image["id"], host=self.host, reason=reason)


def _expected_hash(image: dict):
    """(expected hex digest or None, the hasher to compute it with)."""
    if image.get("os_hash_value"):
        algorithm = image.get("os_hash_algo") or "sha512"
        return image["os_hash_value"], hashlib.new(algorithm)
    if image.get("checksum"):
        return image["checksum"], hashlib.md5()
    return None, hashlib.sha512()


def _safe(url: str) -> str:
    """The URL without its query: the signature in it is a credential and stays out of logs."""
    return urllib.parse.urlsplit(url)._replace(query="").geturl()


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
