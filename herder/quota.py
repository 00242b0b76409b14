"""Quota checks: creating counts instances, cores and ram; resizing counts the positive delta."""
from herder import exception
from herder.db import quotas
from herder.db.session import Database


def check(db: Database, conf, project_id: str, wanted: dict[str, int]) -> None:
    """Raise QuotaExceeded, with Nova's message, if adding `wanted` goes over a limit."""
    wanted = {name: amount for name, amount in wanted.items() if amount > 0}
    if not wanted:
        return
    limits = quotas.limits(db, conf, project_id)
    used = quotas.usage(db, project_id)
    over = sorted(name for name, amount in wanted.items()
                  if limits[name] >= 0 and used[name] + amount > limits[name])
    if not over:
        return
    raise exception.QuotaExceeded(
        "Quota exceeded for {overs}: Requested {req}, but already used {used} of {allowed} "
        "{overs}".format(overs=", ".join(over), req=", ".join(str(wanted[n]) for n in over),
                         used=", ".join(str(used[n]) for n in over),
                         allowed=", ".join(str(limits[n]) for n in over)))


def resize_delta(old_flavor: dict, new_flavor: dict) -> dict[str, int]:
    return {"cores": new_flavor["vcpus"] - old_flavor["vcpus"],
            "ram": new_flavor["memory_mb"] - old_flavor["memory_mb"]}
