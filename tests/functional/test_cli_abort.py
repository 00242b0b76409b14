"""`openstack server migration abort` on a cold migration, with the unmodified CLI against
`herder serve`: the copy (slowed down to about 8 s) is stopped, and the server is back on its
host, ACTIVE, its migration `cancelled`."""
import pytest

from tests.functional.observe import wait_until
from tests.functional.openstack_cli import (cli_json, create_server, delete_servers,
                                            openstack_cli, serve, server_with_status)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    # 64 KiB chunks at 1 Mbit/s: the guest's 1 MiB of data takes about 8 s to cross
    yield from serve(str(tmp_path_factory.mktemp("serve")), "--hosts", "3",
                     env={"OS_TRANSFER__BANDWIDTH_LIMIT_MBPS": "1",
                          "OS_TRANSFER__CHUNK_SIZE_KB": "64"})


def moves_of(served, server_id: str) -> list[dict]:
    return served["sdk"].compute.get(f"/servers/{server_id}/migrations",
                                     microversion="2.23").json()["migrations"]


def test_the_cli_aborts_a_cold_migration_in_its_copy(served):
    server = create_server(served, "aborted")
    host = served["sdk"].compute.get_server(server.id).compute_host
    openstack_cli(served, "server", "migrate", "aborted")
    copying = wait_until(lambda: next((m for m in moves_of(served, server.id)
                                       if m["status"] == "migrating"
                                       and m["disk_processed_bytes"]), None),
                         timeout=30, message="the copy under way")

    openstack_cli(served, "--os-compute-api-version", "2.24", "server", "migration", "abort",
                  "aborted", str(copying["id"]))

    back = server_with_status(served, server.id, "ACTIVE")
    assert back.compute_host == host
    listed = cli_json(served, "--os-compute-api-version", "2.59", "server", "migration", "list",
                      "--server", "aborted")
    assert [(m["Id"], m["Status"]) for m in listed] == [(copying["id"], "cancelled")]
    assert moves_of(served, server.id) == []
    delete_servers(served, "aborted")
