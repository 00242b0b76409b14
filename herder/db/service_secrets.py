"""Secrets the control services share through the database (see models.ServiceSecret)."""
import secrets

from sqlalchemy.exc import IntegrityError

from herder.db.models import ServiceSecret
from herder.db.session import Database


def get_or_create(db: Database, name: str) -> str:
    """The secret called `name`, made now (64 random hex digits) if nobody has made it yet.
    Two processes that both make it at once keep the one that was stored first."""
    with db.transaction() as session:
        found = session.get(ServiceSecret, name)
        if found is not None:
            return found.value
    try:
        with db.transaction() as session:
            session.add(ServiceSecret(name=name, value=secrets.token_hex(32)))
    except IntegrityError:
        pass   # another process stored it first
    with db.transaction() as session:
        return session.get(ServiceSecret, name).value
