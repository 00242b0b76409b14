"""The client of the scheduler's RPC API (topic `scheduler`), which the conductor calls.

Versions of the API (see herder/bus/versions.py):
  1.0  the methods as they were when versions were introduced
  1.1  evaluate_destinations: the hosts judged for a request, nothing claimed (dry runs)
"""
from herder.bus.client import RpcClient

TOPIC = "scheduler"


class SchedulerAPI(RpcClient):
    def select_destinations(self, context, *, request: dict, instance_uuid: str,
                            ignore_hosts: list[str], requested_host: str | None = None
                            ) -> list[dict]:
        """Rank the hosts for `request` (resources, availability zone, image properties) and
        claim the best one's resources for the server: that selection first, then up to
        `max_attempts - 1` unclaimed alternates. NoValidHost when no host fits."""
        return self._call(context, TOPIC, "select_destinations", request=request,
                          instance_uuid=instance_uuid, ignore_hosts=ignore_hosts,
                          requested_host=requested_host)

    def evaluate_destinations(self, context, *, request: dict, instance_uuid: str,
                              ignore_hosts: list[str], requested_host: str | None = None
                              ) -> dict:
        """select_destinations' judgement of every host, without claiming any:
        {"candidates": [{host, node, weight, weighers}, ...] best first,
         "rejected": [{host, filter, reason}, ...]} (herder/scheduler/evaluation.py)."""
        return self._call(context, TOPIC, "evaluate_destinations", version="1.1",
                          request=request, instance_uuid=instance_uuid,
                          ignore_hosts=ignore_hosts, requested_host=requested_host)

    def update_instance_info(self, context, *, host: str, instance_uuid: str,
                             previous_host: str | None = None) -> None:
        """Tell every scheduler that the server is now on `host` (and left `previous_host`)."""
        self._fanout(context, TOPIC, "update_instance_info", host=host,
                     instance_uuid=instance_uuid, previous_host=previous_host)
