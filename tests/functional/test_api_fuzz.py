"""No client input makes a 5xx or hangs, fuzzed from herder's own OpenAPI document.

schemathesis loads GET /openapi.json from a running cloud that has servers in ACTIVE, SHUTOFF
and VERIFY_RESIZE, and generates requests for every operation, valid and invalid ones, as a
project member and as the admin. Ids are mostly drawn from what exists (fuzz dictionaries), so
the requests get past the 404s into the handlers' real checks, and the moves, stops and deletes
they start really run. Afterwards the cloud must settle: no server stuck in a task, none in
ERROR unless os-resetState put it there, allocations and files exactly what the servers need.

schemathesis's pytest loader (`schemathesis.pytest.from_fixture`) does not run on pytest 9.2
yet (it sets `Item._nodeid`, which 9.2 removed), so each operation is driven as the Hypothesis
strategy schemathesis makes of it (its "strategies in custom workflows" usage): that also lets
one test collect every failure of a run instead of stopping at the first.
"""
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (content_type_conformance, not_a_server_error,
                                 response_headers_conformance, response_schema_conformance,
                                 status_code_conformance)
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup

from herder import states
from herder.db import actions, instances
from tests.conftest import connect, make_cloud
from tests.functional.contract import raw
from tests.functional.observe import assert_consistent, create_server, wait_for_status, wait_until

MEMBER = "demo:demo:member,reader"
# The budget, per operation and caller (about 20 s per caller on 2 cores). The action endpoint
# is nine operations in one (its body is one of the actions), so it gets more.
EXAMPLES_PER_OPERATION = 30
EXAMPLES = {"POST /v2.1/servers/{server_id}/action": 150}
REQUEST_TIMEOUT = 10  # seconds: a request slower than this counts as a hang
# Nova accepts what its schemas do not describe in places (a pre-2.56 migrate body, headers for
# other services), so the checks that want every invalid request refused are not run here.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@pytest.fixture
def fuzzed_cloud(tmp_path):
    """A cloud with servers ACTIVE (the admin's and a member's), SHUTOFF and VERIFY_RESIZE."""
    cloud = make_cloud(tmp_path)
    try:
        admin, member = connect(cloud, cloud.conf.admin_token), connect(cloud, MEMBER)
        create_server(admin, "admin-vm")
        create_server(member, "member-vm")
        create_server(member, "member-stopped", stopped=True)
        resized = create_server(member, "member-resized")
        member.compute.resize_server(resized, "2")
        wait_for_status(member, resized.id, "VERIFY_RESIZE")
        yield cloud, _existing(cloud, admin)
    finally:
        cloud.stop()


def _existing(cloud, admin) -> dict[str, list]:
    """Values that name something that exists, by the parameter they go in."""
    servers = [s.id for s in admin.compute.servers(all_projects=True)]
    nodes = admin.compute.get("/os-hypervisors").json()["hypervisors"]
    node_uuids = admin.compute.get("/os-hypervisors", microversion="2.53").json()["hypervisors"]
    services = admin.compute.get("/os-services", microversion="2.53").json()["services"]
    flavors = [f.id for f in admin.compute.flavors()]
    images = [i.id for i in admin.image.images()]
    hosts = list(cloud.computes)
    return {
        "path.server_id": servers,
        "path.flavor_id": flavors,
        "path.image_id": images,
        "path.hypervisor_id": [str(n["id"]) for n in nodes + node_uuids] +
                              [n["hypervisor_hostname"] for n in nodes],
        "path.service_id": [s["id"] for s in services] +
                           ["enable", "disable", "disable-log-reason", "force-down"],
        "path.migration_id": [str(m["id"]) for m in
                              admin.compute.get("/os-migrations").json()["migrations"]],
        "path.request_id": [a.request_id for s in servers for a in admin.compute.server_actions(s)],
        "body.server.imageRef": images,
        "body.server.flavorRef": flavors,
        "body.resize.flavorRef": flavors,
        "body.migrate.host": hosts,
        "body.host": hosts,
        "query.host": hosts,
    }


def _schema(cloud, existing: dict[str, list]):
    """The running cloud's document; the token is sent by the test, not generated."""
    names = {parameter: f"d{index}" for index, parameter in enumerate(existing)}
    config = SchemathesisConfig.from_dict({
        "generation": {"with-security-parameters": False},
        "dictionaries": {names[p]: {"values": values} for p, values in existing.items()},
        "parameters": {p: {"dictionary": names[p], "probability": 0.8} for p in existing},
    })
    assert cloud.endpoint.startswith("http://127.0.0.1:")  # loopback only
    return schemathesis.openapi.from_url(f"{cloud.endpoint}/openapi.json", config=config)


