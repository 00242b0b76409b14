"""The digest key of a transfer: the secret its chunk checks and content digest are keyed with.

The destination makes a random 32-byte key when it agrees to receive a disk (`expect`) and hands
it out in the target it returns, beside the single-use token; the target travels to the source
through the conductor. The key itself never crosses the transfer connection (the token does, in
HELLO): someone on the path who sees, or swaps, the bytes sees only hashes keyed with a secret
they do not have, so they cannot make the checks of other bytes. Every grant for the same
migration's same disk carries the same key (see `TransferReceiver.expect`): a retry resumes
over what an earlier grant verified, and a disk that arrived complete keeps its digest.
"""
import secrets

from herder import exception
from herder.transfer.sparse import KEY_BYTES

TARGET_FIELD = "digest_key"   # where a target carries the key, as hex


def new_key() -> str:
    """A fresh random key, as hex."""
    return secrets.token_hex(KEY_BYTES)


def from_hex(text: object) -> bytes | None:
    """The key a hex string stands for, or None if it is not one."""
    if not isinstance(text, str) or len(text) != 2 * KEY_BYTES:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def from_target(target: dict) -> bytes:
    """The key of the grant `target` (what the destination's `expect` returned); a target
    without one comes from a destination that does not speak this protocol."""
    key = from_hex(target.get(TARGET_FIELD))
    if key is None:
        raise exception.TransferFailed(
            reason=f"the transfer target of {target.get('host')} carries no digest key: the "
                   "destination runs an older herder (upgrade both hosts to the same herder)")
    return key
