"""kill -9 of `herder serve` in the middle of a move: after a restart the move is rolled back
by itself, with nothing left behind and the guest's disk as it was."""
import os
import time

import requests

from tests.functional.observe import host_entries
from tests.functional.serve_process import ServeProcess, free_port

TOKEN = {"X-Auth-Token": "herder-admin-token", "OpenStack-API-Version": "compute 2.80"}


def _api(server: ServeProcess, method: str, path: str, **kwargs):
    return requests.request(method, f"{server.endpoint}/v2.1{path}", headers=TOKEN, timeout=10,
                            **kwargs)


def _server(server: ServeProcess, server_id: str) -> dict:
    return _api(server, "GET", f"/servers/{server_id}").json()["server"]


def _wait(server: ServeProcess, server_id: str, predicate, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = _server(server, server_id)
        if predicate(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"server never matched: {body}")
        time.sleep(0.05)


def _active_server(server: ServeProcess) -> tuple[str, str]:
    """A new server, once ACTIVE: its id and its host."""
    image = _api(server, "GET", "/images").json()["images"][0]["id"]
    created = _api(server, "POST", "/servers", json={"server": {
        "name": "vm", "flavorRef": "1", "imageRef": image, "networks": "none"}})
    server_id = created.json()["server"]["id"]
    active = _wait(server, server_id, lambda s: s["status"] == "ACTIVE")
    return server_id, active["OS-EXT-SRV-ATTR:host"]


def test_kill_during_source_power_off_rolls_the_move_back_after_restart(tmp_path):
    state_dir, port = str(tmp_path / "state"), free_port()
    first = ServeProcess(state_dir, port, "--power-off-seconds", "5")
    try:
        server_id, source = _active_server(first)
        disk = os.path.join(state_dir, "hosts", source, server_id, "disk")
        with open(disk, "r+b") as f:  # what the guest wrote: it must survive
            f.seek(4096)
            f.write(b"guest data that must survive")
        with open(disk, "rb") as f:
            content_before = f.read(1 << 20)

        assert _api(first, "POST", f"/servers/{server_id}/action",
                    json={"migrate": None}).status_code == 202
        _wait(first, server_id, lambda s: s["OS-EXT-STS:task_state"] == "resize_migrating")
    finally:
        first.kill()

    second = ServeProcess(state_dir, port)
    try:
        after = _wait(second, server_id, lambda s: s["status"] == "ACTIVE")
        assert after["OS-EXT-SRV-ATTR:host"] == source
        assert after["OS-EXT-STS:power_state"] == 1  # running again, as before the move
        [migration] = _api(second, "GET", f"/os-migrations?instance_uuid={server_id}").json()[
            "migrations"]
        assert migration["status"] == "error"
        with open(disk, "rb") as f:
            assert f.read(1 << 20) == content_before
        leftovers = {host: sorted(host_entries(os.path.join(state_dir, "hosts", host)))
                     for host in os.listdir(os.path.join(state_dir, "hosts"))}
        assert leftovers == {host: ([server_id] if host == source else [])
                             for host in leftovers}
        usage = {h["hypervisor_hostname"]: (h["vcpus_used"], h["memory_mb_used"])
                 for h in _api(second, "GET", "/os-hypervisors/detail").json()["hypervisors"]}
        reserved = usage[source][1] - 512  # memory_mb_used counts the host's reserved memory
        assert usage == {host: ((1, reserved + 512) if host == source else (0, reserved))
                         for host in usage}
        events = _api(second, "GET", f"/servers/{server_id}/os-instance-actions/"
                      f"{_migrate_request(second, server_id)}").json()["instanceAction"]["events"]
        assert {e["event"]: e["result"] for e in events}["compute_resize_instance"] == "Error"
    finally:
        second.stop()


def _migrate_request(server: ServeProcess, server_id: str) -> str:
    actions = _api(server, "GET", f"/servers/{server_id}/os-instance-actions").json()
    return next(a["request_id"] for a in actions["instanceActions"] if a["action"] == "migrate")


def test_a_move_aborted_just_before_a_kill_ends_cancelled_after_restart(tmp_path):
    state_dir, port = str(tmp_path / "state"), free_port()
    first = ServeProcess(state_dir, port, "--power-off-seconds", "5")
    try:
        server_id, source = _active_server(first)
        assert _api(first, "POST", f"/servers/{server_id}/action",
                    json={"migrate": None}).status_code == 202
        _wait(first, server_id, lambda s: s["OS-EXT-STS:task_state"] == "resize_migrating")
        [move] = _api(first, "GET", f"/servers/{server_id}/migrations").json()["migrations"]
        assert _api(first, "DELETE",
                    f"/servers/{server_id}/migrations/{move['id']}").status_code == 202
    finally:
        first.kill()   # before the move could roll back: the power-off takes 5 s

    second = ServeProcess(state_dir, port)
    try:
        after = _wait(second, server_id, lambda s: s["status"] == "ACTIVE"
                      and s["OS-EXT-STS:task_state"] is None)
        assert after["OS-EXT-SRV-ATTR:host"] == source
        assert after["OS-EXT-STS:power_state"] == 1
        assert "fault" not in after
        [migration] = _api(second, "GET", f"/os-migrations?instance_uuid={server_id}").json()[
            "migrations"]
        assert migration["status"] == "cancelled"
    finally:
        second.stop()
