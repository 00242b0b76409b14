"""The guest image the libvirt driver boots and moves (scripts/guest-image), under plain QEMU.

Slow (about 20 s, plus about 10 s the first time for the build, whose result is cached in
$HERDER_GUEST_IMAGE_DIR, default ~/.cache/herder/guest-image): boots the image three times
under TCG from one copy-on-write disk, the way a cloud boots its instances from an image.
The guest prints one line per boot on its serial console,
`HERDER-GUEST boot=N data=written|verified|CORRUPT|MISSING ram_mb=M vcpus=V disk_mb=D`.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from tests.functional.real_guests import BUILD_SCRIPT, IMAGE_DIR, Boot, boots

pytestmark = pytest.mark.timeout(900)   # the first build downloads the kernel package

BOOT_TIMEOUT = 120.0        # seconds until the guest's line, under TCG on shared cores
POWER_OFF_TIMEOUT = 30.0    # seconds from the power button until QEMU exits
IMAGE_MB = 64


class Guest:
    """One QEMU process booting `disk` under TCG, its serial console in a file and its QMP
    socket at hand. Killed on exit from the `with` block if it is still running."""

    def __init__(self, disk, workdir, memory_mb: int, vcpus: int, reboot: bool = False):
        self.console = os.path.join(workdir, f"console-{memory_mb}-{vcpus}.log")
        self._sockdir = tempfile.mkdtemp(prefix="herder-qmp-")   # unix socket paths are short
        self._qmp_path = os.path.join(self._sockdir, "qmp.sock")
        command = ["qemu-system-x86_64", "-accel", "tcg", "-m", str(memory_mb),
                   "-smp", str(vcpus), "-nographic", "-monitor", "none", "-nic", "none",
                   "-serial", f"file:{self.console}",
                   "-drive", f"file={disk},format=qcow2,if=virtio",
                   "-qmp", f"unix:{self._qmp_path},server=on,wait=off"]
        if not reboot:
            command.append("-no-reboot")
        self._stderr = open(os.path.join(workdir, f"qemu-{memory_mb}-{vcpus}.err"), "w+")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                        stdout=self._stderr, stderr=self._stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._stderr.close()
        shutil.rmtree(self._sockdir, ignore_errors=True)

    def console_text(self) -> str:
        try:
            with open(self.console, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def boots(self) -> list[Boot]:
        return boots(self.console_text())

    def wait_for_boot(self, count: int, timeout: float = BOOT_TIMEOUT) -> Boot:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for boot in self.boots():
                if boot.count == count:
                    return boot
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self._stderr.seek(0)
        raise AssertionError(f"no boot {count} on the console after {timeout}s (QEMU "
                             f"{'exited' if self.process.poll() is not None else 'running'}); "
                             f"QEMU said {self._stderr.read()[-1000:]!r}; the console shows:\n"
                             f"{self.console_text()[-3000:]}")

    def qmp(self, command: str) -> None:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(self._qmp_path)
            stream = sock.makefile("rw")
            stream.readline()                                       # the greeting
            for execute in ("qmp_capabilities", command):
                stream.write(json.dumps({"execute": execute}) + "\n")
                stream.flush()
                while True:
                    reply = json.loads(stream.readline())
                    if "error" in reply:
                        raise AssertionError(f"QMP {execute}: {reply['error']}")
                    if "return" in reply:
                        break                                       # else an event: skip it

    def press_power_button(self) -> None:
        self.qmp("system_powerdown")

    def reset(self) -> None:
        self.qmp("system_reset")

    def wait_for_exit(self, timeout: float) -> bool:
        try:
            self.process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False


@pytest.fixture(scope="module")
def guest_image():
    if shutil.which("qemu-system-x86_64") is None or shutil.which("qemu-img") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("qemu-system-x86_64 and qemu-img are not installed")
        pytest.skip("qemu-system-x86_64 and qemu-img are not installed")
    done = subprocess.run(["bash", BUILD_SCRIPT, IMAGE_DIR], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    path = done.stdout.strip().splitlines()[-1]      # the script prints where the image is
    assert os.path.samefile(path, os.path.join(IMAGE_DIR, "herder-guest.qcow2"))
    return path


@pytest.fixture
def instance_disk(guest_image, tmp_path):
    """A copy-on-write disk on the image, as a cloud gives each instance."""
    disk = str(tmp_path / "disk.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", guest_image,
                    disk], check=True)
    return disk


def assert_ram_near(boot: Boot, memory_mb: int):
    # the guest sees what the kernel leaves of the RAM it was given
    assert memory_mb - 64 <= boot.ram_mb <= memory_mb, boot


def test_the_image_is_a_small_64_mib_qcow2_and_its_build_is_cached(guest_image):
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", guest_image],
                                     check=True, capture_output=True, text=True).stdout)
    assert info["format"] == "qcow2"
    assert info["virtual-size"] == IMAGE_MB * 1024 * 1024
    assert info["actual-size"] < 40 * 1024 * 1024
    built = os.stat(guest_image).st_mtime_ns
    done = subprocess.run(["bash", BUILD_SCRIPT, IMAGE_DIR], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == guest_image
    assert os.stat(guest_image).st_mtime_ns == built, "an up-to-date image was built again"


def test_the_guest_keeps_its_data_across_power_off_and_reboot_and_sees_its_new_flavor(
        instance_disk, tmp_path):
    with Guest(instance_disk, tmp_path, memory_mb=512, vcpus=2) as guest:
        first = guest.wait_for_boot(1)
        assert (first.data, first.vcpus, first.disk_mb) == ("written", 2, IMAGE_MB), first
        assert_ram_near(first, 512)

        # a graceful stop: the guest powers itself off on the ACPI power button
        guest.press_power_button()
        assert guest.wait_for_exit(POWER_OFF_TIMEOUT), \
            f"the guest ignored the power button:\n{guest.console_text()[-2000:]}"
        assert guest.boots() == [first]

    # started again with another flavor (a resize): its data is intact, it sees the new size
    with Guest(instance_disk, tmp_path, memory_mb=768, vcpus=1, reboot=True) as guest:
        second = guest.wait_for_boot(2)
        assert (second.data, second.vcpus, second.disk_mb) == ("verified", 1, IMAGE_MB), second
        assert_ram_near(second, 768)

        # a hard reboot: it just boots again
        guest.reset()
        third = guest.wait_for_boot(3)
        assert (third.data, third.vcpus) == ("verified", 1), third

        guest.press_power_button()
        assert guest.wait_for_exit(POWER_OFF_TIMEOUT), \
            f"the guest ignored the power button:\n{guest.console_text()[-2000:]}"
