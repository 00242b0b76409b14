"""GET /os-hypervisors[/detail], /os-hypervisors/{id}, and the pre-2.53 search and servers and
pre-2.88 statistics and uptime routes: the compute nodes with their usage (until 2.88).

Usage comes from the allocations (what servers and open moves hold), the servers on a node from
the instances table; a node whose compute service record is gone is left out, as in Nova.
"""
import falcon

from herder.api import errors
from herder.api.apidoc import describe
from herder.api.handlers.base import Handler, require_version
from herder.api.microversion import MAX_VERSION, Version
from herder.api.query import Query, is_uuid_like, path_integer
from herder.api.views import hypervisors as views
from herder.api.views.hypervisors import Hypervisor
from herder.api.views.paging import next_links
from herder.db import host_load, instances, placement, services
from herder.db.host_load import HostLoad
from herder.db.models import ComputeNode
from herder.db.placement import Resources

_RULE = "os_compute_api:os-hypervisors"
_NOTHING_USED = Resources(0, 0, 0)


class _HypervisorHandler(Handler):
    def hypervisors(self, nodes: list[ComputeNode], with_servers: bool = False
                    ) -> list[Hypervisor]:
        service_by_host = {s.host: s for s in
                           services.list_all(self.db, binary=services.COMPUTE_BINARY)}
        used, load = placement.usage_by_node(self.db), host_load.by_host(self.db)
        found = []
        for node in nodes:
            service = service_by_host.get(node.host)
            if service is None:
                continue
            found.append(Hypervisor(
                node, service, services.is_up(service, self.conf.service_down_time),
                used.get(node.uuid, _NOTHING_USED), load.get(node.host, HostLoad()),
                instances.on_host(self.db, node.host) if with_servers else None))
        return found

    def matching(self, pattern: str) -> list[ComputeNode]:
        """Nodes whose hypervisor_hostname contains `pattern` (SQL LIKE '%pattern%'), or 404."""
        found = [n for n in placement.nodes(self.db)
                 if pattern.lower() in n.hypervisor_hostname.lower()]
        if not found:
            raise errors.NotFound(f"No hypervisor matching '{pattern}' could be found.")
        return found


def _list_params(version: Version) -> list[str]:
    names = ["limit", "marker"] if version.at_least("2.33") else []
    if version.at_least("2.53"):
        names += ["hypervisor_hostname_pattern", "with_servers"]
    return names


def _id_of(node: ComputeNode, version: Version) -> str:
    return node.uuid if version.at_least("2.53") else str(node.id)


class HypervisorCollection(_HypervisorHandler):
    detail = False
    rule = f"{_RULE}:list"

    @describe("List hypervisors (/detail: with usage)",
              query=_list_params(Version(*MAX_VERSION)))
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, self.rule)
        version = self.version(req)
        paged = version.at_least("2.33")
        query = Query(req, _list_params(version), strict=version.at_least("2.53"))
        pattern = query.hostname("hypervisor_hostname_pattern")
        with_servers = bool(query.boolean("with_servers"))
        limit = query.limit(self.conf.api.max_limit) if paged else None
        marker = query.string("marker", single=True)
        if pattern is not None:
            if "limit" in query or marker is not None:
                raise errors.BadRequest("Paging over hypervisors with the "
                                        "hypervisor_hostname_pattern query parameter is not "
                                        "supported.")
            nodes, paged = self.matching(pattern), False
        else:
            nodes = self._page(version, limit, marker)
        body = [views.show(h, version, self.detail, with_servers)
                for h in self.hypervisors(nodes, with_servers)]
        resp.media = {"hypervisors": body}
        if paged:
            collection = "os-hypervisors/detail" if self.detail else "os-hypervisors"
            links = next_links(self.base_url(req), collection, query, body, limit)
            if links:
                resp.media["hypervisors_links"] = links

    def _page(self, version: Version, limit: int | None, marker: str | None
              ) -> list[ComputeNode]:
        nodes = placement.nodes(self.db)
        if marker is not None:
            ids = [_id_of(n, version) for n in nodes]
            if marker not in ids:
                raise errors.BadRequest(f"marker [{marker}] not found")
            nodes = nodes[ids.index(marker) + 1:]
        return nodes if limit is None else nodes[:limit]


class HypervisorDetail(HypervisorCollection):
    detail = True
    rule = f"{_RULE}:list-detail"


class HypervisorItem(_HypervisorHandler):
    @describe("Show a hypervisor with usage", query=("with_servers",))
    def on_get(self, req: falcon.Request, resp: falcon.Response, hypervisor_id: str) -> None:
        self.authorize(req, f"{_RULE}:show")
        found, with_servers = self._find(req, hypervisor_id)
        resp.media = {"hypervisor": views.show(found, self.version(req), True, with_servers)}

    def _find(self, req: falcon.Request, hypervisor_id: str):
        """The hypervisor the path names (an integer id before 2.53, a uuid from 2.53)."""
        version = self.version(req)
        not_found = errors.NotFound(f"Hypervisor with ID '{hypervisor_id}' could not be found.")
        with_servers = False
        if version.at_least("2.53"):
            with_servers = bool(Query(req, ("with_servers",), strict=True)
                                .boolean("with_servers"))
            if not is_uuid_like(hypervisor_id):
                raise errors.BadRequest(f"Invalid uuid {hypervisor_id}")
        elif path_integer(hypervisor_id) is None:
            raise not_found
        wanted = hypervisor_id.lower() if version.at_least("2.53") else hypervisor_id
        nodes = [n for n in placement.nodes(self.db) if _id_of(n, version) == wanted]
        found = self.hypervisors(nodes, with_servers)
        if not found:
            raise not_found
        return found[0], with_servers


class HypervisorUptime(HypervisorItem):
    """GET /os-hypervisors/{id}/uptime (until 2.88), which `openstack hypervisor show` reads."""

    @describe("Show a hypervisor's uptime", max_version="2.87")
    def on_get(self, req: falcon.Request, resp: falcon.Response, hypervisor_id: str) -> None:
        # from 2.88 the detailed bodies carry `uptime` and this route is gone
        require_version(self.version(req), "2.1", "2.87")
        self.authorize(req, f"{_RULE}:uptime")
        found, _ = self._find(req, hypervisor_id)
        body = views.show(found, self.version(req), detail=False)
        body["uptime"] = views.uptime(found.node.created_at)
        resp.media = {"hypervisor": body}


class HypervisorSearch(_HypervisorHandler):
    """Before 2.53: hypervisors whose name contains the pattern (`/servers` lists servers)."""
    with_servers = False

    @describe("Hypervisors whose name contains {hypervisor_id} (/servers: with their servers)",
              max_version="2.52")
    def on_get(self, req: falcon.Request, resp: falcon.Response, hypervisor_id: str) -> None:
        version = self.version(req)
        require_version(version, "2.1", "2.52")
        self.authorize(req, f"{_RULE}:{'servers' if self.with_servers else 'search'}")
        found = self.hypervisors(self.matching(hypervisor_id), self.with_servers)
        resp.media = {"hypervisors": [views.show(h, version, False) for h in found]}


class HypervisorServers(HypervisorSearch):
    with_servers = True


class HypervisorStatistics(_HypervisorHandler):
    @describe("Show the hypervisors' summed usage", max_version="2.87")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        require_version(self.version(req), "2.1", "2.87")  # 2.88 removed the usage figures
        self.authorize(req, f"{_RULE}:statistics")
        found = self.hypervisors(placement.nodes(self.db))
        resp.media = {"hypervisor_statistics": views.statistics(found)}
