"""Server group bodies of /os-server-groups, per microversion.

Before 2.64: `policies` (a list of one) and an always empty `metadata`; 2.13 adds `project_id`
and `user_id`; 2.64 shows `policy` and `rules` instead of `policies` and `metadata`.
"""
from herder.api.microversion import Version
from herder.db.models import ServerGroup


def show(group: ServerGroup, members: list[str], version: Version) -> dict:
    body = {"id": group.uuid, "name": group.name, "members": list(members)}
    if version.at_least("2.64"):
        body["policy"] = group.policy
        body["rules"] = dict(group.rules or {})
    else:
        body["policies"] = [group.policy]
        body["metadata"] = {}
    if version.at_least("2.13"):
        body["project_id"] = group.project_id
        body["user_id"] = group.user_id
    return body
