"""A conductor's hold on the workflows it runs: their leases, renewed on a thread of their own.

Another conductor adopts a workflow whose lease ran out (journal.adopt), so a conductor that
renews late runs its workflows twice, side by side with their adopter. Renewals therefore wait
for nothing else the conductor does: not for recovery (a rollback that waits for a host still at
work on a step takes up to the step deadline), nor for the workers' database connections (a busy
conductor can hold its whole pool), which they would if they went through the shared pool.
They run `RENEWALS_PER_LEASE` times per lease, on a connection of their own.
"""
import logging

from herder.db import journal
from herder.db.session import Database
from herder.periodic import Periodic

LOG = logging.getLogger(__name__)

# a lease survives this many renewals in a row that fail or come late, less one
RENEWALS_PER_LEASE = 3


class LeaseKeeper:
    def __init__(self, db: Database, owner: str, lease_seconds: float):
        self.owner = owner
        self.lease_seconds = lease_seconds
        # SQLite has one writer at a time anyway, and a second engine would only meet the
        # first one's lock through SQLite's busy handler instead of the process's turns
        self._own_db = not db.url.startswith("sqlite")
        self.db = Database(db.url, pool_size=1, max_overflow=0) if self._own_db else db
        self._periodic = Periodic("conductor-leases", lease_seconds / RENEWALS_PER_LEASE,
                                  self.renew)

    def renew(self) -> int:
        """Extend the lease of every unfinished workflow this conductor owns; how many."""
        return journal.renew_leases(self.db, self.owner, self.lease_seconds)

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        # a renewal under way ends before its engine is disposed: one still running after
        # would open a new connection on the disposed engine and keep it. A renewal is one
        # UPDATE; one that takes seconds meets a database that is away, and fails anyway.
        self._periodic.stop(wait=5.0)
        if self._own_db:
            self.db.dispose()
