"""The scheduler service: `select_destinations` ranks hosts and claims the best one.

Returns the selected host (with its allocation claimed for the instance) followed by up to
`max_attempts - 1` unclaimed alternates, which the conductor claims itself if it has to
reschedule. `evaluate_destinations` judges the hosts the same way and claims nothing (a
dry run's answer).
"""
import logging
import threading

from herder import exception
from herder.bus.notifier import Notifier
from herder.db import placement, server_groups, services
from herder.db.placement import Resources
from herder.db.session import Database
from herder.scheduler.evaluation import Evaluation, evaluate
from herder.scheduler.host_state import HostState
from herder import fault_injection
from herder.scheduler.rpcapi import SchedulerAPI

LOG = logging.getLogger(__name__)


class SchedulerManager:
    # the version of its RPC API this serves (herder/scheduler/rpcapi.py keeps the history), and the
    # client whose methods are all a message may call
    RPC_API_VERSION = "1.1"
    RPC_API = SchedulerAPI

    def __init__(self, conf, db: Database, notifier: Notifier | None = None):
        self.conf = conf
        self.db = db
        self.notifier = notifier
        self.fault_points = fault_injection.from_conf(conf, "scheduler")  # tests only
        # members of server groups are placed one at a time, so that each sees where the
        # previous one went (its claim) before choosing
        self._group_lock = threading.Lock()

    def host_states(self) -> list[HostState]:
        service_by_host = {s.host: s for s in services.list_all(self.db, binary=services.COMPUTE_BINARY)}
        usage = placement.usage_by_node(self.db)
        found = []
        for node in placement.nodes(self.db):
            service = service_by_host.get(node.host)
            if service is None:
                continue
            found.append(HostState(
                host=node.host, node=node.hypervisor_hostname, node_uuid=node.uuid,
                availability_zone=service.zone, enabled=not service.disabled,
                up=services.is_up(service, self.conf.service_down_time),
                capacity=placement.capacity(node), used=usage.get(node.uuid, Resources(0, 0, 0)),
                hypervisor_type=node.hypervisor_type))
        return found

    def evaluate(self, request: dict, ignore_hosts: list[str], requested_host: str | None
                 ) -> Evaluation:
        """Every host judged for `request`: rejected with the filter's reason, or weighed."""
        options = self.conf.filter_scheduler
        return evaluate(self.host_states(), request, ignore_hosts, requested_host,
                        options.enabled_filters, options.weighers, self._multipliers())

    def rank(self, request: dict, ignore_hosts: list[str], requested_host: str | None
             ) -> tuple[list[HostState], dict[str, str]]:
        """Hosts that pass every filter, best first, and why each other host was rejected."""
        found = self.evaluate(request, ignore_hosts, requested_host)
        return [w.host for w in found.ranked], {r.host: r.reason for r in found.rejected}

    def _multipliers(self) -> dict[str, float]:
        options = self.conf.filter_scheduler
        return {"ServerGroupSoftAffinityWeigher": options.soft_affinity_weight_multiplier,
                "ServerGroupSoftAntiAffinityWeigher":
                    options.soft_anti_affinity_weight_multiplier}

    # -- RPC endpoints -------------------------------------------------------------------------
    def select_destinations(self, context, request: dict, instance_uuid: str,
                            ignore_hosts: list[str], requested_host: str | None = None
                            ) -> list[dict]:
        self._notify(context, "scheduler.select_destinations.start", instance_uuid)
        selections = self._select(context, request, instance_uuid, ignore_hosts, requested_host)
        # the worst moment to die: claimed, unanswered
        self.fault_points.check("select_destinations")
        self._notify(context, "scheduler.select_destinations.end", instance_uuid)
        return selections

    def evaluate_destinations(self, context, request: dict, instance_uuid: str,
                              ignore_hosts: list[str], requested_host: str | None = None
                              ) -> dict:
        """What select_destinations would judge of every host, claiming nothing: no lock
        either, as nothing is placed that a later member must see."""
        group = server_groups.placement_view(self.db, self.conf, instance_uuid)
        if group is not None:
            request = {**request, "server_group": group}
        return self.evaluate(request, ignore_hosts, requested_host).as_dict()

    def _notify(self, context, event_type: str, instance_uuid: str) -> None:
        if self.notifier is not None:
            self.notifier.info(event_type, {"nova_object.name": "RequestSpecPayload",
                                            "nova_object.namespace": "nova",
                                            "nova_object.version": "1.0",
                                            "nova_object.data": {"instance_uuid": instance_uuid,
                                                                 "request_id":
                                                                     context.request_id}})

    def _select(self, context, request: dict, instance_uuid: str, ignore_hosts: list[str],
                requested_host: str | None) -> list[dict]:
        if server_groups.groups_of(self.db, instance_uuid):
            with self._group_lock:
                group = server_groups.placement_view(self.db, self.conf, instance_uuid)
                return self._place(context, {**request, "server_group": group}, instance_uuid,
                                   ignore_hosts, requested_host)
        return self._place(context, request, instance_uuid, ignore_hosts, requested_host)

    def _place(self, context, request: dict, instance_uuid: str, ignore_hosts: list[str],
               requested_host: str | None) -> list[dict]:
        ranked, rejected = self.rank(request, ignore_hosts, requested_host)
        wanted = Resources(**request["resources"])
        for position, host in enumerate(ranked):
            try:
                placement.claim(self.db, instance_uuid, host.node_uuid, wanted)
            except exception.AllocationConflict as conflict:
                rejected[host.host] = str(conflict)
                continue
            alternates = [] if requested_host else \
                ranked[position + 1:position + self.conf.scheduler.max_attempts]
            LOG.info("%s [instance: %s] Selected host %s, alternates %s", context.log_prefix(),
                     instance_uuid, host.host, [h.host for h in alternates])
            return [_selection(h) for h in [host, *alternates]]
        reasons = "; ".join(f"{h}: {r}" for h, r in sorted(rejected.items())) or "no compute hosts"
        raise exception.NoValidHost(reason=f"There are not enough hosts available. ({reasons})")

    def update_instance_info(self, context, host: str, instance_uuid: str,
                             previous_host: str | None = None) -> None:
        """The conductor's word, after a move, that a server now lives on `host`. Nova's
        host manager caches it for its filters; herder's filters read placement and the
        database instead, which are always current, so the word is only logged (it tells an
        operator which scheduler heard of the move)."""
        LOG.info("%s [instance: %s] host manager: now on %s (was %s)", context.log_prefix(),
                 instance_uuid, host, previous_host)


def _selection(host: HostState) -> dict:
    return {"host": host.host, "node": host.node, "node_uuid": host.node_uuid}
