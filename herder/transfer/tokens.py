"""Transfer grants: short-lived, single-use tokens that let one source send one disk here.

There is no trust between hosts. The destination issues a grant when it agrees to receive a
disk (prep_resize) and the token travels to the source through the conductor; a connection that
presents it may push exactly that migration's disk, once, before the grant expires. The token is
a random secret; only its SHA-256 is kept, so lookups never compare secrets byte by byte. A grant
also keeps the digest key the transfer's hashes are keyed with (keys.py), which, unlike the
token, the source never sends back.
"""
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable

from herder import exception

PUSH = "push"   # the source sends, this host receives: the only direction there is today


@dataclass(frozen=True)
class Grant:
    migration_uuid: str
    instance_uuid: str
    disk: str
    direction: str
    expires_at: float
    max_size: int | None = None     # the most bytes the disk may declare (None: no bound)
    digest_key: str | None = None   # hex; what the transfer's checks and digest are keyed with


class GrantBook:
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def issue(self, migration_uuid: str, instance_uuid: str, disk: str,
              direction: str = PUSH, max_size: int | None = None,
              digest_key: str | None = None) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._forget_expired()
            self._grants[_key(token)] = Grant(migration_uuid, instance_uuid, disk, direction,
                                              self._clock() + self.ttl, max_size, digest_key)
        return token

    def outstanding_key(self, migration_uuid: str, instance_uuid: str, disk: str) -> str | None:
        """The digest key of a grant for this disk not spent yet, if there is one."""
        with self._lock:
            self._forget_expired()
            return next((grant.digest_key for grant in self._grants.values()
                         if (grant.migration_uuid, grant.instance_uuid, grant.disk) ==
                         (migration_uuid, instance_uuid, disk) and grant.digest_key), None)

    def redeem(self, token: object, migration_uuid: object, disk: object,
               direction: str = PUSH) -> Grant:
        """Spend `token` on the transfer it was issued for; TransferRefused otherwise. The
        refusal never says which check failed: a guesser learns nothing."""
        if not isinstance(token, str) or not token.isascii():   # issued tokens are ASCII
            raise exception.TransferRefused(reason="invalid, expired or spent token")
        with self._lock:
            self._forget_expired()
            grant = self._grants.pop(_key(token), None)
        if grant is None or (grant.migration_uuid, grant.disk, grant.direction) != \
                (migration_uuid, disk, direction):
            raise exception.TransferRefused(reason="invalid, expired or spent token")
        return grant

    def revoke(self, instance_uuid: str) -> None:
        """No grant for this server's disks is good any more (the move is over or undone)."""
        with self._lock:
            self._grants = {key: grant for key, grant in self._grants.items()
                            if grant.instance_uuid != instance_uuid}

    def _forget_expired(self) -> None:
        now = self._clock()
        for key in [key for key, grant in self._grants.items() if grant.expires_at <= now]:
            del self._grants[key]


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
