"""Flavor bodies by microversion (2.55 description, 2.61 extra_specs, 2.75 swap 0 for none,
2.102 neither rxtx_factor nor OS-FLV-DISABLED:disabled)."""
from herder.api.microversion import Version
from herder.api.views.common import links
from herder.db.models import Flavor


def summary(flavor: Flavor, base_url: str, version: Version) -> dict:
    body = {"id": flavor.flavorid, "name": flavor.name,
            "links": links(base_url, "flavors", flavor.flavorid)}
    if version.at_least("2.55"):
        body["description"] = flavor.description
    return body


def show(flavor: Flavor, base_url: str, version: Version, show_extra_specs: bool) -> dict:
    no_swap = 0 if version.at_least("2.75") else ""  # before 2.75 "no swap" is a string
    body = {**summary(flavor, base_url, version),
            "ram": flavor.memory_mb, "disk": flavor.root_gb, "vcpus": flavor.vcpus,
            "swap": flavor.swap or no_swap, "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb,
            "os-flavor-access:is_public": flavor.is_public}
    if not version.at_least("2.102"):
        # 2.102 drops two fields nothing acts on: a Xen-era network weight, and a switch no
        # API call has ever been able to set
        body["rxtx_factor"] = flavor.rxtx_factor
        body["OS-FLV-DISABLED:disabled"] = flavor.disabled
    if version.at_least("2.61") and show_extra_specs:
        body["extra_specs"] = dict(flavor.extra_specs or {})
    return body
