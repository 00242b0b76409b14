#!/usr/bin/env bash
# What the libvirt driver needs on a Debian machine, installed and started: QEMU, libvirt,
# libvirt-python in .venv (built against Debian's libvirt-dev), and the guest image
# (scripts/guest-image). Idempotent; run after ./scripts/install.sh. Needs root (apt-get).
set -euo pipefail
cd "$(dirname "$0")/../.."

./scripts/apt-install.sh qemu-system-x86 qemu-utils e2fsprogs libvirt-daemon-system libvirt-dev \
    pkg-config gcc
.venv/bin/pip install --quiet -e '.[libvirt]'

# Without udev, /dev/kvm stays root-only and libvirt probes QEMU again on every domain it
# defines (tens of seconds each). herder uses TCG ([libvirt] virt_type = qemu) either way.
if [ -e /dev/kvm ] && getent group kvm >/dev/null; then
  chown root:kvm /dev/kvm && chmod 0660 /dev/kvm
fi

# The daemons, where no init system runs them (containers, CI machines)
pgrep -x virtlogd >/dev/null || virtlogd -d
pgrep -x libvirtd >/dev/null || libvirtd -d
for _ in $(seq 60); do
  virsh -c qemu:///system version >/dev/null 2>&1 && break
  sleep 1
done
virsh -c qemu:///system version >/dev/null

./scripts/guest-image/build.sh "${HERDER_GUEST_IMAGE_DIR:-$HOME/.cache/herder/guest-image}"
