"""What the soak (bench/soak.py) expects of the cloud after every fault, and the check of it.

The soak keeps a ledger of the servers its workers created and deleted. After a fault, once the
workers are idle, `Checker.check` compares the cloud with the ledger:

- nothing lost: every server created and not deleted is still listed, every deleted one is gone,
  and no server the ledger does not know of exists (a create that failed must leave nothing);
- nothing stuck: every server is at rest (see `at_rest`) within the settle bound;
- nothing in ERROR;
- no leaked allocation or file: tests/functional/observe.py's `assert_consistent` (allocations
  are what live servers and open moves hold; every instances directory holds exactly the files
  of its servers).

It works on any cloud object observe.py accepts (the multi-process Deployment, or an embedded
cloud in the checker's own test) and an openstacksdk connection to it.
"""
import threading
import time
from dataclasses import dataclass, field

import keystoneauth1.exceptions
import openstack
import openstack.exceptions

from herder import states
from herder.db import journal, migrations
from tests.functional.observe import (actual_allocations, assert_consistent,
                                      expected_allocations, instance_files)

# The statuses a server rests in; anything else (BUILD, RESIZE, REVERT_RESIZE) is a step of a
# request under way.
RESTING_STATUSES = ("ACTIVE", "SHUTOFF", "VERIFY_RESIZE")
# A migration in one of these is being worked on. `finished` is not: it is the move waiting in
# VERIFY_RESIZE for a confirm or revert.
_MIGRATION_UNDER_WAY = tuple(s for s in states.MIGRATION_IN_PROGRESS
                             if s != states.MIGRATION_FINISHED)


@dataclass
class Ledger:
    """The servers the soak made: live ones by owner, and those it deleted. Shared by the
    workers' threads."""
    live: dict[str, str] = field(default_factory=dict)    # server id -> owning worker
    deleted: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def created(self, server_id: str, owner: str) -> None:
        with self._lock:
            self.live[server_id] = owner

    def gone(self, server_id: str) -> None:
        with self._lock:
            self.live.pop(server_id, None)
            self.deleted.add(server_id)

    def snapshot(self) -> tuple[dict[str, str], set[str]]:
        with self._lock:
            return dict(self.live), set(self.deleted)


def at_rest(cloud, server) -> bool:
    """The server shows a resting status with no task_state, and underneath no workflow is
    unfinished and no migration is being worked on (a confirm is accepted on the migration
    alone: the server keeps showing VERIFY_RESIZE with no task until the conductor runs it)."""
    if server.status not in RESTING_STATUSES or server.task_state:
        return False
    if journal.active_for(cloud.db, server.id) is not None:
        return False
    latest = migrations.latest_for(cloud.db, server.id)
    return latest is None or latest.status not in _MIGRATION_UNDER_WAY


def describe(server) -> str:
    fault = getattr(server, "fault", None) or {}
    text = f"{server.id} ({server.name}): status {server.status}, task_state {server.task_state}"
    if fault:
        text += f", fault {fault.get('code')} {fault.get('message')!r}"
    return text


class Checker:
    def __init__(self, cloud, conn: openstack.connection.Connection, ledger: Ledger):
        self.cloud = cloud
        self.conn = conn
        self.ledger = ledger

    def servers(self, attempts: int = 10) -> dict:
        """Every server, by id. An api restarted since the last call leaves a dead
        keep-alive connection in the client's pool, and a database just back may answer 503
        once: both are tried again."""
        for attempt in range(attempts):
            try:
                return {s.id: s for s in self.conn.compute.servers(details=True,
                                                                   all_projects=True)}
            except (keystoneauth1.exceptions.ConnectionError,
                    openstack.exceptions.HttpException) as error:
                retry = getattr(error, "status_code", None) in (None, 503)
                if not retry or attempt == attempts - 1:
                    raise
                time.sleep(1)

    def wait_at_rest(self, timeout: float, interval: float = 0.5) -> None:
        """Until every live server of the ledger is at rest or in ERROR, or `timeout` runs out
        (what is still moving then is reported by `check` as stuck)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live, _ = self.ledger.snapshot()
            listed = self.servers()
            if all(s.status == "ERROR" or at_rest(self.cloud, s)
                   for i, s in listed.items() if i in live):
                return
            time.sleep(interval)

    def check(self) -> list[str]:
        """Every invariant broken now, one line each (empty: all hold)."""
        live, deleted = self.ledger.snapshot()
        listed = self.servers()
        findings = []
        for server_id in sorted(live):
            server = listed.get(server_id)
            if server is None:
                findings.append(f"lost: server {server_id}, created and never deleted, is gone")
            elif server.status == "ERROR":
                findings.append(f"ERROR: {describe(server)}")
            elif not at_rest(self.cloud, server):
                findings.append(f"stuck: {describe(server)}")
        for server_id in sorted(deleted & set(listed)):
            findings.append(f"not deleted: {describe(listed[server_id])}, deleted by the soak")
        for server_id in sorted(set(listed) - set(live) - deleted):
            findings.append(f"unaccounted: {describe(listed[server_id])} is no server the soak "
                            "made (a create that failed left it?)")
        return findings + self.consistency()

    def consistency(self) -> list[str]:
        """assert_consistent's verdict, and when it fails, what differs."""
        try:
            assert_consistent(self.cloud)
            return []
        except AssertionError:
            pass
        findings = []
        expected, actual = expected_allocations(self.cloud), actual_allocations(self.cloud)
        for consumer, node in sorted(set(expected) | set(actual)):
            want, have = expected.get((consumer, node)), actual.get((consumer, node))
            if want != have:
                findings.append(f"allocation of consumer {consumer} on node {node}: "
                                f"{have} held, {want} expected")
        live_ids = set(self.ledger.snapshot()[0])
        for directory, entries in sorted(instance_files(self.cloud).items()):
            for entry in sorted(entries):
                owner = entry.rsplit("/", 1)[-1].split(".")[0].removesuffix("_resize")
                if owner not in live_ids:
                    findings.append(f"file {directory}/{entry}: of no live server")
        if not findings:  # a file missing, or a `_resize` copy where no move is open
            findings.append("instance files differ from what live servers and open moves "
                            "hold: " + repr(instance_files(self.cloud)))
        return findings
