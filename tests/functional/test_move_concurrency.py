"""Many moves at once in one cloud: every one finishes, and the books still balance.

On SQLite the database serializes every write; on PostgreSQL and MariaDB (HERDER_TEST_DB) the
claims, allocation moves and journal writes of concurrent workflows really overlap.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import connect, make_cloud
from tests.functional.observe import (assert_consistent, instance_record, wait_for_status,
                                      wait_until)

SERVERS = 20


@pytest.fixture
def cloud(tmp_path):
    cloud = make_cloud(tmp_path, quota__instances=SERVERS, quota__cores=SERVERS)
    yield cloud
    cloud.stop()


def _all_at_once(cloud, work, items):
    """Run `work(connection, item)` for every item, each in its own thread, released together."""
    start = threading.Barrier(len(items))

    def run(item):
        conn = connect(cloud, cloud.conf.admin_token)
        start.wait()
        try:
            return work(conn, item)
        finally:
            conn.close()

    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(run, items))


def _create(conn, name: str) -> str:
    flavor, image = conn.compute.find_flavor("m1.tiny"), conn.image.find_image("herder-guest")
    server = conn.compute.create_server(name=name, flavor_id=flavor.id, image_id=image.id,
                                        networks="none")
    return wait_for_status(conn, server.id, "ACTIVE", timeout=60).id


def _migrate(conn, server_id: str) -> str:
    conn.compute.migrate_server(server_id)
    return wait_for_status(conn, server_id, "VERIFY_RESIZE", timeout=120).status


def _confirm(conn, server_id: str) -> str:
    conn.compute.confirm_server_resize(server_id)
    return wait_for_status(conn, server_id, "ACTIVE", timeout=60).status


def test_twenty_concurrent_migrations_over_three_hosts_all_reach_verify_resize(cloud):
    server_ids = _all_at_once(cloud, _create, [f"vm{i}" for i in range(SERVERS)])
    sources = {server_id: instance_record(cloud, server_id).host for server_id in server_ids}
    assert_consistent(cloud)

    assert _all_at_once(cloud, _migrate, server_ids) == ["VERIFY_RESIZE"] * SERVERS
    for server_id in server_ids:
        assert instance_record(cloud, server_id).host != sources[server_id]
    assert_consistent(cloud)

    assert _all_at_once(cloud, _confirm, server_ids) == ["ACTIVE"] * SERVERS
    # the source copies go once the confirm workflows have finished
    wait_until(lambda: _consistent(cloud), timeout=30, message="a consistent cloud")


def _consistent(cloud) -> bool:
    try:
        assert_consistent(cloud)
        return True
    except AssertionError:
        return False
