"""How fast moves' disk copies went: the only history of transfer rates herder keeps. Each
migration keeps its own copy's measure (written by the conductor's resize_instance step once
the destination's digests match); the herder API's move plans estimate a copy's duration from
the most recent ones."""
from dataclasses import dataclass

from sqlalchemy import select

from herder.db.models import Migration
from herder.db.session import Database

# the most recent copies of one kind a rate is measured over: recent enough to follow a
# changed network or bandwidth limit, enough of them that one odd copy does not decide
RATE_SAMPLE = 20


@dataclass(frozen=True)
class MeasuredRate:
    copies: int               # how many copies it is measured over
    bytes_per_second: float   # their bytes over their seconds, all together


def measure(report: dict) -> dict:
    """The migration's columns for the copy the source reported (its resize_instance report,
    herder/virt/driver.py MoveReport); none for a copy that moved nothing measurable, or a
    report from a host that does not time its copies: they teach nothing."""
    shared = bool(report.get("shared_storage"))
    # a resumed send times only what it sent this time
    moved = report["allocated_bytes"] if shared else report.get("bytes_sent", 0)
    seconds = report.get("copy_seconds")
    if not seconds or seconds <= 0 or moved <= 0:
        return {}
    return {"disk_copy_bytes": moved, "disk_copy_seconds": seconds, "disk_copy_shared": shared}


def measured_rate(db: Database, shared_storage: bool) -> MeasuredRate | None:
    """The rate of the last RATE_SAMPLE copies over the network (or, `shared_storage`, on a
    shared instances directory); None: none was measured yet."""
    with db.transaction() as session:
        rows = session.execute(
            select(Migration.disk_copy_bytes, Migration.disk_copy_seconds)
            .where(Migration.disk_copy_shared.is_(shared_storage),
                   Migration.disk_copy_seconds.is_not(None))
            .order_by(Migration.id.desc()).limit(RATE_SAMPLE)).all()
    if not rows:
        return None
    return MeasuredRate(len(rows), sum(r.disk_copy_bytes for r in rows) /
                        sum(r.disk_copy_seconds for r in rows))
