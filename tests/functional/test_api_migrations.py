"""GET /os-migrations: fields, filters, paging and policies per microversion."""
import uuid
from datetime import datetime
from urllib.parse import urlsplit

from herder.db import flavors, migrations
from herder.db.models import Migration
from tests.conftest import connect, make_cloud
from tests.functional.api_reads import error, microsecond_time, ok, set_policy
from tests.functional.observe import create_server, instance_record, wait_for_status

BASE_FIELDS = {"id", "instance_uuid", "status", "created_at", "updated_at",
               "old_instance_type_id", "new_instance_type_id", "source_compute", "source_node",
               "dest_compute", "dest_node", "dest_host"}
HOST_FIELDS = {"source_compute", "source_node", "dest_compute", "dest_node", "dest_host"}


def _row(cloud, **values) -> Migration:
    """A migration record written directly, for times and owners a test must control."""
    defaults = {"uuid": str(uuid.uuid4()), "instance_uuid": str(uuid.uuid4()),
                "source_compute": "compute1", "source_node": "compute1",
                "dest_compute": "compute2", "dest_node": "compute2", "dest_host": "127.0.1.2",
                "old_instance_type_id": 1, "new_instance_type_id": 1, "status": "confirmed",
                "migration_type": "migration", "user_id": "admin", "project_id": "admin"}
    return migrations.create(cloud.db, Migration(**{**defaults, **values}))


def _relative(href: str) -> str:
    """A link as a path below /v2.1, for the SDK session."""
    parts = urlsplit(href)
    return parts.path.split("/v2.1", 1)[1] + "?" + parts.query


def test_each_microversion_renders_exactly_its_fields(cloud, admin):
    server = create_server(admin)
    admin.compute.migrate_server(server)
    wait_for_status(admin, server.id, "VERIFY_RESIZE")
    tiny = flavors.get(cloud.db, "1")

    expected = {"2.1": BASE_FIELDS, "2.22": BASE_FIELDS,
                "2.23": BASE_FIELDS | {"migration_type", "links"},
                "2.58": BASE_FIELDS | {"migration_type", "links"},
                "2.59": BASE_FIELDS | {"migration_type", "links", "uuid"},
                "2.79": BASE_FIELDS | {"migration_type", "links", "uuid"},
                "2.80": BASE_FIELDS | {"migration_type", "links", "uuid", "user_id",
                                       "project_id"}}
    for version, fields in expected.items():
        body = ok(admin, "/os-migrations", version)
        (migration,) = body["migrations"]
        assert set(migration) == fields, version
        assert set(body) == {"migrations"}   # one item, far from a full page: no next link

    moved = instance_record(cloud, server.id)
    migration = ok(admin, "/os-migrations", "2.80")["migrations"][0]
    assert migration["instance_uuid"] == server.id and migration["status"] == "finished"
    assert migration["migration_type"] == "migration"
    assert migration["dest_compute"] == moved.host != migration["source_compute"]
    assert migration["dest_host"] == cloud.computes[moved.host].host_ip
    assert migration["old_instance_type_id"] == migration["new_instance_type_id"] == tiny.id
    assert (migration["user_id"], migration["project_id"]) == ("admin", "admin")
    assert microsecond_time(migration["created_at"]) <= microsecond_time(migration["updated_at"])
    # the link of an in-progress move leads to it under the server
    self_link = next(link["href"] for link in migration["links"] if link["rel"] == "self")
    assert self_link.endswith(f"/v2.1/servers/{server.id}/migrations/{migration['id']}")
    shown = ok(admin, _relative(self_link).rstrip("?"), "2.59")["migration"]
    assert shown["uuid"] == migration["uuid"]

    admin.compute.confirm_server_resize(server)
    wait_for_status(admin, server.id, "ACTIVE")
    (done,) = ok(admin, "/os-migrations", "2.23")["migrations"]
    assert done["status"] == "confirmed" and "links" not in done


