"""An image's data: PUT /v2/images/{id}/file streams it into the store, GET streams it back.

An upload takes the image from `queued` to `saving` (compare-and-swap: of two uploads at once,
one gets 409), streams the body to disk in pieces, never whole in memory, and ends `active`
with its size and hashes, or back in `queued` with nothing stored. A body sent with
`Transfer-Encoding: chunked` (no Content-Length) is read from the server's input stream, which
the WSGI server un-chunks; falcon's bounded_stream would see a body of length 0.

A download is open to whoever may see the image, and to a compute host presenting a URL the
conductor signed (herder/image_urls.py): the auth middleware lets exactly such a request
through without a token, and marks it with the image id it was signed for.
"""
import os

import falcon

from herder import exception, image_store
from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.image_api import ImageHandler, glance_errors
from herder.db import images

MIB = 1024 * 1024
OCTET_STREAM = "application/octet-stream"


class ImageFile(ImageHandler):
    @describe("Upload an image's data (Image API v2)", status=204, request_type=OCTET_STREAM)
    @glance_errors
    def on_put(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        if (req.content_type or "").split(";")[0].strip().lower() != OCTET_STREAM:
            raise errors.ApiError(415, f"The request media type {req.content_type} is not "
                                       "supported by this server.")
        image = self.visible_image(req, image_id)
        self.authorize_image(req, "image:upload_image", image.owner)
        if not image.disk_format or not image.container_format:
            raise errors.BadRequest("Properties disk_format, container_format must be set "
                                    "prior to saving data.")
        max_bytes = self.conf.image.max_image_size_mb * MIB
        chunked = "chunked" in (req.get_header("Transfer-Encoding") or "").lower()
        declared = None if chunked else (req.content_length or 0)
        if max(declared or 0, _size_hint(req)) > max_bytes:
            raise _too_large(max_bytes)   # refused before a byte is stored
        if images.swap(self.db, image_id, {"status": "queued"}, {"status": "saving"}) is None:
            raise _not_queued(self.db, image_id)
        body = req.stream if chunked else req.bounded_stream
        try:
            stored = image_store.write(self.conf, image_id, _exactly(body.read, declared),
                                       max_bytes, image.disk_format)
        except image_store.TooLarge:
            _back_to_queued(self.db, image_id)
            raise _too_large(max_bytes) from None
        except (image_store.FormatMismatch, _Incomplete) as error:
            _back_to_queued(self.db, image_id)
            raise errors.BadRequest(str(error)) from None
        except Exception:   # the client went away, the disk is full: nothing was stored
            _back_to_queued(self.db, image_id)
            if not _exists(self.db, image_id):   # deleted meanwhile, its partial file too
                raise _gone(image_id) from None
            raise
        done = images.swap(self.db, image_id, {"status": "saving"}, {
            "status": "active", "size": stored.size, "virtual_size": stored.virtual_size,
            "checksum": stored.checksum, "os_hash_algo": image_store.HASH_ALGO,
            "os_hash_value": stored.os_hash_value, "file_path": stored.path})
        if done is None:   # deleted while it was uploading (glance answers 410 too)
            image_store.remove(stored.path)
            raise _gone(image_id)
        resp.status = 204

    @describe("Download an image's data (Image API v2; with expires and signature, a URL "
              "the conductor signed, which needs no token)", status=(200, 204, 206),
              query=("expires", "signature"), response_type=OCTET_STREAM)
    @glance_errors
    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        if req.context.get("signed_image_id") == image_id:
            image = _image_or_404(self.db, image_id)   # the signature stands for the caller
        else:
            image = self.visible_image(req, image_id)
            self.authorize_image(req, "image:download_image", image.owner)
        if image.status != "active":   # no data (yet): glance's 204
            resp.status = 204
            return
        if not image.file_path or not os.path.isfile(image.file_path):
            raise errors.NotFound("No image data could be found")
        size = os.path.getsize(image.file_path)
        start, end = _window(req, resp, size)
        resp.content_type = OCTET_STREAM
        resp.set_header("Accept-Ranges", "bytes")
        if (start, end) == (0, size):
            if image.checksum:
                resp.set_header("Content-MD5", image.checksum)
        else:
            resp.status = 206
            resp.set_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        resp.content_length = end - start
        resp.stream = image_store.FileWindow(image.file_path, start, end)


class _Incomplete(Exception):
    pass


def _exactly(read, declared: int | None):
    """`read`, checked to deliver the Content-Length the client declared: a connection that
    ends early is an incomplete upload, not a shorter image."""
    if declared is None:
        return read
    got = 0

    def counted(size: int) -> bytes:
        nonlocal got
        chunk = read(size)
        got += len(chunk)
        if not chunk and got < declared:
            raise _Incomplete(f"The upload ended after {got} of the {declared} bytes its "
                              "Content-Length announced.")
        return chunk
    return counted


def _size_hint(req: falcon.Request) -> int:
    """openstacksdk announces the size of what it uploads in X-OpenStack-Image-Size."""
    hint = req.get_header("X-OpenStack-Image-Size") or ""
    return int(hint) if hint.isascii() and hint.isdigit() and len(hint) < 20 else 0


def _too_large(max_bytes: int) -> errors.ApiError:
    return errors.ApiError(413, f"The incoming image is too large: the largest image this cloud "
                                f"stores is {max_bytes} bytes ([image] max_image_size_mb).")


def _not_queued(db, image_id: str) -> errors.ApiError:
    current = _image_or_404(db, image_id).status
    return errors.Conflict(f"Image status transition from {current} to saving is not "
                           "allowed")


def _gone(image_id: str) -> errors.ApiError:
    return errors.ApiError(410, f"Image {image_id} could not be found after upload. The image "
                                "may have been deleted during the upload.")


def _exists(db, image_id: str) -> bool:
    try:
        images.get(db, image_id)
    except exception.ImageNotFound:
        return False
    return True


def _back_to_queued(db, image_id: str) -> None:
    images.swap(db, image_id, {"status": "saving"}, {"status": "queued"})


def _image_or_404(db, image_id: str):
    try:
        return images.get(db, image_id)
    except exception.ImageNotFound:
        raise errors.NotFound(f"No image found with ID {image_id}") from None


def _window(req: falcon.Request, resp: falcon.Response, size: int) -> tuple[int, int]:
    """[start, end) of the file a Range header asks for (all of it without one); 416 for a
    range that lies past the end."""
    wanted = req.range
    if wanted is None:
        return 0, size
    first, last = wanted
    if req.range_unit != "bytes" or first >= size or (first < 0 and size == 0):
        resp.set_header("Content-Range", f"bytes */{size}")
        raise errors.ApiError(416, "Requested range not satisfiable")
    if first < 0:                       # the last -first bytes
        return max(size + first, 0), size
    return first, size if last < 0 else min(last + 1, size)
