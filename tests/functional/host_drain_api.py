"""Helpers of the host drain tests: herder's API over HTTP, and servers put on one host."""
import time

import requests

from tests.functional.observe import wait_for_status

ROUTE = "/herder/v1/host-drains"
FINISHED = ("completed", "cancelled")


def call(cloud, method: str, path: str = "", body=None, token: str | None = None):
    return requests.request(method, f"{cloud.endpoint}{ROUTE}{path}", json=body, timeout=30,
                            headers={"X-Auth-Token": token or cloud.conf.admin_token})


def start(cloud, host: str, **options) -> dict:
    answer = call(cloud, "POST", body={"host_drain": {"host": host, **options}})
    assert answer.status_code == 202, answer.text
    return answer.json()["host_drain"]


def show(cloud, job_id: str) -> dict:
    answer = call(cloud, "GET", f"/{job_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()["host_drain"]


def act(cloud, job_id: str, action: str) -> requests.Response:
    return call(cloud, "POST", f"/{job_id}/action", {action: None})


def wait_finished(cloud, job_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = show(cloud, job_id)
        if job["status"] in FINISHED:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} not finished: {job}")
        time.sleep(0.1)


def servers_on(admin, host: str, count: int, stopped: int = 0) -> list[str]:
    """`count` new m1.tiny servers, all on `host` (the other hosts' compute services are
    disabled while they are built), the first `stopped` of them stopped."""
    others = [s for s in admin.compute.services()
              if s.binary == "nova-compute" and s.host != host and s.status == "enabled"]
    for service in others:
        admin.compute.disable_service(service, host=service.host, binary=service.binary)
    image = admin.image.find_image("herder-guest")
    flavor = admin.compute.find_flavor("m1.tiny")
    try:
        made = [admin.compute.create_server(name=f"vm{i}", flavor_id=flavor.id,
                                            image_id=image.id, networks="auto")
                for i in range(count)]
        for server in made:
            wait_for_status(admin, server.id, "ACTIVE", timeout=60)
    finally:
        for service in others:
            admin.compute.enable_service(service, host=service.host, binary=service.binary)
    for server in made[:stopped]:
        admin.compute.stop_server(server)
    for server in made[:stopped]:
        wait_for_status(admin, server.id, "SHUTOFF")
    return [server.id for server in made]