def _fuzz(operation, token: str, failures: list[str]) -> int:
    """Send the operation's valid and invalid cases (the same ones on every run); returns how
    many were sent."""
    sent = 0

    @settings(max_examples=EXAMPLES.get(operation.label, EXAMPLES_PER_OPERATION),
              derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                     operation.as_strategy(GenerationMode.NEGATIVE)))
    def send(case) -> None:
        nonlocal sent
        sent += 1
        try:
            case.call_and_validate(headers={"X-Auth-Token": token}, timeout=REQUEST_TIMEOUT,
                                   checks=CHECKS)
        except (Exception, FailureGroup) as error:  # a timeout is a hang: a failure too
            failures.append(f"{operation.label}: {error}")
    send()
    return sent


@pytest.mark.parametrize("caller", ["member", "admin"])
def test_fuzzed_requests_get_no_5xx_and_the_cloud_settles(fuzzed_cloud, caller):
    cloud, existing = fuzzed_cloud
    token = cloud.conf.admin_token if caller == "admin" else MEMBER
    failures: list[str] = []
    started, sent = time.monotonic(), 0
    operations = [result.ok() for result in _schema(cloud, existing).get_all_operations()]
    # deletes last, so that the servers and flavors are still there for everything else
    for operation in sorted(operations, key=lambda op: op.method.upper() == "DELETE"):
        sent += _fuzz(operation, token, failures)
    print(f"{caller}: {sent} requests in {time.monotonic() - started:.1f} s")
    assert not failures, f"{len(failures)} of {sent} requests failed:\n\n" + \
        "\n\n".join(failures[:20])

    def servers():
        return instances.list_all(cloud.db, None)
    wait_until(lambda: all(i.task_state is None for i in servers()), timeout=20,
               message="every server out of its task")
    broken = [i.uuid for i in servers()
              if i.vm_state == states.ERROR and not _reset_to_error(cloud, i.uuid)]
    assert broken == []
    assert_consistent(cloud)


def _reset_to_error(cloud, server_id: str) -> bool:
    """Whether os-resetState is what put the server in ERROR (the fuzzer sends it): it is the
    newest action but for lock and unlock, which change no state."""
    for action in actions.list_for(cloud.db, server_id):  # newest first
        if action.action not in ("lock", "unlock"):
            return action.action == "resetState"
    return False


# What the fuzzer found, and what it cannot send (it writes valid UTF-8, numbers of a few
# digits, shallow JSON): each is answered with the status given, never a 500.
# nested deeper than the JSON parser goes, within the 112 KiB a body may hold
_DEEP = '{"migrate": ' + "[" * 50_000 + "]" * 50_000 + "}"
_HUGE = '{"migrate": ' * 100_000 + "null" + "}" * 100_000   # 1.4 MB: over the size limit
EDGES = [
    ("POST", "/flavors", '{"flavor": {"name": "f", "ram": 1, "vcpus": 1, "disk": 0, '
                         '"rxtx_factor": "fast"}}', None, 400),
    ("POST", "/flavors", '{"flavor": {"name": "f", "ram": "99999999999999999999", "vcpus": 1, '
                         '"disk": 0}}', None, 400),
    ("POST", "/flavors", '{"flavor": {"name": "f", "ram": "' + "9" * 5000 + '", "vcpus": 1, '
                         '"disk": 0}}', None, 400),
    ("POST", "/servers", '{"server": {"name": "s", "flavorRef": "1", "min_count": "' +
                         "1" * 5000 + '"}}', None, 400),
    ("PUT", "/servers/{server}", '{"server": {"name": "\\ud800"}}', None, 400),
    ("PUT", "/servers/{server}", '{"server": {"name": "a\\u0000b"}}', None, 400),
    ("POST", "/servers/{server}/action", _DEEP, None, 400),
    ("POST", "/servers/{server}/action", _HUGE, None, 413),
    ("GET", "/servers", None, "2." + "1" * 5000, 400),
    ("GET", "/servers/%00", None, None, 400),
    ("GET", "/servers?name=%00", None, None, 400),
    ("GET", "/servers?limit=" + "9" * 5000, None, None, 200),
    ("GET", "/flavors?minRam=99999999999", None, None, 200),
    ("GET", "/servers/{server}/migrations/99999999999", None, "2.80", 404),
    ("GET", "/os-hypervisors/99999999999", None, None, 404),
]


def test_edge_inputs_get_a_client_error_not_a_server_error(cloud, admin):
    server = create_server(admin)
    wrong = []
    for method, path, body, version, status in EDGES:
        path = "/v2.1" + path.format(server=server.id)
        resp = raw(cloud, method, path, cloud.conf.admin_token, version, body)
        if resp.status_code != status:
            wrong.append(f"{method} {path[:80]}: {resp.status_code} {resp.text[:200]}")
    assert wrong == []
