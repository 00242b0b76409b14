"""Requests the api accepted and no conductor has taken yet (see models.AcceptedRequest).

The api writes one in the transaction that sets the server's task state (so a server never
shows a task that nothing will run), then casts it to the conductors. The conductor that opens
the request's workflow removes it in the same transaction, so exactly one takes it: the cast,
or a copy a conductor sent again because the first one was lost.
"""
import uuid as uuidlib
from datetime import datetime

from sqlalchemy import delete, or_, select, update

from herder.context import RequestContext
from herder.db.models import AcceptedRequest
from herder.db.session import Database


def accept(session, context: RequestContext, method: str, arguments: dict) -> str:
    """Record the request, a conductor method and its arguments (`instance_uuid` among them),
    in the caller's transaction (the one that sets the server's task state); its uuid, for
    the cast."""
    request_uuid = str(uuidlib.uuid4())
    session.add(AcceptedRequest(uuid=request_uuid, instance_uuid=arguments["instance_uuid"],
                                method=method, arguments=arguments, context=context.to_dict(),
                                accepted_at=datetime.utcnow()))
    return request_uuid


def amend(session, request_uuid: str, **arguments) -> None:
    """Add to the arguments of a request not yet cast (in the caller's transaction)."""
    row = session.scalars(select(AcceptedRequest).where(
        AcceptedRequest.uuid == request_uuid)).one()
    row.arguments = {**row.arguments, **arguments}


def take(session, request_uuid: str) -> bool:
    """Remove the request in the caller's transaction: True for the one caller that did."""
    requests = AcceptedRequest.__table__   # for the reason journal.py gives: one per request
    return session.execute(delete(requests).where(requests.c.uuid == request_uuid)).rowcount == 1


def overdue(db: Database, before: datetime, held_after: datetime | None) -> list[AcceptedRequest]:
    """The requests accepted (or last sent again) before `before`, oldest first, but for those
    a conductor holds beyond `held_after` (None: held or not)."""
    query = select(AcceptedRequest).where(or_(
        AcceptedRequest.resent_at < before,
        (AcceptedRequest.resent_at.is_(None)) & (AcceptedRequest.accepted_at < before)))
    if held_after is not None:
        query = query.where(or_(AcceptedRequest.held_until.is_(None),
                                AcceptedRequest.held_until <= held_after))
    with db.transaction() as session:
        rows = session.scalars(query.order_by(AcceptedRequest.id)).all()
        session.expunge_all()
        return list(rows)


def hold(db: Database, request_uuids: list[str], until: datetime) -> None:
    """Mark the requests as held until `until` by the conductor that has them (those still
    recorded: a request whose workflow opened is gone)."""
    if not request_uuids:
        return
    requests = AcceptedRequest.__table__
    with db.transaction() as session:
        for start in range(0, len(request_uuids), _HOLDS_PER_STATEMENT):
            chunk = request_uuids[start:start + _HOLDS_PER_STATEMENT]
            session.execute(update(requests).where(requests.c.uuid.in_(chunk))
                            .values(held_until=until))


# well under what any of the databases takes as the bound values of one statement
_HOLDS_PER_STATEMENT = 500


def mark_resent(db: Database, request_uuid: str) -> None:
    with db.transaction() as session:
        session.execute(update(AcceptedRequest).where(AcceptedRequest.uuid == request_uuid)
                        .values(resent_at=datetime.utcnow()))


def waiting(db: Database, instance_uuid: str, method: str) -> AcceptedRequest | None:
    """The server's oldest request for `method` that no conductor has taken."""
    with db.transaction() as session:
        row = session.scalars(select(AcceptedRequest).where(
            AcceptedRequest.instance_uuid == instance_uuid, AcceptedRequest.method == method)
            .order_by(AcceptedRequest.id).limit(1)).first()
        if row is not None:
            session.expunge(row)
        return row


def pending_for(db: Database, instance_uuid: str) -> bool:
    """Whether a request for the server waits to be taken."""
    with db.transaction() as session:
        return session.scalar(select(AcceptedRequest.id).where(
            AcceptedRequest.instance_uuid == instance_uuid).limit(1)) is not None
