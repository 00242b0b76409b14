"""The clouds.yaml `herder serve` writes, so the unmodified `openstack` CLI works at once.

There is no Keystone in the embedded cloud: clients use keystoneauth's `admin_token` plugin with
a herder token, per-service endpoint overrides point compute and image at herder, and herder
answers the identity version document the clients ask for.
"""
import os

import yaml

from herder.dashboard import PREFIX as DASHBOARD

ADMIN_CLOUD = "herder"
DEMO_CLOUD = "herder-demo"
DEMO_TOKEN = "demo:demo:member,reader"


def _cloud(endpoint: str, token: str) -> dict:
    return {"auth_type": "admin_token",
            "auth": {"token": token, "endpoint": f"{endpoint}/v2.1"},
            "identity_api_version": 3,
            "region_name": "RegionOne",
            "compute_endpoint_override": f"{endpoint}/v2.1",
            "image_endpoint_override": f"{endpoint}/image",
            "identity_endpoint_override": f"{endpoint}/identity"}


def write(state_dir: str, endpoint: str, admin_token: str) -> str:
    path = os.path.join(state_dir, "clouds.yaml")
    document = {"clouds": {ADMIN_CLOUD: _cloud(endpoint, admin_token),
                           DEMO_CLOUD: _cloud(endpoint, DEMO_TOKEN)}}
    with open(path, "w") as f:
        yaml.safe_dump(document, f, sort_keys=False)
    return path


def keystone_instructions(endpoint: str, hosts: int) -> str:
    """In keystone mode herder's own tokens mean nothing: clients authenticate with Keystone
    and find herder in its service catalog, so no clouds.yaml is written."""
    return (f"herder is serving the Compute API at {endpoint}/v2.1 with {hosts} compute hosts, "
            "behind Keystone ([api] auth_strategy = keystone): use the clouds.yaml of your "
            f"Keystone.\nThe dashboard is at {endpoint}{DASHBOARD} (log in with a Keystone "
            "token: openstack token issue -f value -c id). Stop with Ctrl-C.")


def instructions(endpoint: str, clouds_file: str, hosts: int) -> str:
    return f"""herder is serving the Compute API at {endpoint}/v2.1 with {hosts} compute hosts.
The dashboard is at {endpoint}{DASHBOARD} (log in with the token of cloud '{ADMIN_CLOUD}' in
clouds.yaml, or '{DEMO_TOKEN}' as a member of project 'demo').

Use the openstack CLI with it:
  export OS_CLIENT_CONFIG_FILE={clouds_file}
  openstack --os-cloud {ADMIN_CLOUD} server create --flavor m1.tiny --image herder-guest vm1
  openstack --os-cloud {ADMIN_CLOUD} server migrate vm1
  openstack --os-cloud {ADMIN_CLOUD} server migration list
  openstack --os-cloud {ADMIN_CLOUD} server migrate confirm vm1
  openstack --os-cloud {ADMIN_CLOUD} server event list vm1
('{DEMO_CLOUD}' is a non-admin member of project 'demo'.) Stop with Ctrl-C."""
