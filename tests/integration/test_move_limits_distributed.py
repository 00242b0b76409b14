"""Per-host move limits with two conductors on RabbitMQ: the limit holds across both, and moves
waiting in the queue survive kill -9 of a conductor."""
from collections import defaultdict

import pytest
from sqlalchemy import select

from herder import states
from herder.db import journal
from herder.db.models import Workflow
from tests.functional.observe import (assert_consistent, create_server, migration_of,
                                      wait_until)
from tests.functional.test_move_limits import at_work, most_at_once
from tests.integration.deployment import Deployment

LIMIT = 1


@pytest.fixture
def two_conductors(rabbitmq, tmp_path):
    with Deployment(tmp_path, hosts=4, conductors=2,
                    compute={"max_concurrent_migrations": LIMIT,
                             "fake_power_off_seconds": 0.5}) as deployment:
        deployment.start_all()
        yield deployment


def parked_servers(deployment) -> set[str]:
    with deployment.db.transaction() as session:
        return set(session.scalars(select(Workflow.instance_uuid)
                                   .where(Workflow.status == journal.PARKED)))


def test_the_limit_holds_across_conductors_and_waiting_moves_survive_kill_9(two_conductors):
    deployment = two_conductors
    admin = deployment.connect()
    servers = [create_server(admin, name=f"vm{n}") for n in range(8)]
    for server in servers:
        admin.compute.migrate_server(server)
    wait_until(lambda: len(parked_servers(deployment)) >= 4, timeout=30,
               message="moves waiting in the queue")

    deployment.kill("conductor")
    waiting_at_the_kill = parked_servers(deployment)
    deployment.restart("conductor")

    def settled():
        found = {s.id: admin.compute.get_server(s.id) for s in servers}
        return all(s.status in ("VERIFY_RESIZE", "ACTIVE") and s.task_state is None
                   for s in found.values()) and found
    found = wait_until(settled, timeout=120, interval=0.5, message="every move settled")
    # the waiting moves lost nothing: each went on to the end
    assert {sid for sid in waiting_at_the_kill if found[sid].status == "VERIFY_RESIZE"} == \
        waiting_at_the_kill
    moved = [sid for sid, server in found.items() if server.status == "VERIFY_RESIZE"]
    intervals_by_host = defaultdict(list)
    for server_id in moved:
        _, start, end = at_work(admin, server_id)
        move = migration_of(deployment, server_id)
        for host in (move.source_compute, move.dest_compute):
            intervals_by_host[host].append((start, end))
    assert max(most_at_once(spans) for spans in intervals_by_host.values()) == LIMIT
    # a move the killed conductor was running is rolled back, with the reason
    for server_id in set(found) - set(moved):
        assert migration_of(deployment, server_id).status == states.MIGRATION_ERROR
    assert_consistent(deployment)
