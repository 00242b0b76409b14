"""Hostile clients against a real `herder serve` with its default settings: slow senders,
oversized heads and bodies, ambiguous framing, and regular expressions built to backtrack
(docs/security.md lists each with its expected answer)."""
import json
import os
import subprocess
import threading
import time

import pytest
import requests

from herder.api.http_server import GatedServer
from herder.api.wsgi import init_application
from herder.conf import AuthStrategyUnset, build_conf
from tests.functional.hostile import (ATTACKER, answered_within, exchange, slow_clients,
                                      status_of)
from tests.functional.serve_process import BIN_DIR, ServeProcess, free_port

ADMIN = {"X-Auth-Token": "herder-admin-token", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    server = ServeProcess(str(tmp_path_factory.mktemp("hostile")), free_port())
    try:
        yield server
    finally:
        server.stop()


def error_of(response: bytes) -> dict:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


def test_two_hundred_slow_clients_do_not_keep_others_waiting(serve):
    """Before the gate, sixteen such clients held all sixteen workers: every other request
    waited until they left (docs/security.md)."""
    with slow_clients(serve.endpoint, 200):
        took = answered_within(serve.endpoint, seconds=5)
    assert max(took) < 5


def test_a_client_cannot_hold_more_than_its_share_of_connections(tmp_path):
    """In-process, with a small share: the connection over it is closed on arrival, and a
    client at another address is still served."""
    conf = build_conf(state_dir=str(tmp_path), api__max_connections_per_client=3)
    with _server(conf) as endpoint:
        with slow_clients(endpoint, 3):
            assert exchange(endpoint, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                            source=ATTACKER, timeout=5) == b""
            assert status_of(exchange(endpoint, b"GET / HTTP/1.1\r\nHost: x\r\n"
                                                b"Connection: close\r\n\r\n")) == 200


def test_a_request_head_that_does_not_arrive_in_time_is_dropped(tmp_path):
    conf = build_conf(state_dir=str(tmp_path), api__client_timeout=1)
    with _server(conf) as endpoint:
        started = time.monotonic()
        assert exchange(endpoint, b"GET / HTTP/1.1\r\nHost: x\r\n", timeout=10) == b""
        assert time.monotonic() - started < 5


@pytest.mark.parametrize("head,status,message", [
    (b"POST /v2.1/servers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"Content-Length: 5\r\n", 400, "Transfer-Encoding and Content-Length given together"),
    (b"POST /v2.1/servers HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n",
     400, "Conflicting Content-Length values"),
    (b"POST /v2.1/servers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n", 400,
     "Malformed header field"),
    (b"POST /v2.1/servers HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n",
     400, "Invalid Content-Length"),
    (b"POST /v2.1/servers HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n", 400,
     "Invalid Content-Length"),
    (b"POST /v2.1/servers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n", 501,
     "Transfer-Encoding other than chunked"),
    (b"GET /v2.1 HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20000 + b"\r\n", 431,
     "longer than 16384 bytes"),
    (b"GET /v2.1 HTTP/1.1\r\nHost: x\r\n" +
     b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 8000) for i in range(9)), 431,
     "request head is longer than 65536 bytes"),
])
def test_ambiguous_or_oversized_heads_are_refused_and_the_connection_closed(serve, head, status,
                                                                            message):
    # what follows would be a second, hidden request if the first were framed another way
    smuggled = b"0\r\n\r\nGET /v2.1/servers HTTP/1.1\r\nHost: x\r\n\r\n"
    response = exchange(serve.endpoint, head + b"\r\n" + smuggled)
    assert status_of(response) == status
    assert message in json.dumps(error_of(response))
    assert response.count(b"HTTP/1.1 ") == 1    # answered once, and closed
    assert not response.endswith(b"<still open>")


