"""Helpers for tests with real guests: the libvirt driver, QEMU under TCG, the project's guest
image (scripts/guest-image), and what the guest prints on its serial console.

The guest prints one line per boot:
`HERDER-GUEST boot=N data=written|verified|CORRUPT|MISSING ram_mb=M vcpus=V disk_mb=D`.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_SCRIPT = os.path.join(REPO, "scripts", "guest-image", "build.sh")
IMAGE_DIR = os.environ.get("HERDER_GUEST_IMAGE_DIR",
                           os.path.expanduser("~/.cache/herder/guest-image"))
CONNECTION_URI = "qemu:///system"
BOOT_TIMEOUT = 180.0     # seconds: TCG on two shared cores, with other guests booting
# a whole line only: a console read while the guest writes may end in the middle of one
_BOOT_LINE = re.compile(r"HERDER-GUEST boot=(\d+) data=(\w+) ram_mb=(\d+) vcpus=(\d+) "
                        r"disk_mb=(\d+)\r?\n")


@dataclass(frozen=True)
class Boot:
    count: int
    data: str
    ram_mb: int
    vcpus: int
    disk_mb: int


def boots(console: str) -> list[Boot]:
    return [Boot(int(m[1]), m[2], int(m[3]), int(m[4]), int(m[5]))
            for m in _BOOT_LINE.finditer(console)]


def require_hypervisor() -> None:
    """Skip without libvirt and QEMU, except in CI, where their absence is a failure."""
    problem = None
    try:
        import libvirt
        libvirt.open(CONNECTION_URI).close()
    except Exception as error:   # the module missing, or no daemon to talk to
        problem = f"no libvirt at {CONNECTION_URI}: {error}"
    if problem is None and shutil.which("qemu-system-x86_64") is None:
        problem = "qemu-system-x86_64 is not installed"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem} (scripts/libvirt/install.sh installs and starts it)")
        pytest.skip(problem)


def guest_image() -> str:
    """The guest image, built (or found built) by the project's script."""
    done = subprocess.run(["bash", BUILD_SCRIPT, IMAGE_DIR], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    path = os.path.join(IMAGE_DIR, "herder-guest.qcow2")
    assert os.path.exists(path)
    return path


def state_dir() -> str:
    """A state directory QEMU can reach: it runs as libvirt-qemu, and pytest's temporary
    directories are private to root."""
    path = tempfile.mkdtemp(prefix="herder-real-guests-", dir="/var/tmp")
    os.chmod(path, 0o755)
    return path


def remove_domains_under(directory: str) -> None:
    """Whatever domain a test left behind with its disks under `directory`."""
    import libvirt
    conn = libvirt.open(CONNECTION_URI)
    try:
        for dom in conn.listAllDomains():
            if directory not in dom.XMLDesc(0):
                continue
            if dom.isActive():
                dom.destroy()
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
    finally:
        conn.close()


def wait_for_boot(conn, server_id: str, count: int, timeout: float = BOOT_TIMEOUT) -> Boot:
    """The guest's boot number `count`, as its console shows it (os-getConsoleOutput)."""
    deadline = time.monotonic() + timeout
    console = ""
    while time.monotonic() < deadline:
        console = conn.compute.get_server_console_output(server_id)["output"]
        for boot in boots(console):
            if boot.count == count:
                return boot
        time.sleep(1)
    raise AssertionError(f"no boot {count} of {server_id} on its console after {timeout}s; "
                         f"it shows:\n{console[-3000:]}")
