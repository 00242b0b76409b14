"""A conductor's holds: the leases of the workflows it runs, and the requests it has taken
from its queue and not yet started, renewed on a thread of their own.

Another conductor adopts a workflow whose lease ran out (journal.adopt), so a conductor that
renews late runs its workflows twice, side by side with their adopter. Renewals therefore wait
for nothing else the conductor does: not for recovery (a rollback that waits for a host still at
work on a step takes up to the step deadline), nor for the workers' database connections (a busy
conductor can hold its whole pool), which they would if they went through the shared pool.
They run `RENEWALS_PER_LEASE` times per lease, on a connection of their own.

A request the api accepted is recorded until a conductor journals its workflow, and a record no
conductor took within [workflow] request_resend_after is sent again as lost
(pending_requests.py). Under a burst, though, a request can wait that long in a live conductor,
behind the ones it took before. So a conductor also holds the requests it has taken
(`held_until` on their records, for request_resend_after, renewed as often as it renews
leases, or `RENEWALS_PER_LEASE` times per request_resend_after if that is shorter). A held
request is neither sent again nor given up. A conductor that dies stops renewing: its holds
run out, and its requests are sent again, if the broker did not hand them to another.
"""
import logging
from datetime import datetime, timedelta
from typing import Callable

from herder.db import accepted_requests, journal
from herder.db.session import Database
from herder.periodic import Periodic

LOG = logging.getLogger(__name__)

# a lease survives this many renewals in a row that fail or come late, less one
RENEWALS_PER_LEASE = 3


class LeaseKeeper:
    def __init__(self, db: Database, owner: str, lease_seconds: float,
                 requests_taken: Callable[[], list[str]] | None = None,
                 request_hold_seconds: float = 0.0):
        self.owner = owner
        self.lease_seconds = lease_seconds
        self._requests_taken = requests_taken
        self.request_hold_seconds = request_hold_seconds
        # SQLite has one writer at a time anyway, and a second engine would only meet the
        # first one's lock through SQLite's busy handler instead of the process's turns
        self._own_db = not db.url.startswith("sqlite")
        self.db = Database(db.url, pool_size=1, max_overflow=0) if self._own_db else db
        interval = lease_seconds / RENEWALS_PER_LEASE
        if requests_taken is not None:
            interval = min(interval, request_hold_seconds / RENEWALS_PER_LEASE)
        self._periodic = Periodic("conductor-leases", interval, self.renew_all)

    def renew(self) -> int:
        """Extend the lease of every unfinished workflow this conductor owns; how many."""
        return journal.renew_leases(self.db, self.owner, self.lease_seconds)

    def hold_requests(self) -> None:
        """Hold the recorded requests this conductor has taken, for request_hold_seconds."""
        if self._requests_taken is not None:
            accepted_requests.hold(self.db, self._requests_taken(), datetime.utcnow() +
                                   timedelta(seconds=self.request_hold_seconds))

    def renew_all(self) -> None:
        self.renew()
        self.hold_requests()

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        # a renewal under way ends before its engine is disposed: one still running after
        # would open a new connection on the disposed engine and keep it. A renewal is one
        # UPDATE; one that takes seconds meets a database that is away, and fails anyway.
        self._periodic.stop(wait=5.0)
        if self._own_db:
            self.db.dispose()