def test_a_body_larger_than_allowed_is_refused_before_it_is_read(serve):
    head = (b"POST /v2.1/servers HTTP/1.1\r\nHost: x\r\nX-Auth-Token: herder-admin-token\r\n"
            b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n")
    response = exchange(serve.endpoint, head + b"{" * 1000)   # the rest never comes
    assert status_of(response) == 413
    assert error_of(response) == {"overLimit": {
        "code": 413, "message": "Request is too large: the body may hold 114688 bytes."}}


def test_a_chunked_body_is_read_and_held_to_the_same_limit(serve):
    image = requests.get(f"{serve.endpoint}/v2.1/images", headers=ADMIN).json()["images"][0]
    body = json.dumps({"server": {"name": "chunked", "flavorRef": "1", "imageRef": image["id"],
                                  "networks": "none"}}).encode()
    # a generator has no length: requests sends it with Transfer-Encoding: chunked
    created = requests.post(f"{serve.endpoint}/v2.1/servers", headers=ADMIN,
                            data=iter([body[:20], body[20:]]))
    assert created.request.headers["Transfer-Encoding"] == "chunked"
    assert created.status_code == 202, created.text
    too_big = requests.post(f"{serve.endpoint}/v2.1/servers", headers=ADMIN,
                            data=iter([b" " * 100_000, b" " * 100_000]))
    assert too_big.status_code == 413


def test_a_backtracking_name_pattern_is_answered_at_once(serve):
    """With Python's re, `(a+)+$` against sixty a's and a `!` never ends, and holds every other
    request of the process meanwhile."""
    created = requests.post(f"{serve.endpoint}/v2.1/servers", headers=ADMIN, json={"server": {
        "name": "a" * 60 + "!", "flavorRef": "1", "networks": "none",
        "imageRef": requests.get(f"{serve.endpoint}/v2.1/images",
                                 headers=ADMIN).json()["images"][0]["id"]}})
    assert created.status_code == 202
    listed = requests.get(f"{serve.endpoint}/v2.1/servers", params={"name": "(a+)+$"},
                          headers=ADMIN, timeout=10)
    assert listed.status_code == 200 and listed.json()["servers"] == []
    found = requests.get(f"{serve.endpoint}/v2.1/servers", params={"name": "^a+!$"},
                         headers=ADMIN, timeout=10)
    assert [s["id"] for s in found.json()["servers"]] == [created.json()["server"]["id"]]


def test_a_pattern_that_needs_backtracking_features_is_refused(serve):
    listed = requests.get(f"{serve.endpoint}/v2.1/servers", params={"name": r"(a)\1"},
                          headers=ADMIN)
    assert listed.status_code == 400
    assert listed.json() == {"badRequest": {
        "code": 400, "message": r"Invalid regular expression for name: (a)\1"}}


def test_the_first_of_two_microversion_headers_counts(serve):
    """As Nova: `compute 2.1` then `compute 2.90` asks for 2.1."""
    response = exchange(serve.endpoint, b"GET /v2.1/servers HTTP/1.1\r\nHost: x\r\n"
                        b"Connection: close\r\nX-Auth-Token: herder-admin-token\r\n"
                        b"OpenStack-API-Version: compute 2.1\r\n"
                        b"OpenStack-API-Version: compute 2.90\r\n\r\n")
    assert status_of(response) == 200
    head = response.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")[1:]
    headers = {name.lower(): value.strip() for name, _, value in
               (line.partition(":") for line in head)}
    assert headers["openstack-api-version"] == "compute 2.1"



def _create(serve, **server):
    image = requests.get(f"{serve.endpoint}/v2.1/images", headers=ADMIN).json()["images"][0]
    return requests.post(f"{serve.endpoint}/v2.1/servers", headers=ADMIN, json={"server": {
        "name": "limits", "flavorRef": "1", "imageRef": image["id"], "networks": "none",
        **server}})


def test_more_metadata_items_than_the_quota_allows_are_refused(serve):
    """`/limits` says maxServerMeta 128: 5,000 items used to be stored anyway."""
    refused = _create(serve, metadata={f"key{i}": "v" for i in range(129)})
    assert refused.status_code == 403
    assert refused.json() == {"forbidden": {
        "code": 403, "message": "Maximum number of metadata items exceeds 128"}}
    assert _create(serve, metadata={f"key{i}": "v" for i in range(128)}).status_code == 202


@pytest.mark.parametrize("user_data,reason", [
    ("not base64!", "is not a 'base64'"),
    ("V\u00af\u00b5", "is not a 'base64'"),       # not even ASCII (found by the fuzzer)
    ("QUJD" * 16384 + "QQ==", "is too long"),     # 65540 characters of valid base64
])
def test_user_data_must_be_base64_and_at_most_65535_characters(serve, user_data, reason):
    refused = _create(serve, user_data=user_data)
    assert refused.status_code == 400
    assert reason in refused.json()["badRequest"]["message"]



def test_an_api_without_authentication_says_so_at_start(serve):
    assert "AUTHENTICATION IS OFF" in serve.banner


def test_a_separate_api_process_will_not_start_until_authentication_is_chosen(tmp_path):
    config = tmp_path / "herder.conf"
    config.write_text(f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n")
    started = subprocess.run([os.path.join(BIN_DIR, "herder"), "--config-file", str(config),
                              "api", "--port", str(free_port())],
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 1
    assert "needs [api] auth_strategy" in started.stderr
    with pytest.raises(AuthStrategyUnset):
        init_application([str(config)])


class _server:
    """herder's HTTP server in this process, serving a trivial app (`with _server(conf)`)."""

    def __init__(self, conf):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        self._http = GatedServer(conf, ("127.0.0.1", 0), app)

    def __enter__(self) -> str:
        self._http.prepare()
        self._thread = threading.Thread(target=self._http.serve, daemon=True)
        self._thread.start()
        return f"http://127.0.0.1:{self._http.bind_addr[1]}"

    def __exit__(self, *_exc) -> None:
        self._http.stop()
        self._thread.join(5)