def test_filters_select_by_type_server_host_and_status(cloud, admin):
    first, second = create_server(admin, "first"), create_server(admin, "second")
    admin.compute.migrate_server(first)
    admin.compute.resize_server(second, admin.compute.find_flavor("m1.small").id)
    wait_for_status(admin, first.id, "VERIFY_RESIZE")
    wait_for_status(admin, second.id, "VERIFY_RESIZE")
    everything = ok(admin, "/os-migrations", "2.59")["migrations"]
    assert len(everything) == 2

    def servers(query: str, version: str = "2.59") -> set[str]:
        return {m["instance_uuid"] for m in ok(admin, f"/os-migrations?{query}",
                                               version)["migrations"]}

    assert servers("migration_type=resize") == {second.id}
    assert servers("migration_type=migration") == {first.id}
    assert servers(f"instance_uuid={first.id}") == {first.id}
    assert servers("status=finished") == {first.id, second.id}
    assert servers("status=confirmed") == set()
    assert servers("hidden=1") == set() and servers("hidden=0") == {first.id, second.id}
    for host in cloud.computes:
        touching = {m["instance_uuid"] for m in everything
                    if host in (m["source_compute"], m["dest_compute"])}
        leaving = {m["instance_uuid"] for m in everything if m["source_compute"] == host}
        assert servers(f"host={host}") == touching
        assert servers(f"source_compute={host}") == leaving
        # `host` wins over `source_compute`, as in Nova
        assert servers(f"host={host}&source_compute=elsewhere") == touching
    resize = next(m for m in everything if m["instance_uuid"] == second.id)
    assert resize["old_instance_type_id"] == flavors.get(cloud.db, "1").id
    assert resize["new_instance_type_id"] == flavors.get(cloud.db, "2").id
    # what the openstack CLI sends
    assert {m.server_id for m in admin.compute.migrations(migration_type="resize")} == \
        {second.id}
    # before 2.59 unknown parameters (and paging) are ignored; from 2.59 they are refused
    assert servers("limit=1&whatever=x", "2.58") == {first.id, second.id}
    assert error(admin, "/os-migrations?whatever=x", "2.59") == \
        (400, "Additional properties are not allowed ('whatever' was unexpected)")


def test_paging_is_newest_first_capped_by_max_limit_with_next_links(tmp_path):
    cloud = make_cloud(tmp_path, api__max_limit=3)
    try:
        admin = connect(cloud, cloud.conf.admin_token)
        t0 = datetime(2030, 1, 1, 10, 0, 0)
        rows = [_row(cloud, created_at=t0.replace(minute=i), updated_at=t0.replace(minute=i))
                for i in range(4)]
        rows.append(_row(cloud, created_at=t0.replace(minute=3)))   # ties: newer id first
        _row(cloud, created_at=t0.replace(minute=9), hidden=True)   # never listed
        newest_first = [rows[4].uuid, rows[3].uuid, rows[2].uuid, rows[1].uuid, rows[0].uuid]

        page = ok(admin, "/os-migrations", "2.59")
        assert [m["uuid"] for m in page["migrations"]] == newest_first[:3]   # max_limit
        (link,) = page["migrations_links"]
        assert link["rel"] == "next" and link["href"].endswith(f"marker={newest_first[2]}")
        rest = ok(admin, _relative(link["href"]), "2.59")
        assert [m["uuid"] for m in rest["migrations"]] == newest_first[3:]
        assert "migrations_links" not in rest

        two = ok(admin, "/os-migrations?limit=2", "2.59")
        assert [m["uuid"] for m in two["migrations"]] == newest_first[:2]
        assert two["migrations_links"][0]["href"].endswith(
            f"/v2.1/os-migrations?limit=2&marker={newest_first[1]}")
        assert len(ok(admin, "/os-migrations?limit=50", "2.59")["migrations"]) == 3
        assert [m.uuid for m in admin.compute.migrations()] == newest_first   # follows links
        # before 2.59: everything, oldest first, no paging
        assert [m["id"] for m in ok(admin, "/os-migrations?limit=1", "2.58")["migrations"]] \
            == [r.id for r in rows]

        assert error(admin, "/os-migrations?marker=nope", "2.59") == \
            (400, "Marker nope could not be found.")
        assert error(admin, "/os-migrations?limit=-1", "2.59") == \
            (400, "Invalid input for query parameters limit. Value: -1. "
                  "'-1' does not match '^[0-9]*$'")
        assert error(admin, "/os-migrations?limit=1&limit=2", "2.59")[0] == 400
    finally:
        cloud.stop()


