"""What a server group's policy allows on one host: the rule the scheduler's group filters and
weighers apply, and that a move's destination applies again in prep_resize.

A group is seen through a *placement view*, a plain dict that crosses the bus as is:

    {"uuid": ..., "policy": "anti-affinity", "max_server_per_host": 1,
     "members_by_host": {"compute1": 1, "compute2": 2}}

`members_by_host` counts the *other* members of the group on each host (never the server being
placed), and a member in the middle of a move counts on both its source and its destination:
until the move is confirmed or reverted either host may end up keeping it.
"""
AFFINITY = "affinity"
ANTI_AFFINITY = "anti-affinity"
SOFT_AFFINITY = "soft-affinity"
SOFT_ANTI_AFFINITY = "soft-anti-affinity"
POLICIES = (ANTI_AFFINITY, AFFINITY, SOFT_ANTI_AFFINITY, SOFT_AFFINITY)
# the policies before microversion 2.15 added the soft ones
HARD_POLICIES = (ANTI_AFFINITY, AFFINITY)


def members_on(group: dict | None, host: str) -> int:
    if not group:
        return 0
    return group["members_by_host"].get(host, 0)


def violation(group: dict | None, host: str) -> str | None:
    """Why placing one more member of `group` on `host` breaks a hard policy, or None."""
    if not group:
        return None
    policy, uuid = group["policy"], group["uuid"]
    if policy == ANTI_AFFINITY:
        limit = group["max_server_per_host"]
        on_host = members_on(group, host)
        if on_host >= limit:
            return (f"server group {uuid} is anti-affinity: {on_host} of its members already "
                    f"on {host} (max_server_per_host {limit})")
    elif policy == AFFINITY:
        # the first member may go anywhere; the others follow it
        hosts = sorted(h for h, count in group["members_by_host"].items() if count > 0)
        if hosts and host not in hosts:
            return (f"server group {uuid} is affinity: its members are on "
                    f"{', '.join(hosts)}, not on {host}")
    return None
