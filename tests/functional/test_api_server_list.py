"""GET /servers and /servers/detail: Nova's filters (name as a regular expression, status, host,
all_tenants, changes-since/-before), sorting and paging with a `next` link."""
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import event

from herder.db import instances, server_queries
from herder.db.models import Instance, InstanceAction
from tests.functional.api_reads import call, error, ok
from tests.functional.observe import create_server, instance_record, wait_for_status


def names(conn, query: str = "", version: str = "2.1", detail: bool = False) -> list[str]:
    path = "/servers/detail" if detail else "/servers"
    return [s["name"] for s in ok(conn, f"{path}{query}", version)["servers"]]


@pytest.fixture
def three(cloud, demo):
    """web-1, web-2 and db-1 in project demo, created in that order."""
    return {name: create_server(demo, name=name) for name in ("web-1", "web-2", "db-1")}


def test_name_is_a_regular_expression_searched_in_the_name(cloud, demo, three):
    assert sorted(names(demo, "?name=web")) == ["web-1", "web-2"]
    assert sorted(names(demo, "?name=^web-[2-9]$")) == ["web-2"]
    assert sorted(names(demo, "?name=1$", detail=True)) == ["db-1", "web-1"]
    assert names(demo, "?name=^eb") == []
    assert [s.name for s in demo.compute.servers(name="db")] == ["db-1"]
    assert error(demo, "/servers?name=web(", "2.1") == \
        (400, "Invalid regular expression for name: web(")


def test_status_filters_by_the_api_status(cloud, demo, three):
    demo.compute.stop_server(three["db-1"].id)
    wait_for_status(demo, three["db-1"].id, "SHUTOFF")
    assert names(demo, "?status=SHUTOFF") == ["db-1"]
    assert sorted(names(demo, "?status=active")) == ["web-1", "web-2"]
    assert names(demo, "?status=RESCUE") == []          # a status herder never shows
    assert names(demo, "?status=sleepy", "2.37") == []  # unknown: nothing, before 2.38
    assert error(demo, "/servers?status=sleepy", "2.38") == (400, "Invalid status value")


def test_host_and_all_tenants_are_for_admins(cloud, admin, demo, three):
    mine = create_server(admin, name="admins")
    host = instance_record(cloud, three["web-1"].id).host
    on_host = {s["name"] for s in ok(admin, f"/servers?all_tenants=1&host={host}",
                                     "2.1")["servers"]}
    expected = {name for name, server in three.items()
                if instance_record(cloud, server.id).host == host}
    if instance_record(cloud, mine.id).host == host:
        expected.add("admins")
    assert on_host == expected
    assert set(names(admin, "?all_tenants=1")) == {"web-1", "web-2", "db-1", "admins"}
    assert names(admin) == ["admins"]
    assert sorted(names(demo, f"?host={host}")) == ["db-1", "web-1", "web-2"]  # ignored


