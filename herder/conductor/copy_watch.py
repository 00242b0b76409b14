"""How long the conductor waits for a source host's disk copy: by its progress, not by a clock.

The source reports the bytes it has sent (report_progress, every half second while data flows)
and the conductor writes them on the migration. The copy's call waits the step deadline first,
which covers the power-off and the start of the copy; after that it goes on waiting in periods
of `[workflow] copy_stall_timeout` for as long as each period saw the count grow. A 50 GiB disk
on a slow link completes; a copy that stopped moving fails one period after it stopped.
"""
import logging

from herder import exception
from herder.db import migrations
from herder.db.session import Database

LOG = logging.getLogger(__name__)


class CopyWatch:
    def __init__(self, db: Database, migration_uuid: str, conf):
        self.db = db
        self.migration_uuid = migration_uuid
        self.period = conf.workflow.copy_stall_timeout
        self._last_seen: int | None = None

    def __call__(self) -> float | None:
        """Seconds more to wait, or None: the copy has not moved since the last look."""
        try:
            processed = migrations.get(self.db, self.migration_uuid).disk_processed_bytes or 0
        except exception.MigrationNotFound:
            return None
        if self._last_seen is not None and processed <= self._last_seen:
            LOG.warning("migration %s: no copy progress in %.0fs (at %d bytes); giving up",
                        self.migration_uuid, self.period, processed)
            return None
        first_look = self._last_seen is None
        self._last_seen = processed
        if first_look and processed == 0:
            return None   # nothing moved in the whole step deadline
        return self.period
