"""Quota checks: creating counts instances, cores and ram; resizing counts the positive delta."""
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy.orm import Session

from herder import exception
from herder.db import quotas
from herder.db.session import Database


@contextmanager
def admitted(db: Database, conf, project_id: str, wanted: dict[str, int]) -> Iterator[Session]:
    """A transaction in which `wanted` fits the project's quota: what the block adds to the
    session commits with the check, under the project's quota lock, so concurrent requests of
    one project are counted one after the other. Raises QuotaExceeded before the block runs."""
    quotas.ensure_lock_row(db, project_id)
    with db.transaction() as session:
        limits, used = quotas.locked_usage(session, conf, project_id)
        _refuse_over(_positive(wanted), limits, used)
        yield session


def _positive(wanted: dict[str, int]) -> dict[str, int]:
    return {name: amount for name, amount in wanted.items() if amount > 0}


def _refuse_over(wanted: dict[str, int], limits: dict[str, int], used: dict[str, int]) -> None:
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


class LimitBelowUsage(exception.HerderError):
    message = ("Quota limit %(limit)s for %(resource)s must be greater than or equal to already "
               "used and reserved %(used)s.")


def set_limits(db: Database, conf, project_id: str, values: dict[str, int],
               force: bool = False) -> dict[str, int]:
    """Give the project these limits and return all of its limits. Unless `force`d, a limit
    below what the project already uses is refused (LimitBelowUsage) and nothing changes. The
    check and the write hold the project's quota lock, so no create slips in between."""
    quotas.ensure_lock_row(db, project_id)
    with db.transaction() as session:
        limits, used = quotas.locked_usage(session, conf, project_id)
        if not force:
            for resource, limit in values.items():
                if limit != -1 and limit < used[resource]:
                    raise LimitBelowUsage(limit=limit, resource=resource, used=used[resource])
        quotas.set_limits(session, project_id, values)
    return {**limits, **values}
