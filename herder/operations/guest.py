"""Changing a running guest on its host (os-stop, os-start, pause, unpause, suspend, resume,
reboot) and reading its console."""
from herder import exception, states
from herder.compute.rpcapi import ComputeAPI
from herder.db import actions
from herder.db.models import Instance
from herder.operations.checks import Services, check_lock, check_state, set_task_state
from herder.operations.handover import Handover, handing_over, send
from herder.wire import instance_to_wire

CONSOLE_TIMEOUT = 30.0   # seconds the api waits for a host to read a console log


def stop(svc: Services, context, instance: Instance) -> None:
    """os-stop: power the guest off (from ACTIVE, or from ERROR as in Nova)."""
    send(svc, context, _accept(svc, context, instance, states.ACCEPTED["stop"],
                               handing_over(context, "stop_instance",
                                            instance_uuid=instance.uuid)))


def start(svc: Services, context, instance: Instance) -> None:
    """os-start: power a stopped guest on."""
    send(svc, context, _accept(svc, context, instance, states.ACCEPTED["start"],
                               handing_over(context, "start_instance",
                                            instance_uuid=instance.uuid)))


def change_guest(svc: Services, context, instance: Instance, operation: str) -> None:
    """pause, unpause, suspend, resume, reboot_soft or reboot_hard (see states.ACCEPTED)."""
    send(svc, context, _accept(svc, context, instance, states.ACCEPTED[operation],
                               handing_over(context, "power_action",
                                            instance_uuid=instance.uuid, operation=operation)))


def _accept(svc: Services, context, instance: Instance, accepted: states.Accepted,
            handover) -> Handover:
    """Nova's checks (lock, vm_state, task_state None, launched), then the task state the
    conductor's PowerWorkflow expects with the request recorded, and the action recorded."""
    check_lock(context, instance)
    check_state(instance, accepted)
    recorded = set_task_state(svc, instance, accepted.action,
                              {"vm_state": instance.vm_state,
                               "task_state": accepted.task_states},
                              also=handover, task_state=accepted.task_state)
    actions.start(svc.db, context, instance.uuid, accepted.action)
    return recorded


def console_output(svc: Services, context, instance: Instance, length: int | None) -> str:
    """The last `length` lines of the guest's serial console (None: all of it), as its host
    reads them."""
    if not instance.host or instance.vm_state == states.BUILDING:
        raise exception.Conflict(f"Instance {instance.uuid} has no console yet: it is not "
                                 "on a host")
    try:
        return ComputeAPI(svc.bus, timeout=CONSOLE_TIMEOUT).get_console_output(
            context, instance.host, instance=instance_to_wire(instance), length=length)
    except exception.MessagingTimeout:
        raise exception.ConsoleUnavailable(instance_uuid=instance.uuid,
                                           host=instance.host) from None
