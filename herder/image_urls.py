"""Signed image download URLs: how a compute host, which holds no credentials, gets an image's
bytes from the api over HTTP.

The conductor signs `GET <api_url>/image/v2/images/<id>/file?expires=<unix time>&signature=<hex>`
with `[image] url_signing_key`; the api serves that one request without a token when the
signature is right and the time has not passed. The signature is HMAC-SHA256 over the image id
and the expiry, so a URL opens exactly one image, until exactly that time: changing either (or
the signature) makes it worthless. It is a bearer credential until it expires: it travels only
to compute hosts, over the bus, and is never logged whole.
"""
import hashlib
import hmac
import re
import time
from urllib.parse import quote, urlencode

from herder.db import service_secrets

FILE_PATH = "/image/v2/images/{image_id}/file"
SECRET_NAME = "image_url_signing_key"
_DIGITS = re.compile(r"[0-9]{1,12}")   # a unix time; the length bound keeps int() cheap


def signing_key(conf, db) -> str:
    """The key that signs and checks download URLs: `[image] url_signing_key` (set, or derived
    from the admin token), else one the api and conductors share through the database,
    made by whichever needs it first (behind Keystone with the well-known default admin
    token, which would make a derived key guessable)."""
    return conf.image.url_signing_key or service_secrets.get_or_create(db, SECRET_NAME)


def signed_file_url(api_url: str, secret: str, image_id: str, ttl: float,
                    now: float | None = None) -> str:
    """The download URL of `image_id`'s data, valid for `ttl` seconds from `now`."""
    if not secret:
        raise ValueError("[image] url_signing_key is not set: image download URLs cannot be "
                         "signed (it must be set when [api] auth_strategy = keystone and "
                         "admin_token keeps its default)")
    expires = int((time.time() if now is None else now) + ttl)
    query = urlencode({"expires": expires, "signature": sign(secret, image_id, expires)})
    path = FILE_PATH.format(image_id=quote(image_id, safe=""))
    return f"{api_url.rstrip('/')}{path}?{query}"


def sign(secret: str, image_id: str, expires: int) -> str:
    """The hex signature of `image_id` until `expires`."""
    # a separator that neither part can hold keeps ("ab", 1) and ("a", "b1") apart
    message = f"{image_id}\n{int(expires)}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str | None, image_id: str, expires, signature: str | None,
           now: float | None = None) -> bool:
    """Whether `signature` is the signature of `image_id` until `expires` (a unix time, as
    the URL spells it: digits only), and that time has not passed. Compared in constant time."""
    if not secret or not signature or not _DIGITS.fullmatch(str(expires)):
        return False
    deadline = int(expires)
    if deadline < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(sign(secret, image_id, deadline).encode(),
                               str(signature).encode())
