"""Hypervisor bodies of /os-hypervisors, per microversion (2.28, 2.53, 2.75, 2.88).

2.88 drops the usage fields (placement is where usage lives) and puts `uptime` in the detailed
bodies instead of on a route of its own.
"""
import json
import platform
from dataclasses import dataclass
from datetime import datetime

from herder.api.microversion import Version
from herder.db.host_load import HostLoad
from herder.db.models import ComputeNode, Instance, Service
from herder.db.placement import Resources


@dataclass
class Hypervisor:
    """A compute node with what the views say about it."""
    node: ComputeNode
    service: Service
    up: bool
    used: Resources          # the allocations held on the node (servers and open moves)
    load: HostLoad
    servers: list[Instance] | None = None   # only when asked for


def _cpu_info(node: ComputeNode) -> dict:
    # the fake driver runs guests on this machine's CPU; it reports no model or features
    return {"arch": platform.machine(), "model": "", "vendor": "",
            "topology": {"sockets": 1, "cores": node.vcpus, "threads": 1}, "features": []}


def _usage(hyp: Hypervisor, version: Version) -> dict:
    node, used = hyp.node, hyp.used
    # like Nova's resource tracker, the host's reserved memory counts as used
    memory_used = used.memory_mb + node.reserved_host_memory_mb
    cpu_info = _cpu_info(node)
    return {"vcpus": node.vcpus, "memory_mb": node.memory_mb, "local_gb": node.local_gb,
            "vcpus_used": used.vcpus, "memory_mb_used": memory_used,
            "local_gb_used": used.disk_gb, "free_ram_mb": node.memory_mb - memory_used,
            "free_disk_gb": node.local_gb - used.disk_gb,
            "disk_available_least": node.local_gb - used.disk_gb,
            "current_workload": hyp.load.current_workload,
            "running_vms": hyp.load.running_vms,
            "cpu_info": cpu_info if version.at_least("2.28") else json.dumps(cpu_info)}


def show(hyp: Hypervisor, version: Version, detail: bool, with_servers: bool = False) -> dict:
    """`with_servers`: the caller asked for servers, so 2.75+ lists them even when none."""
    uuid_ids = version.at_least("2.53")
    node, service = hyp.node, hyp.service
    body = {"id": node.uuid if uuid_ids else node.id,
            "hypervisor_hostname": node.hypervisor_hostname,
            "state": "up" if hyp.up else "down",
            "status": "disabled" if service.disabled else "enabled"}
    if detail:
        body.update({"hypervisor_type": node.hypervisor_type,
                     "hypervisor_version": node.hypervisor_version, "host_ip": node.host_ip,
                     "service": {"id": service.uuid if uuid_ids else service.id,
                                 "host": node.host,
                                 "disabled_reason": service.disabled_reason}})
        if version.at_least("2.88"):
            body["uptime"] = uptime(node.created_at)
        else:
            body.update(_usage(hyp, version))
    if hyp.servers:
        body["servers"] = [{"name": s.display_name, "uuid": s.uuid} for s in hyp.servers]
    elif with_servers and version.at_least("2.75"):
        body["servers"] = []
    return body


def statistics(hypervisors: list[Hypervisor]) -> dict:
    """GET /os-hypervisors/statistics (until 2.87): the usage fields summed over every
    hypervisor."""
    fields = ("vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used",
              "free_ram_mb", "free_disk_gb", "current_workload", "running_vms",
              "disk_available_least")
    totals = dict.fromkeys(fields, 0)
    for hyp in hypervisors:
        usage = _usage(hyp, Version(2, 1))
        for name in fields:
            totals[name] += usage[name]
    return {"count": len(hypervisors), **totals}


def uptime(since: datetime) -> str:
    """The host's uptime the way `uptime` prints it (here: since the host first reported)."""
    now = datetime.utcnow()
    up = now - since
    hours, rest = divmod(up.seconds, 3600)
    return f" {now:%H:%M:%S} up {up.days} days, {hours:2d}:{rest // 60:02d}"
