"""One kill -9 case of a move: hold a service at a fault point, kill it there, bring a
conductor back, and check that the server settled as a completed or rolled-back move, with its
disk's data unchanged and nothing leaked. Shared by the crash matrix (shortened timeouts, every
point) and its run with the production defaults (test_crash_defaults.py)."""
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field

from herder import states
from herder.db import journal
from herder.transfer import sparse
from tests.functional.observe import (assert_consistent, create_server, instance_record,
                                      migration_of, wait_for_status)
from tests.integration.deployment import Deployment

TRANSITIONAL_MIGRATION_STATUSES = (states.MIGRATION_PRE_MIGRATING, states.MIGRATION_QUEUED,
                                   states.MIGRATION_MIGRATING,
                                   states.MIGRATION_POST_MIGRATING, states.MIGRATION_CONFIRMING,
                                   states.MIGRATION_REVERTING)
# what each operation leaves when it completes (otherwise it rolled back)
COMPLETED_STATUS = {"migrate": "VERIFY_RESIZE", "resize": "VERIFY_RESIZE", "confirm": "ACTIVE",
                    "revert": "ACTIVE"}


def data_digest(path: str) -> str:
    """The disk's data extents, position and bytes: growing the disk (a resize) adds holes
    only, so this stays the same through any correct move."""
    fd = os.open(path, os.O_RDONLY)
    digest = hashlib.blake2b(digest_size=32)
    try:
        for start, length in sparse.extents(fd, os.fstat(fd).st_size):
            digest.update(start.to_bytes(8, "little"))
            digest.update(os.pread(fd, length, start))
    finally:
        os.close(fd)
    return digest.hexdigest()


def disk_of(cloud: Deployment, server_id: str) -> str:
    host = instance_record(cloud, server_id).host
    return os.path.join(cloud.instances_dirs()[host], server_id, "disk")


def start_operation(admin, server, operation: str) -> None:
    if operation == "migrate":
        admin.compute.migrate_server(server)
    elif operation == "resize":
        admin.compute.resize_server(server, admin.compute.find_flavor("m1.small").id)
    elif operation == "confirm":
        admin.compute.confirm_server_resize(server)
    else:
        admin.compute.revert_server_resize(server)


