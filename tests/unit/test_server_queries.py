"""herder.db.server_queries against a plain Python reading of the same filters and order (what
GET /servers did before the database did it), on random servers and random requests, on
whichever database the tests run (HERDER_TEST_DB)."""
import random
import re
import uuid
from datetime import datetime, timedelta

import pytest

from herder import exception, states
from herder.db import server_queries
from herder.db.models import Instance
from herder.db.server_queries import ServerFilter

T0 = datetime(2030, 1, 1, 12, 0, 0)
NAMES = ["web-1", "web-2", "Web-3", "db", "db ", "dB", "zeta", "Äpfel", "é", "a\tb", "", "x" * 3]
STATE_PAIRS = [("active", None), ("active", "rebooting"), ("active", "resize_prep"),
               ("stopped", None), ("stopped", "resize_migrating"), ("resized", None),
               ("resized", "resize_reverting"), ("error", None), ("building", "scheduling"),
               ("deleted", None), ("paused", None), ("stopped", "rebooting_hard")]
SORTABLE = ["availability_zone", "config_drive", "created_at", "description", "display_name",
            "host", "image_ref", "key_name", "launch_index", "launched_at", "locked_by", "node",
            "power_state", "progress", "project_id", "task_state", "terminated_at",
            "updated_at", "user_id", "uuid", "vm_state", "disk_config"]


def _time(rng: random.Random, maybe_none: bool = False) -> datetime | None:
    if maybe_none and rng.random() < 0.3:
        return None
    # few distinct seconds, so that ties (and ties broken by microseconds) happen
    return T0 + timedelta(seconds=rng.randrange(4), microseconds=rng.choice((0, 5, 500000)))


def _servers(rng: random.Random, count: int) -> list[Instance]:
    servers = []
    for _ in range(count):
        vm_state, task_state = rng.choice(STATE_PAIRS)
        servers.append(Instance(
            uuid=str(uuid.UUID(int=rng.getrandbits(128))), display_name=rng.choice(NAMES),
            description=rng.choice([None, "d", "D"]), project_id=rng.choice(["p1", "p2"]),
            user_id=rng.choice(["alice", "bob"]), image_ref=rng.choice(["img-a", "img-b", ""]),
            flavor={"flavorid": rng.choice(["1", "2", "A"]), "name": "f"},
            vm_state=vm_state, task_state=task_state, power_state=rng.choice([0, 1, 4]),
            host=rng.choice([None, "compute1", "compute2", "Compute1"]),
            node=rng.choice([None, "n1"]), availability_zone=rng.choice([None, "nova", "az-2"]),
            launched_at=_time(rng, True), terminated_at=_time(rng, True),
            locked_by=rng.choice([None, "admin", "owner"]), progress=rng.choice([0, 7, 100]),
            key_name=rng.choice([None, "key", "Key-2"]),
            disk_config=rng.choice(["MANUAL", "AUTO"]), config_drive=rng.choice(["", "True"]),
            launch_index=rng.choice([0, 1]), deleted=rng.random() < 0.2,
            created_at=_time(rng), updated_at=_time(rng, True)))
    return servers


# -- the reference: filters and order read in Python ------------------------------------------

def _matches(server: Instance, wanted: ServerFilter) -> bool:
    if wanted.project_id is not None and server.project_id != wanted.project_id:
        return False
    if server.deleted and not wanted.include_deleted:
        return False
    if wanted.name_matches is not None and not wanted.name_matches(server.display_name):
        return False
    if wanted.status is not None and \
            states.server_status(server.vm_state, server.task_state) != wanted.status:
        return False
    for actual, value in ((server.host, wanted.host), (server.image_ref, wanted.image_ref),
                          (server.flavor["flavorid"], wanted.flavorid)):
        if value is not None and actual != value:
            return False
    changed = server.updated_at or server.created_at
    if wanted.changes_since is not None and changed < wanted.changes_since:
        return False
    if wanted.changes_before is not None and changed > wanted.changes_before:
        return False
    for name, value in wanted.states.items():
        actual = getattr(server, name)
        if name in server_queries.ONE_OF:
            ok = actual in value
        elif name in server_queries.INSTANT:
            ok = actual is not None and (actual == value if value.microsecond else
                                         value <= actual < value + timedelta(seconds=1))
        elif name in server_queries.CONTAINS:
            ok = actual is not None and value in str(actual)
        else:
            ok = actual is not None and str(actual) == value
        if not ok:
            return False
    return True


