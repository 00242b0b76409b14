"""A disk copy's call waits by progress: past its deadline, for as long as the copy moves."""
import threading
import time
import uuid

import pytest

from herder import exception
from herder.bus.rpc import Bus
from herder.conductor.copy_watch import CopyWatch
from herder.conf import build_conf
from herder.context import RequestContext
from herder.db import migrations
from herder.db.models import Migration


def _migration(db) -> str:
    migration = str(uuid.uuid4())
    with db.transaction() as session:
        session.add(Migration(uuid=migration, instance_uuid=str(uuid.uuid4()),
                              source_compute="compute1", dest_compute="compute2",
                              status="migrating", migration_type="migration"))
    return migration


def test_the_watch_waits_while_bytes_move_and_gives_up_when_they_stop(db):
    migration = _migration(db)
    watch = CopyWatch(db, migration, build_conf(workflow__copy_stall_timeout=7))
    migrations.update(db, migration, disk_processed_bytes=10)
    assert watch() == 7
    migrations.update(db, migration, disk_processed_bytes=20)
    assert watch() == 7
    assert watch() is None           # no byte since the last look


def test_a_copy_that_never_started_is_not_waited_for(db):
    watch = CopyWatch(db, _migration(db), build_conf())
    assert watch() is None


class SlowCopy:
    RPC_API_VERSION = "1.0"

    def resize_instance(self, context, seconds: float) -> str:
        time.sleep(seconds)
        return "sent"


@pytest.fixture
def buses():
    tag = f"unit-{uuid.uuid4().hex[:8]}"
    server, client = Bus("memory://", virtual_host_tag=tag), Bus("memory://",
                                                                  virtual_host_tag=tag)
    server.serve("compute.compute1", SlowCopy())
    yield client
    client.close()
    server.close()


def test_a_call_past_its_timeout_goes_on_while_keep_waiting_says_so(buses):
    asked = []

    def keep_waiting() -> float:
        asked.append(time.monotonic())
        return 0.2
    context = RequestContext(user_id="u", project_id="p")
    assert buses.call("compute.compute1", "resize_instance", context, timeout=0.2,
                      keep_waiting=keep_waiting, seconds=1.0) == "sent"
    assert len(asked) >= 3


def test_a_call_past_its_timeout_fails_when_keep_waiting_says_stop(buses):
    context = RequestContext(user_id="u", project_id="p")
    stopped = threading.Event()
    with pytest.raises(exception.MessagingTimeout):
        buses.call("compute.compute1", "resize_instance", context, timeout=0.2,
                   keep_waiting=lambda: stopped.set(), seconds=1.0)
    assert stopped.is_set()
