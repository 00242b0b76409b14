"""The Content-Type of the answers clients see, as Nova sends them: JSON with its charset on
errors, plain JSON on other bodies and on 204 answers (over HTTP with requests, no SDK)."""
import requests

from tests.functional.observe import create_server

ERROR_TYPE = "application/json; charset=UTF-8"


def session(cloud, token: str) -> requests.Session:
    client = requests.Session()
    client.headers.update({"X-Auth-Token": token, "Accept": "application/json",
                           "OpenStack-API-Version": "compute 2.1"})
    return client


def test_errors_carry_json_with_its_charset(cloud):
    admin = session(cloud, cloud.conf.admin_token)
    api = f"{cloud.endpoint}/v2.1"
    answers = {
        "a handler's error": admin.get(f"{api}/servers/no-such-server"),
        "a route nobody serves": admin.get(f"{api}/no-such-collection"),
        "a method a route lacks": admin.patch(f"{api}/flavors"),
        "a body that is no JSON": admin.post(f"{api}/servers", data="{",
                                             headers={"Content-Type": "application/json"}),
        "a policy refusal": session(cloud, "demo:demo:member,reader").get(
            f"{api}/os-services"),
        "a microversion out of range": admin.get(
            f"{api}/servers", headers={"OpenStack-API-Version": "compute 2.999"}),
        "a header line over the api's limit": admin.get(
            f"{api}/servers", headers={"X-Long": "x" * 70000}),
    }
    for what, answer in answers.items():
        assert answer.status_code >= 400, (what, answer.status_code, answer.text)
        assert answer.headers["Content-Type"] == ERROR_TYPE, (what, answer.headers)
        (detail,) = answer.json().values()
        assert detail["code"] == answer.status_code, what


def test_bodies_are_plain_json_and_204_answers_say_json_too(cloud, admin):
    client = session(cloud, cloud.conf.admin_token)
    api = f"{cloud.endpoint}/v2.1"
    listed = client.get(f"{api}/servers")
    assert (listed.status_code, listed.headers["Content-Type"]) == (200, "application/json")

    group = client.post(f"{api}/os-server-groups", json={
        "server_group": {"name": "g", "policies": ["anti-affinity"]}}).json()["server_group"]
    server = create_server(admin)
    for path in (f"/os-server-groups/{group['id']}", f"/servers/{server.id}"):
        gone = client.delete(f"{api}{path}")
        assert gone.status_code == 204, (path, gone.text)
        assert gone.headers["Content-Type"] == "application/json", (path, gone.headers)
        assert gone.content == b""
