"""Policies, cell by cell: each move action and each read API of moves, called by an admin, a
member of the server's project, a reader of it, and a member of another project.

An allowed call must be answered as the action or read it is (202 or 200); a caller the policy
refuses gets 403 with the rule named; another project's server does not exist for its caller
(404), whatever the rule says.
"""
import pytest

from tests.conftest import connect
from tests.functional.contract import action
from tests.functional.observe import create_server, wait_for_status

CALLERS = {"member": "mia:demo:member,reader", "reader": "rita:demo:reader",
           "other": "otto:other:member,reader"}

MOVES = {  # action -> (body, state it needs, expected status per caller)
    "migrate": ({"migrate": None}, "ACTIVE",
                {"admin": 202, "member": 403, "reader": 403, "other": 404}),
    "migrate, 2.56 body": ({"migrate": {"host": None}}, "ACTIVE",
                           {"admin": 202, "member": 403, "reader": 403, "other": 404}),
    "resize": ({"resize": {"flavorRef": "2"}}, "ACTIVE",
               {"admin": 202, "member": 202, "reader": 403, "other": 404}),
    "confirmResize": ({"confirmResize": None}, "VERIFY_RESIZE",
                      {"admin": 204, "member": 204, "reader": 403, "other": 404}),
    "revertResize": ({"revertResize": None}, "VERIFY_RESIZE",
                     {"admin": 202, "member": 202, "reader": 403, "other": 404}),
}

READS = {  # name -> (path template, expected status per caller)
    "server show": ("/servers/{server}", {"admin": 200, "member": 200, "reader": 200,
                                          "other": 404}),
    "os-migrations": ("/os-migrations", {"admin": 200, "member": 403, "reader": 403,
                                         "other": 403}),
    "server migrations list": ("/servers/{server}/migrations",
                               {"admin": 200, "member": 403, "reader": 403, "other": 404}),
    "server migration show": ("/servers/{server}/migrations/{migration}",
                              {"admin": 200, "member": 403, "reader": 403, "other": 404}),
    "instance actions list": ("/servers/{server}/os-instance-actions",
                              {"admin": 200, "member": 200, "reader": 200, "other": 404}),
    "instance action show": ("/servers/{server}/os-instance-actions/{request_id}",
                             {"admin": 200, "member": 200, "reader": 200, "other": 404}),
    "hypervisors": ("/os-hypervisors/detail", {"admin": 200, "member": 403, "reader": 403,
                                               "other": 403}),
    "services": ("/os-services", {"admin": 200, "member": 403, "reader": 403, "other": 403}),
}


@pytest.fixture
def conns(cloud, admin):
    return {"admin": admin, **{name: connect(cloud, token) for name, token in CALLERS.items()}}


def _in_state(conns, server, state: str) -> None:
    """Bring the demo project's server to ACTIVE or VERIFY_RESIZE (as the admin)."""
    admin = conns["admin"]
    current = admin.compute.get_server(server.id).status
    if current == state:
        return
    if state == "VERIFY_RESIZE":
        admin.compute.migrate_server(server)
    else:
        admin.compute.revert_server_resize(server)
    wait_for_status(admin, server.id, state)


@pytest.mark.parametrize("name", list(MOVES))
def test_each_caller_gets_what_the_policy_says_for_each_move_action(conns, name):
    body, needs, expected = MOVES[name]
    server = create_server(conns["member"])
    for caller, status in expected.items():
        _in_state(conns, server, needs)
        response = action(conns[caller], server.id, body, microversion="2.56")
        assert response.status_code == status, (caller, response.text)
        if status == 403:
            assert "Policy doesn't allow" in response.json()["forbidden"]["message"]
        if status in (202, 204):  # it ran: let it finish before the next caller
            wait_for_status(conns["admin"], server.id,
                            "VERIFY_RESIZE" if needs == "ACTIVE" else "ACTIVE")


def get(conn, path: str):
    return conn.compute.get(path, microversion="2.80")


def test_each_caller_gets_what_the_policy_says_for_each_read_api(conns):
    server = create_server(conns["member"])
    conns["admin"].compute.migrate_server(server)
    wait_for_status(conns["admin"], server.id, "VERIFY_RESIZE")
    migration = get(conns["admin"], f"/servers/{server.id}/migrations").json()["migrations"][0]
    newest_action = get(conns["admin"], f"/servers/{server.id}/os-instance-actions"
                        ).json()["instanceActions"][0]
    ids = {"server": server.id, "migration": migration["id"],
           "request_id": newest_action["request_id"]}
    for name, (template, expected) in READS.items():
        for caller, status in expected.items():
            response = get(conns[caller], template.format(**ids))
            assert response.status_code == status, (name, caller, response.text)
