"""A conductor renews its leases on a connection of its own (herder/conductor/leases.py)."""
import threading
import time
import uuid

import pytest

from herder.conductor.leases import LeaseKeeper
from herder.db import journal
from herder.db.session import Database
from tests import databases

pytestmark = pytest.mark.skipif(
    databases.SERVER is None,
    reason="on SQLite the leases share the process's one writer (HERDER_TEST_DB=postgresql)")

LEASE = 1.5


def test_leases_are_renewed_while_the_workers_hold_every_pooled_connection(db_url):
    conductor_db = Database(db_url, pool_size=1, max_overflow=0)   # the conductor's pool
    others_db = Database(db_url)                                     # another conductor's
    row = journal.open_workflow(conductor_db, str(uuid.uuid4()), "migrate", str(uuid.uuid4()),
                                None, {}, owner="conductor-1:a", lease_seconds=LEASE)
    holding, done = threading.Event(), threading.Event()

    def busy_worker():
        with conductor_db.transaction():   # the pool's only connection, held
            holding.set()
            done.wait(30)
    worker = threading.Thread(target=busy_worker)
    worker.start()
    keeper = LeaseKeeper(conductor_db, "conductor-1:a", LEASE)
    try:
        assert holding.wait(5)
        keeper.start()
        time.sleep(LEASE * 2)
        # the lease was renewed meanwhile: another conductor cannot adopt the workflow
        assert not journal.adopt(others_db, row, "conductor-2:b", LEASE)
        assert worker.is_alive()   # the pooled connection was held all along
    finally:
        done.set()
        worker.join(10)
        keeper.stop()
        conductor_db.dispose()
        others_db.dispose()
    # and once nobody renews it, the lease runs out and another conductor adopts
    time.sleep(LEASE + 0.5)
    assert journal.adopt(others_db, row, "conductor-2:b", LEASE)
