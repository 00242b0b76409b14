"""The separate `herder api` process holds up against slow clients and oversized bodies, as
`herder serve` does (tests/functional/test_api_hostile_clients.py has the whole list)."""
import json

from tests.functional.hostile import answered_within, exchange, slow_clients, status_of


def test_slow_clients_and_a_huge_body_leave_the_api_process_serving(deployment):
    with slow_clients(deployment.endpoint, 200):
        took = answered_within(deployment.endpoint, seconds=5)
        response = exchange(deployment.endpoint, b"POST /v2.1/servers HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Type: application/json\r\nContent-Length: 104857600\r\n"
                            b"\r\n" + b"{}" * 1000)
    assert max(took) < 5
    assert status_of(response) == 413
    assert json.loads(response.split(b"\r\n\r\n", 1)[1])["overLimit"]["code"] == 413