def test_migrations_of_one_second_are_ordered_by_their_microseconds(cloud, admin):
    """Times keep their microseconds: two moves started in one second list newest first,
    whichever has the larger id, and show the times they were written with."""
    later = _row(cloud, created_at=datetime(2030, 1, 1, 10, 0, 0, 900000))
    earlier = _row(cloud, created_at=datetime(2030, 1, 1, 10, 0, 0, 100000))
    listed = ok(admin, "/os-migrations", "2.59")["migrations"]
    assert [m["uuid"] for m in listed] == [later.uuid, earlier.uuid]
    assert [m["created_at"] for m in listed] == ["2030-01-01T10:00:00.900000",
                                                 "2030-01-01T10:00:00.100000"]
    second = ok(admin, f"/os-migrations?limit=1&marker={later.uuid}", "2.59")["migrations"]
    assert [m["uuid"] for m in second] == [earlier.uuid]


def test_changes_since_and_before_bound_the_last_update(cloud, admin):
    created = datetime(2030, 1, 1, 9, 0, 0)
    at = {hour: _row(cloud, created_at=created, updated_at=datetime(2030, 1, 1, hour, 0, 0))
          for hour in (10, 11, 12)}

    def hours(query: str, version: str) -> set[int]:
        found = ok(admin, f"/os-migrations?{query}", version)["migrations"]
        return {hour for hour, row in at.items() if row.uuid in {m["uuid"] for m in found}}

    assert hours("changes-since=2030-01-01T11:00:00Z", "2.59") == {11, 12}
    assert hours("changes-since=2030-01-01T12:00:00%2B01:00", "2.59") == {11, 12}  # tz aware
    assert hours("changes-before=2030-01-01T11:00:00Z", "2.66") == {10, 11}
    assert hours("changes-since=2030-01-01T10:30:00Z&changes-before=2030-01-01T11:30:00Z",
                 "2.66") == {11}
    assert len(ok(admin, "/os-migrations?changes-since=2031-01-01T00:00:00Z",
                  "2.58")["migrations"]) == 3   # ignored before 2.59
    assert error(admin, "/os-migrations?changes-since=2030-01-01T12:00:00Z"
                 "&changes-before=2030-01-01T11:00:00Z", "2.66") == \
        (400, "The value of changes-since must be less than or equal to changes-before.")
    assert error(admin, "/os-migrations?changes-before=2030-01-01T11:00:00Z", "2.65") == \
        (400, "Additional properties are not allowed ('changes-before' was unexpected)")
    assert error(admin, "/os-migrations?changes-since=yesterday", "2.59") == \
        (400, "Invalid input for query parameters changes-since. Value: yesterday. "
              "'yesterday' is not a 'date-time'")
    # a valid spelling whose offset leaves the calendar is a bad date too, never a 500
    assert error(admin, "/os-migrations?changes-since=0001-01-01T00:00:00%2B01:00",
                 "2.59")[0] == 400


def test_user_and_project_filters_and_policies(cloud, admin, demo):
    mine = _row(cloud, user_id="demo", project_id="demo")
    theirs = _row(cloud, user_id="eve", project_id="other")

    def uuids(conn, query: str, version: str = "2.80") -> set[str]:
        return {m["uuid"] for m in ok(conn, f"/os-migrations?{query}", version)["migrations"]}

    assert uuids(admin, "user_id=eve") == {theirs.uuid}
    assert uuids(admin, "project_id=demo") == {mine.uuid}
    assert error(admin, "/os-migrations?user_id=eve", "2.79")[0] == 400

    assert error(demo, "/os-migrations", "2.80") == \
        (403, "Policy doesn't allow os_compute_api:os-migrations:index to be performed.")
    # an operator lets projects list migrations: only their own, and without hosts
    set_policy(cloud, {"os_compute_api:os-migrations:index": "@"})
    assert error(demo, "/os-migrations", "2.80") == \
        (403, "Policy doesn't allow os_compute_api:os-migrations:index:all_projects to be "
              "performed.")
    assert error(demo, "/os-migrations?project_id=other", "2.80")[0] == 403
    (own,) = ok(demo, "/os-migrations?project_id=demo", "2.80")["migrations"]
    assert own["uuid"] == mine.uuid and all(own[name] is None for name in HOST_FIELDS)
    set_policy(cloud, {"os_compute_api:os-migrations:index:host": "@"})
    (own,) = ok(demo, "/os-migrations?project_id=demo", "2.80")["migrations"]
    assert own["source_compute"] == "compute1" and own["dest_host"] == "127.0.1.2"