@dataclass
class Case:
    """A server about to go through `operation`, and what it was before."""
    cloud: Deployment
    admin: object
    operation: str
    server: object = None
    source: str = ""
    digest: str = ""
    request: threading.Thread | None = None
    request_errors: list = field(default_factory=list)

    @classmethod
    def prepare(cls, cloud: Deployment, operation: str, name: str) -> "Case":
        """A new server; moved into VERIFY_RESIZE first for a confirm or revert."""
        case = cls(cloud, cloud.connect(), operation)
        case.server = create_server(case.admin, name=name)
        case.source = instance_record(cloud, case.server.id).host
        if operation in ("confirm", "revert"):
            case.admin.compute.migrate_server(case.server)
            wait_for_status(case.admin, case.server.id, "VERIFY_RESIZE", timeout=30)
        case.digest = data_digest(disk_of(cloud, case.server.id))
        return case

    def kill_at(self, owner: str, point: str, restart: bool = True) -> tuple[str, float]:
        """Start the operation with `owner` held at `point`, kill -9 the process holding there
        and (unless told not to) start it again; (its name, time.monotonic() of the kill)."""
        self.cloud.clear_holds()
        self.cloud.hold(owner, point)
        # on a thread: when the api is the one held, the request only ends with the api's death
        self.request = threading.Thread(target=self._request)
        self.request.start()
        _, pid = self.cloud.wait_reached(point)
        victim = self.cloud.name_of(pid)
        self.cloud.kill(victim)
        killed_at = time.monotonic()
        self.cloud.clear_holds()
        if restart:
            self.cloud.restart(victim)
        return victim, killed_at

    def kill_conductor_while_a_host_works(self, point: str) -> float:
        """Start the operation with a compute host held at `point` (inside a step it runs for
        the conductor), kill -9 the conductor and start it again, and let the host go on only
        once the restarted conductor is rolling the move back: its undoing requests meet a
        step still at work on the host. time.monotonic() of the restart."""
        self.cloud.clear_holds()
        self.cloud.hold("*", point)
        self.request = threading.Thread(target=self._request)
        self.request.start()
        host, _ = self.cloud.wait_reached(point)
        self.cloud.kill("conductor")
        self.cloud.restart("conductor")
        restarted_at = time.monotonic()
        deadline = restarted_at + 30
        while (workflow := journal.active_for(self.cloud.db, self.server.id)) is None or \
                workflow.status != journal.ROLLING_BACK:
            assert time.monotonic() < deadline, f"no rollback began; logs in {self.cloud.logs}"
            time.sleep(0.05)
        time.sleep(1.0)   # the rollback's first undoing request reaches the held host
        self.cloud.release(host, point)
        return restarted_at

    def _request(self) -> None:
        try:
            start_operation(self.admin, self.server, self.operation)
        except Exception as error:
            self.request_errors.append(error)

    def wait_settled(self, within: float) -> object:
        """Until nothing is in flight for the server: task_state, workflow and migration
        status (a confirm shows only in its migration's status until it runs).

        The server is read last: read first, it could show the state from before a workflow
        that then finished before the journal was read (a confirm's VERIFY_RESIZE beside its
        migration's `confirmed`)."""
        deadline = time.monotonic() + within
        server = None
        while time.monotonic() < deadline:
            workflow = journal.active_for(self.cloud.db, self.server.id)
            migration = migration_of(self.cloud, self.server.id)
            server = self.admin.compute.get_server(self.server.id)
            if workflow is None and server.task_state is None and \
                    server.status in ("ACTIVE", "VERIFY_RESIZE", "ERROR") and \
                    (migration is None or
                     migration.status not in TRANSITIONAL_MIGRATION_STATUSES):
                return server
            time.sleep(0.2)
        raise AssertionError(f"{self.server.id} did not settle within {within}s: "
                             f"{server.status}/{server.task_state}; logs in {self.cloud.logs}")

    def check_outcome(self, settled, victim: str) -> str:
        """The move completed or rolled back cleanly; which of the two ('completed' or
        'rolled back')."""
        cloud, server_id = self.cloud, self.server.id
        if self.request is not None:
            self.request.join(30)
        if victim != "api":
            assert not self.request_errors, self.request_errors
        record = instance_record(cloud, server_id)
        assert settled.status != "ERROR", f"{server_id} went to ERROR; logs in {cloud.logs}"
        migration = migration_of(cloud, server_id)  # None: killed before it was recorded
        if self.operation in ("migrate", "resize"):   # completed, or rolled back onto the source
            assert (settled.status, migration and migration.status) in (
                ("VERIFY_RESIZE", states.MIGRATION_FINISHED),
                ("ACTIVE", states.MIGRATION_ERROR), ("ACTIVE", None))
            if settled.status == "ACTIVE":
                assert record.host == self.source and record.flavor["name"] == "m1.tiny"
        elif self.operation == "confirm":             # confirmed, or still waiting to be
            assert (settled.status, migration.status) in (
                ("ACTIVE", states.MIGRATION_CONFIRMED),
                ("VERIFY_RESIZE", states.MIGRATION_FINISHED))
        else:                                         # reverted, or still waiting to be
            assert (settled.status, migration.status) in (
                ("ACTIVE", states.MIGRATION_REVERTED),
                ("VERIFY_RESIZE", states.MIGRATION_FINISHED))
            if settled.status == "ACTIVE":
                assert record.host == self.source
        assert data_digest(disk_of(cloud, server_id)) == self.digest
        cloud.wait_ready()          # the restarted service is back before the next case
        assert_consistent(cloud)
        return "completed" if COMPLETED_STATUS[self.operation] == settled.status \
            else "rolled back"

    def role_of(self, victim: str) -> str:
        if victim in self.cloud.hosts:
            return "source compute" if victim == self.source else "destination compute"
        return victim


def report(case: Case, point: str, victim: str, outcome: str, seconds: float,
           settings: str = "shortened", counted_from: str = "restart") -> None:
    """Append the case's result to `HERDER_CRASH_MATRIX_REPORT` as a line of JSON (rendered
    by crash_report.py for docs/crash-matrix.md)."""
    path = os.environ.get("HERDER_CRASH_MATRIX_REPORT")
    if not path:
        return
    migration = migration_of(case.cloud, case.server.id)
    with open(path, "a") as f:
        f.write(json.dumps({"operation": case.operation, "point": point,
                            "killed": case.role_of(victim), "outcome": outcome,
                            "migration": migration.status if migration else None,
                            "settled_after_s": round(seconds, 1), "settings": settings,
                            "counted_from": counted_from}) + "\n")
