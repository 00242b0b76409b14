"""The plugin's entry point for python-openstackclient (group `openstack.cli.extension`), and
the small client its commands share: the client manager's keystoneauth session, pointed at the
compute endpoint, with the microversion of each call sent as a header."""
import logging
import re
import urllib.parse

from keystoneauth1 import adapter
from osc_lib import exceptions
from osc_lib import utils

LOG = logging.getLogger(__name__)

# what python-openstackclient reads of a plugin module; the commands are in the
# `openstack.herder.v1` entry point group
API_NAME = "herder"
API_VERSION_OPTION = "os_herder_api_version"
DEFAULT_API_VERSION = "1"
API_VERSIONS = ("1",)

# migration statuses of a move that can still be aborted (before VERIFY_RESIZE)
MOVING = ("pre-migrating", "queued", "migrating", "post-migrating")


def make_client(instance):
    endpoint = instance.get_endpoint_for_service_type(
        "compute", region_name=instance.region_name, interface=instance.interface)
    LOG.debug("herder client on the compute endpoint %s", endpoint)
    return Client(adapter.Adapter(session=instance.session, service_type="compute",
                                  interface=instance.interface,
                                  region_name=instance.region_name, endpoint_override=endpoint))


def build_option_parser(parser):
    parser.add_argument("--os-herder-api-version", metavar="<herder-api-version>",
                        default=utils.env("OS_HERDER_API_VERSION"),
                        help=f"herder API version, default={DEFAULT_API_VERSION} "
                             "(Env: OS_HERDER_API_VERSION)")
    return parser


class ApiError(exceptions.CommandError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Client:
    """The Compute API calls the commands make, and herder's own /herder/v1 beside it."""

    def __init__(self, api: adapter.Adapter):
        self.api = api

    def request(self, method: str, path: str, version: str | None = None, **kwargs) -> dict:
        headers = {}
        if version:
            headers = {"OpenStack-API-Version": f"compute {version}",
                       "X-OpenStack-Nova-API-Version": version}
        response = self.api.request(path, method, headers=headers, raise_exc=False, **kwargs)
        if response.status_code >= 400:
            raise ApiError(response.status_code, _fault(response))
        return response.json() if response.content else {}

    def herder_url(self, path: str) -> str:
        """herder's API sits at /herder on the compute endpoint's host, beside /v2.1."""
        endpoint = self.api.get_endpoint()
        root = re.sub(r"/v2(\.\d+)?(/[^/]*)?/?$", "", endpoint.rstrip("/"))
        return f"{root}/herder/v1/{path}"

    def find_server(self, name_or_id: str) -> dict:
        try:
            return self.server(name_or_id)
        except ApiError as e:
            if e.status != 404:
                raise
        query = urllib.parse.urlencode({"name": f"^{re.escape(name_or_id)}$"})
        found = [s for s in self.request("GET", f"/servers/detail?{query}")["servers"]
                 if s["name"] == name_or_id]
        if len(found) != 1:
            raise exceptions.CommandError(
                f"No server with a name or ID of '{name_or_id}' exists." if not found else
                f"More than one server has the name '{name_or_id}': use its ID.")
        return found[0]

    def find_flavor(self, name_or_id: str) -> dict:
        try:
            return self.request("GET", f"/flavors/{urllib.parse.quote(name_or_id)}")["flavor"]
        except ApiError as e:
            if e.status != 404:
                raise
        for flavor in self.request("GET", "/flavors/detail?is_public=None")["flavors"]:
            if flavor["name"] == name_or_id:
                return flavor
        raise exceptions.CommandError(f"No flavor with a name or ID of '{name_or_id}' exists.")

    def server(self, server_id: str) -> dict:
        return self.request("GET", f"/servers/{urllib.parse.quote(server_id)}",
                            "2.23")["server"]

    def moves_in_progress(self, server_id: str) -> list[dict]:
        return self.request("GET", f"/servers/{server_id}/migrations", "2.23")["migrations"]

    def migrations(self, server_id: str) -> list[dict]:
        """Every move of the server, over or not (os-migrations: no disk progress)."""
        return self.request("GET", f"/os-migrations?instance_uuid={server_id}",
                            "2.23")["migrations"]

    def action(self, server_id: str, body: dict, version: str = "2.1") -> None:
        self.request("POST", f"/servers/{server_id}/action", version, json=body)

    def abort(self, server_id: str, migration_id: int) -> None:
        self.request("DELETE", f"/servers/{server_id}/migrations/{migration_id}", "2.24")

    def move_plan(self, server_id: str, body: dict) -> dict:
        return self.request("POST", self.herder_url(f"servers/{server_id}/move-plans"),
                            json=body)["move_plan"]

    # host drains and restores (herder/osc/drain.py)
    def host_drains(self, host: str | None = None) -> list[dict]:
        query = f"?{urllib.parse.urlencode({'host': host})}" if host else ""
        return self.request("GET", self.herder_url(f"host-drains{query}"))["host_drains"]

    def host_drain(self, job_id: str) -> dict:
        return self.request("GET", self.herder_url(
            f"host-drains/{urllib.parse.quote(job_id)}"))["host_drain"]

    def start_drain(self, body: dict) -> dict:
        return self.request("POST", self.herder_url("host-drains"),
                            json={"host_drain": body})["host_drain"]

    def host_drain_action(self, job_id: str, action: str) -> dict:
        return self.request("POST", self.herder_url(
            f"host-drains/{urllib.parse.quote(job_id)}/action"),
            json={action: None})["host_drain"]

    def restore_drain(self, job_id: str, limits: dict | None) -> dict:
        return self.request("POST", self.herder_url(
            f"host-drains/{urllib.parse.quote(job_id)}/restore"),
            json={"restore": limits})["host_drain"]


def _fault(response) -> str:
    try:
        body = response.json()
        return next(iter(body.values()))["message"]
    except (ValueError, StopIteration, TypeError, KeyError, AttributeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"