def test_changes_since_and_before_window_includes_deleted_servers(cloud, demo, three):
    before_all = (datetime.now(timezone.utc) - timedelta(minutes=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    time.sleep(1.1)   # the cut below is named to the second
    cut = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(1.1)
    demo.compute.delete_server(three["web-2"].id)
    # the server object from create: fetching it again could already give 404
    demo.compute.wait_for_delete(three["web-2"])
    assert names(demo) == ["db-1", "web-1"]
    assert names(demo, f"?changes-since={cut}") == ["web-2"]   # deleted, and still listed
    assert names(demo, f"?changes-since={cut}", detail=True) == ["web-2"]
    deleted = ok(demo, f"/servers/detail?changes-since={cut}", "2.1")["servers"][0]
    assert deleted["status"] == "DELETED"
    assert sorted(names(demo, f"?changes-before={cut}", "2.66")) == ["db-1", "web-1"]
    assert names(demo, f"?changes-since={before_all}&changes-before={cut}", "2.66") == \
        ["db-1", "web-1"]
    # before 2.66 changes-before is not a filter
    assert len(names(demo, f"?changes-before={before_all}", "2.65")) == 2
    assert error(demo, f"/servers?changes-since={cut}&changes-before={before_all}", "2.66") == \
        (400, "The value of changes-since must be less than or equal to changes-before.")
    assert error(demo, "/servers?changes-since=yesterday", "2.1")[0] == 400


def test_sort_keys_and_directions(cloud, admin, demo, three):
    assert names(demo) == ["db-1", "web-2", "web-1"]   # newest first by default
    assert names(demo, "?sort_key=display_name&sort_dir=asc") == ["db-1", "web-1", "web-2"]
    assert names(demo, "?sort_key=display_name") == ["web-2", "web-1", "db-1"]
    assert names(demo, "?sort_key=created_at&sort_dir=asc", detail=True) == \
        ["web-1", "web-2", "db-1"]
    assert names(demo, "?sort_key=vm_state&sort_dir=asc&sort_key=display_name&sort_dir=desc") \
        == ["web-2", "web-1", "db-1"]
    assert names(demo, "?sort_key=vcpus&sort_dir=asc") == ["web-1", "web-2", "db-1"]  # ignored
    assert len(names(admin, "?all_tenants=1&sort_key=host")) == 3
    assert error(demo, "/servers?sort_key=host", "2.1") == \
        (403, "Only administrators can sort servers by host")
    assert error(demo, "/servers?sort_key=shoe_size", "2.1")[0] == 400
    assert error(demo, "/servers?sort_key=display_name&sort_dir=up", "2.1")[0] == 400
    assert error(demo, "/servers?sort_dir=asc", "2.1") == \
        (400, "Sort direction size exceeds sort key size")


def test_limit_and_marker_page_through_with_a_next_link(cloud, demo, three):
    first = ok(demo, "/servers?limit=2&sort_key=display_name&sort_dir=asc", "2.1")
    assert [s["name"] for s in first["servers"]] == ["db-1", "web-1"]
    (link,) = first["servers_links"]
    assert link["rel"] == "next"
    query = parse_qs(urlparse(link["href"]).query)
    assert query == {"limit": ["2"], "sort_key": ["display_name"], "sort_dir": ["asc"],
                     "marker": [three["web-1"].id]}
    second = ok(demo, "/servers?" + urlparse(link["href"]).query, "2.1")
    assert [s["name"] for s in second["servers"]] == ["web-2"]
    assert "servers_links" not in second
    assert len(list(demo.compute.servers(paginated=True, limit=1))) == 3
    assert error(demo, "/servers?marker=not-a-server", "2.1") == \
        (400, "marker [not-a-server] not found")
    assert error(demo, "/servers?limit=-1", "2.1")[0] == 400
    assert call(demo, "/servers?limit=0", "2.1")[1]["servers"] == []


# -- the cost of a page ------------------------------------------------------------------------

def _add_servers(cloud, count: int, project: str) -> list[str]:
    """`count` servers written straight to the database, spread over the three hosts, a third
    of them in ERROR with a fault, every one with an action and a request spec."""
    uuids = []
    for number in range(count):
        server = Instance(
            uuid=str(uuid.uuid4()), display_name=f"many-{number}", project_id=project,
            user_id="u", flavor={"flavorid": "1", "name": "m1.tiny", "vcpus": 1,
                                 "memory_mb": 64, "root_gb": 1},
            vm_state="error" if number % 3 == 0 else "active", host=f"compute{number % 3 + 1}",
            node=f"compute{number % 3 + 1}", availability_zone="nova")
        instances.create(cloud.db, server, {"availability_zone": None, "scheduler_hints": {}})
        with cloud.db.transaction() as session:
            session.add(InstanceAction(action="create", instance_uuid=server.uuid,
                                       request_id="req-x", user_id="u", project_id=project))
        if number % 3 == 0:
            instances.add_fault(cloud.db, server.uuid, 500, "it broke")
        uuids.append(server.uuid)
    return uuids


class StatementCounter:
    """Counts the SQL statements the api's handler thread sends while listing servers (the
    cloud's other services keep working meanwhile, on their own threads)."""

    def __init__(self, cloud, monkeypatch):
        self.listing_threads: set[int] = set()
        self.by_thread: dict[int, int] = {}
        listed = server_queries.page

        def page(*args, **kwargs):
            self.listing_threads.add(threading.get_ident())
            return listed(*args, **kwargs)

        monkeypatch.setattr(server_queries, "page", page)
        event.listen(cloud.db.engine, "before_cursor_execute", self._count)
        self.engine = cloud.db.engine

    def _count(self, *_args) -> None:
        me = threading.get_ident()
        self.by_thread[me] = self.by_thread.get(me, 0) + 1

    def statements(self, conn, path: str, version: str) -> int:
        self.listing_threads.clear()
        self.by_thread.clear()
        ok(conn, path, version)
        (thread,) = self.listing_threads
        return self.by_thread[thread]

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


@pytest.fixture
def statements(cloud, monkeypatch):
    counter = StatementCounter(cloud, monkeypatch)
    yield counter
    counter.close()


def test_a_page_costs_the_same_queries_for_5_servers_as_for_50(cloud, admin, statements):
    """The page is filtered, sorted and paged by the database, and what detailed bodies show of
    other tables (faults, actions, hosts' services, request specs) is loaded for the whole
    page at once: the count of statements does not grow with the servers."""
    lists = [("/servers/detail?all_tenants=1", "2.100"),
             ("/servers/detail?all_tenants=1&status=ERROR&sort_key=display_name", "2.100"),
             ("/servers?all_tenants=1&name=many-&limit=1000", "2.1"),
             ("/servers/detail?project_id=p5&sort_key=host&sort_dir=asc", "2.16")]
    counts = {}
    added = []
    for total in (5, 50):
        added += _add_servers(cloud, total - len(added), "p5")
        marker = f"&marker={added[2]}"   # a marker adds its own lookup, once
        counts[total] = [statements.statements(admin, path, version)
                         for path, version in lists] + \
            [statements.statements(admin, lists[0][0] + marker, "2.100")]
        shown = ok(admin, "/servers/detail?all_tenants=1", "2.100")["servers"]
        assert sum(1 for s in shown if s["name"].startswith("many-")) == total
        assert sum(1 for s in shown if s.get("fault")) == len(range(0, total, 3))
        assert {s["host_status"] for s in shown} == {"UP"}
    assert counts[5] == counts[50], counts
    assert max(counts[50]) <= 8, counts
