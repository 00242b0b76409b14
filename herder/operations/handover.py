"""Handing an accepted request to the conductors so that it runs even if its cast is lost.

An operation records the request (db/accepted_requests.py) in the transaction of the write that
ends its checks (the server's new task state, or its migration's new status), then casts it.
The record is what makes the request durable: a cast the broker loses, or a conductor that dies
before journaling the request's workflow, leaves it behind, and a conductor sends it again
(conductor/pending_requests.py). A server therefore never shows a task that nothing will run.
"""
import logging
from dataclasses import dataclass
from typing import Callable

from herder.context import RequestContext
from herder.db import accepted_requests

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handover:
    """A recorded request: the conductor method that carries it out, and its arguments."""
    uuid: str
    method: str
    arguments: dict


def handing_over(context: RequestContext, method: str,
                 **arguments) -> Callable[[object], Handover]:
    """What records the request in a given transaction (see checks.set_task_state)."""
    def record(session) -> Handover:
        return Handover(accepted_requests.accept(session, context, method, arguments), method,
                        arguments)
    return record


def send(svc, context: RequestContext, handover: Handover) -> None:
    """Cast the request through the conductor's client, once the record is committed. A cast
    the broker refuses does not fail the request: it is recorded, and sent again."""
    try:
        getattr(svc.conductor, handover.method)(context, request_uuid=handover.uuid,
                                                **handover.arguments)
    except Exception as error:   # the broker is away; the record outlives it
        LOG.warning("%s could not cast %s (%s): a conductor will send it again",
                    context.log_prefix(), handover.method, error)
