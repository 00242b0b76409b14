"""RPC API versions: which messages a service understands.

Each service's RPC API has a version "major.minor". Its endpoint declares the version it
serves (`RPC_API_VERSION`), and its client (herder/<service>/rpcapi.py) sends with every
message the version the message needs. A minor version only adds (a method, an optional
argument), so a server takes every message of its own major whose minor is not above its own;
a new major changes or removes something, so a server takes nothing of another major. What it
does not take it refuses with IncompatibleRPCVersion, which says which side to upgrade, rather
than failing half way through with a TypeError on an argument it does not know.
"""
from herder import exception

# A message that names no version comes from a service of the release before versions were
# sent. What that release spoke is what 1.0 is, so it is taken as 1.0.
UNVERSIONED = "1.0"


def parse(version: str) -> tuple[int, int] | None:
    """(major, minor), or None for anything that is not "major.minor"."""
    major, dot, minor = str(version).partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        return None
    return int(major), int(minor)


def served_version(endpoint: object) -> str:
    """The version `endpoint` declares it serves; every endpoint served on the bus declares one."""
    version = getattr(endpoint, "RPC_API_VERSION", None)
    if version is None or parse(version) is None:
        raise TypeError(f"{type(endpoint).__name__} declares no RPC_API_VERSION (major.minor): "
                        f"{version!r}")
    return version


def check(topic: str, served: str, sent: str | None, method: str) -> None:
    """Raise IncompatibleRPCVersion unless a server of `topic` serving `served` understands a
    message for `method` sent as `sent` (None: a message from before versions, see UNVERSIONED)."""
    sent = UNVERSIONED if sent is None else sent
    ours, theirs = parse(served), parse(sent)
    if theirs is not None and theirs[0] == ours[0] and theirs[1] <= ours[1]:
        return
    if theirs is None:
        advice = "that is no RPC API version (major.minor)"
    elif theirs > ours:
        advice = f"upgrade {topic} to a release that serves RPC API {sent}"
    else:
        advice = f"upgrade the caller to a release that sends RPC API {ours[0]}.x"
    raise exception.IncompatibleRPCVersion(topic=topic, served=served, sent=sent, method=method,
                                           advice=advice)
