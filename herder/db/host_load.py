"""What runs on each compute host, for the hypervisor views: server counts and busy servers."""
from dataclasses import dataclass

from sqlalchemy import case, func, select

from herder.db.models import Instance
from herder.db.session import Database


@dataclass(frozen=True)
class HostLoad:
    running_vms: int = 0
    current_workload: int = 0   # servers with a task under way (Nova counts builds, moves, ...)


def by_host(db: Database) -> dict[str, HostLoad]:
    busy = func.sum(case((Instance.task_state.is_not(None), 1), else_=0))
    with db.transaction() as session:
        rows = session.execute(select(Instance.host, func.count(Instance.id), busy)
                               .where(Instance.deleted.is_(False), Instance.host.is_not(None))
                               .group_by(Instance.host)).all()
    return {host: HostLoad(int(count), int(working or 0)) for host, count, working in rows}