def _reference(servers, wanted, order, limit, marker) -> tuple[list[str], bool]:
    rows = [s for s in servers if _matches(s, wanted)]
    for attribute, descending in reversed(order):   # stable sorts, last key first
        rows.sort(key=lambda s: (getattr(s, attribute) is not None,
                                 getattr(s, attribute) if getattr(s, attribute) is not None
                                 else 0), reverse=descending)
    ids = [s.uuid for s in rows]
    if marker is not None:
        if marker not in ids:
            raise exception.MarkerNotFound(marker=marker)
        ids = ids[ids.index(marker) + 1:]
    return ids[:limit], len(ids) > limit


def _random_request(rng: random.Random, servers: list[Instance]):
    wanted = ServerFilter(project_id=rng.choice([None, "p1", "p2"]),
                          include_deleted=rng.random() < 0.4)
    if rng.random() < 0.3:
        pattern = rng.choice(["web", "^d", "b$", "B", "é", "-[12]", "^$", " "])
        wanted.name_matches = lambda name, p=re.compile(pattern): p.search(name) is not None
    if rng.random() < 0.3:
        wanted.status = rng.choice(["ACTIVE", "SHUTOFF", "RESIZE", "VERIFY_RESIZE", "REBOOT",
                                    "HARD_REBOOT", "REVERT_RESIZE", "ERROR", "BUILD", "DELETED",
                                    "PAUSED", "RESCUE"])
    for name, choices in (("host", ["compute1", "Compute1", "nowhere"]),
                          ("image_ref", ["img-a", ""]), ("flavorid", ["1", "A", "a"])):
        if rng.random() < 0.15:
            setattr(wanted, name, rng.choice(choices))
    if rng.random() < 0.2:
        wanted.changes_since = T0 + timedelta(seconds=rng.randrange(4))
    if rng.random() < 0.2:
        wanted.changes_before = T0 + timedelta(seconds=rng.randrange(4), microseconds=5)
    choices = {"vm_state": [["active"], ["stopped", "resized"]],
               "task_state": [["rebooting"], ["resize_prep", "scheduling"]],
               "availability_zone": ["nova", "az", "", "NOVA"], "key_name": ["key", "Key", "-"],
               "config_drive": ["True", "rue", ""],
               "created_at": [T0, T0 + timedelta(seconds=1, microseconds=500000)],
               "launched_at": [T0 + timedelta(seconds=2)], "terminated_at": [T0],
               "power_state": ["1", "01", "4", "x"], "progress": ["7", "100", "7.0"],
               "user_id": ["alice", "Alice"]}
    for name in rng.sample(sorted(choices), rng.choice([0, 0, 1, 2])):
        wanted.states[name] = rng.choice(choices[name])
    order = [(rng.choice(SORTABLE), rng.random() < 0.5) for _ in range(rng.choice([0, 1, 2, 3]))]
    default_descending = order[0][1] if order else True
    for tie_breaker in ("created_at", "id"):
        if tie_breaker not in {attribute for attribute, _ in order}:
            order.append((tie_breaker, default_descending))
    limit = rng.choice([0, 1, 2, 5, 1000])
    marker = None
    if rng.random() < 0.5:
        marker = rng.choice(servers).uuid if rng.random() < 0.9 else "not-a-server"
    return wanted, order, limit, marker


def _outcome(call):
    try:
        return call()
    except exception.MarkerNotFound:
        return "marker not found"


@pytest.mark.parametrize("seed", range(3))
def test_pages_are_what_python_reads_of_the_same_rows(db, seed):
    rng = random.Random(seed)
    servers = _servers(rng, 60)
    with db.transaction() as session:
        session.add_all(servers)
    for _ in range(150):
        wanted, order, limit, marker = _random_request(rng, servers)
        if marker is not None and rng.random() < 0.6:   # mostly one of the matches
            matching, _ = _reference(servers, wanted, order, len(servers), None)
            marker = rng.choice(matching) if matching else marker
        expected = _outcome(lambda: _reference(servers, wanted, order, limit, marker))
        found = _outcome(lambda: server_queries.page(db, wanted, order, limit, marker))
        if found != "marker not found":
            found = ([s.uuid for s in found.servers], found.more)
        assert found == expected, (wanted, order, limit, marker)


def test_paging_through_with_markers_lists_every_match_once(db):
    rng = random.Random(7)
    servers = _servers(rng, 40)
    with db.transaction() as session:
        session.add_all(servers)
    order = [("host", False), ("launched_at", True), ("display_name", False),
             ("created_at", False), ("id", False)]
    wanted = ServerFilter(include_deleted=True)
    expected, _ = _reference(servers, wanted, order, 1000, None)
    seen, marker = [], None
    while True:
        page = server_queries.page(db, wanted, order, 3, marker)
        seen += [s.uuid for s in page.servers]
        if not page.more:
            break
        marker = page.servers[-1].uuid
    assert seen == expected and len(seen) == 40
