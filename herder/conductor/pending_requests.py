"""Requests the api accepted whose cast no conductor took: sent to the conductors again.

The api records each request in the transaction that sets the server's task state, then casts
it (db/accepted_requests.py). When the cast is lost (the broker restarted before delivering
it, or the conductor that took it from the queue died before journaling its workflow), the
record stays. Every conductor looks for records older than `request_resend_after` on its
recovery round and casts them again; whichever conductor opens the workflow first takes the
record, and a copy that arrives later finds it gone and is dropped (Engine.run).
"""
import logging
from datetime import datetime, timedelta

from herder.conductor.base import ConductorServices
from herder.conductor.rpcapi import ConductorAPI
from herder.context import RequestContext
from herder.db import accepted_requests, journal

LOG = logging.getLogger(__name__)


def resend_overdue(svc: ConductorServices, waited_seconds: float,
                   give_up_after: float, holds_count: bool = True) -> int:
    """Cast again every request waiting longer than `waited_seconds`; how many were sent.
    One accepted more than `give_up_after` seconds ago is given up instead: no conductor will
    run it (it fails before its workflow is journaled, every time), and the server must not
    wait for it forever. Without its record, the lost-request sweep puts the server back.

    A request a conductor holds (it has it, waiting for a worker: see leases.py) is neither
    sent again nor given up while the hold lasts, unless `holds_count` is False: for the only
    conductor as it starts, when every hold is a dead process's."""
    sent = 0
    conductors = ConductorAPI(svc.bus, cast_patience=0.0)   # the next round is the retry
    now = datetime.utcnow()
    overdue = accepted_requests.overdue(svc.db, now - timedelta(seconds=waited_seconds),
                                        held_after=now if holds_count else None)
    for request in overdue:
        context = RequestContext.from_dict(request.context)
        if journal.active_for(svc.db, request.instance_uuid) is not None:
            continue   # a workflow still works on the server (a move being aborted for a
            #            delete hands the server over itself): the request waits for it
        if request.accepted_at < now - timedelta(seconds=give_up_after):
            with svc.db.transaction() as session:
                given_up = accepted_requests.take(session, request.uuid)
            if given_up:
                LOG.error("%s [instance: %s] %s accepted at %s was never taken by a "
                          "conductor: giving it up", context.log_prefix(),
                          request.instance_uuid, request.method,
                          request.accepted_at.isoformat())
            continue
        LOG.warning("%s [instance: %s] %s accepted at %s was not taken by any conductor: "
                    "sending it again", context.log_prefix(), request.instance_uuid,
                    request.method, request.accepted_at.isoformat())
        try:
            send(conductors, request)
        except Exception as error:  # the broker is still away: the next round tries again
            LOG.warning("could not send the waiting requests again: %s", error)
            break
        accepted_requests.mark_resent(svc.db, request.uuid)
        sent += 1
    return sent


def send(conductors: ConductorAPI, request) -> None:
    """Cast a recorded request (db/accepted_requests.py) to the conductors, as the api would
    have, in the context of whoever made it."""
    getattr(conductors, request.method)(RequestContext.from_dict(request.context),
                                        request_uuid=request.uuid, **request.arguments)
