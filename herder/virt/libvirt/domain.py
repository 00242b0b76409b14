"""The libvirt domain XML of a guest.

A guest boots from its first virtio disk through the BIOS, as any cloud image does; its serial
console goes through virtlogd into `console.log` in its instance directory (what the Compute
API's console log returns); vCPUs and memory come from the flavor. ACPI is on, or a clean
power-off (`virsh shutdown`) would do nothing.

Several simulated hosts may share one libvirt daemon, and a domain's name and UUID must be
unique in it: both are derived from the host and the server (the server's own uuid is in the
domain's metadata).
"""
import uuid as uuidlib
from dataclasses import dataclass
from xml.etree import ElementTree

METADATA_NS = "urn:herder:instance:1"
DISK_TARGETS = ("vda", "vdb", "vdc", "vdd")


@dataclass(frozen=True)
class GuestDisk:
    path: str
    format: str      # qcow2 or raw


def domain_name(host: str, instance_uuid: str) -> str:
    return f"herder-{host}-{instance_uuid}"


def domain_uuid(host: str, instance_uuid: str) -> str:
    """Stable for one server on one host, different on another host of the same daemon."""
    return str(uuidlib.uuid5(uuidlib.UUID(instance_uuid), host)) if _is_uuid(instance_uuid) \
        else str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"herder:{host}:{instance_uuid}"))


def _is_uuid(value: str) -> bool:
    try:
        uuidlib.UUID(value)
        return True
    except ValueError:
        return False


def domain_xml(host: str, instance: dict, flavor: dict, disks: list[GuestDisk],
               console_log: str, virt_type: str) -> str:
    domain = ElementTree.Element("domain", type=virt_type)
    _text(domain, "name", domain_name(host, instance["uuid"]))
    _text(domain, "uuid", domain_uuid(host, instance["uuid"]))
    _text(domain, "title", instance.get("display_name") or instance["uuid"])
    metadata = ElementTree.SubElement(ElementTree.SubElement(domain, "metadata"),
                                      f"{{{METADATA_NS}}}instance")
    _text(metadata, f"{{{METADATA_NS}}}uuid", instance["uuid"])
    _text(metadata, f"{{{METADATA_NS}}}host", host)
    _text(metadata, f"{{{METADATA_NS}}}flavor", flavor.get("name") or str(flavor.get("id")))
    _text(domain, "memory", str(flavor["memory_mb"]), unit="MiB")
    _text(domain, "vcpu", str(flavor["vcpus"]))
    os_ = ElementTree.SubElement(domain, "os")
    _text(os_, "type", "hvm", arch="x86_64")
    ElementTree.SubElement(os_, "boot", dev="hd")
    features = ElementTree.SubElement(domain, "features")
    ElementTree.SubElement(features, "acpi")
    ElementTree.SubElement(features, "apic")
    ElementTree.SubElement(domain, "clock", offset="utc")
    _text(domain, "on_poweroff", "destroy")
    _text(domain, "on_reboot", "restart")
    _text(domain, "on_crash", "destroy")
    devices = ElementTree.SubElement(domain, "devices")
    if len(disks) > len(DISK_TARGETS):
        raise ValueError(f"a guest has at most {len(DISK_TARGETS)} disks")
    for disk, target in zip(disks, DISK_TARGETS):
        element = ElementTree.SubElement(devices, "disk", type="file", device="disk")
        ElementTree.SubElement(element, "driver", name="qemu", type=disk.format)
        ElementTree.SubElement(element, "source", file=disk.path)
        ElementTree.SubElement(element, "target", dev=target, bus="virtio")
    serial = ElementTree.SubElement(devices, "serial", type="pty")
    ElementTree.SubElement(serial, "log", file=console_log, append="on")
    ElementTree.SubElement(serial, "target", port="0")
    console = ElementTree.SubElement(devices, "console", type="pty")
    ElementTree.SubElement(console, "target", type="serial", port="0")
    ElementTree.SubElement(devices, "memballoon", model="none")
    ElementTree.register_namespace("herder", METADATA_NS)
    return ElementTree.tostring(domain, encoding="unicode")


def _text(parent: ElementTree.Element, tag: str, text: str, **attributes) -> ElementTree.Element:
    element = ElementTree.SubElement(parent, tag, **attributes)
    element.text = text
    return element
