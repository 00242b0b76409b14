"""Every host judged for one request: the filters that reject it, or its weight among those
that pass. select_destinations claims the best of these; a dry run (the herder API's move
plans) shows all of it and claims nothing, so the two can never judge a host differently.
"""
from dataclasses import dataclass

from herder.scheduler.filters import FILTERS
from herder.scheduler.host_state import HostState
from herder.scheduler.weighers import Weighed, weights


@dataclass(frozen=True)
class Rejection:
    host: str
    filter: str | None   # None: no filter, the request leaves the host out (see evaluate)
    reason: str          # in words an operator reads: "RAM 512 MB free, 2048 MB needed"


@dataclass(frozen=True)
class Evaluation:
    ranked: list[Weighed]        # the hosts that pass every filter, best first
    rejected: list[Rejection]    # the others, by host name

    def as_dict(self) -> dict:
        """As it crosses the bus (the scheduler's evaluate_destinations)."""
        return {"candidates": [{"host": w.host.host, "node": w.host.node,
                                "weight": w.weight, "weighers": w.by_weigher}
                               for w in self.ranked],
                "rejected": [{"host": r.host, "filter": r.filter, "reason": r.reason}
                             for r in self.rejected]}


def evaluate(hosts: list[HostState], request: dict, ignore_hosts: list[str],
             requested_host: str | None, filter_names: list[str], weigher_names: list[str],
             multipliers: dict[str, float]) -> Evaluation:
    """`hosts` judged for `request`. A host in `ignore_hosts` (a move's source) is rejected
    without a filter; with `requested_host`, the other hosts are not judged at all, as the
    request names the only candidate."""
    enabled = [(name, FILTERS[name]) for name in filter_names]
    passed, rejected = [], []
    for host in hosts:
        if requested_host and host.host != requested_host:
            continue
        if host.host in ignore_hosts:
            rejected.append(Rejection(host.host, None, "is the server's current host"))
            continue
        failed = next(((name, reason) for name, reason in
                       ((name, check(request, host)) for name, check in enabled) if reason),
                      None)
        if failed:
            rejected.append(Rejection(host.host, *failed))
        else:
            passed.append(host)
    return Evaluation(weights(passed, weigher_names, request, multipliers),
                      sorted(rejected, key=lambda r: r.host))
