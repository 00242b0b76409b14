#!/usr/bin/env bash
# Build the herder test guest: a 64 MiB BIOS-bootable qcow2 disk (MBR + SYSLINUX, a Debian cloud
# kernel and a busybox initramfs whose /init is the file `init` beside this script).
#
#   scripts/guest-image/build.sh OUTPUT_DIR     -> OUTPUT_DIR/herder-guest.qcow2
#
# Everything comes from Debian packages (apt-get download + dpkg -x); the tools it needs are
# apt-get installed when missing. No loop device and no mount: the partitions are built as
# files (mkfs.vfat + mcopy, mkfs.ext4) and put in place with dd, SYSLINUX is installed
# through mtools (syslinux --offset). The result is cached: when OUTPUT_DIR holds an image
# built by the same build.sh and init (their digest is in herder-guest.stamp), nothing is done.
# See README.md beside this file.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTPUT_DIR" >&2
    exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
out_dir=$(cd "$1" && pwd)
image="$out_dir/herder-guest.qcow2"
stamp="$out_dir/herder-guest.stamp"

# -- the layout of the disk (sectors of 512 bytes) ---------------------------------------------
DISK_MIB=64
BOOT_START=2048                     # partition 1, FAT16, bootable: SYSLINUX, kernel, initramfs
BOOT_SECTORS=$((24 * 2048))
DATA_START=$((BOOT_START + BOOT_SECTORS))   # partition 2, ext4 "herder-data": the guest's data
DATA_SECTORS=$((DISK_MIB * 2048 - DATA_START))
KERNEL_CMDLINE="console=ttyS0,115200n8 loglevel=3 edd=off"
# modules /init needs, in the order it loads them: the ACPI power button as an input device
# first (QEMU drops a press until the button driver has enabled the ACPI event), then the
# virtio disk and ext4 for the data area. Those built into the kernel are skipped, the others
# are loaded after their dependencies.
WANTED_MODULES="button evdev virtio_pci virtio_blk ext4"

version=$(cat "$here/build.sh" "$here/init" | sha256sum | cut -d' ' -f1)

exec 9>"$out_dir/.herder-guest.lock"
flock 9
if [[ -f "$image" && -f "$stamp" && "$(head -n1 "$stamp")" == "$version" ]]; then
    echo "$image"
    exit 0
fi

# -- build tools --------------------------------------------------------------------------------
apt_updated=0
apt_update() {
    if [[ $apt_updated -eq 0 ]]; then
        apt-get update -qq >/dev/null
        apt_updated=1
    fi
}
declare -A tool_package=(
    [apt-get]=apt [dpkg-deb]=dpkg [cpio]=cpio [gzip]=gzip [sfdisk]=fdisk
    [mkfs.vfat]=dosfstools [mcopy]=mtools [syslinux]=syslinux [mkfs.ext4]=e2fsprogs
    [qemu-img]=qemu-utils [flock]=util-linux
)
missing=()
for tool in "${!tool_package[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${tool_package[$tool]}")
done
[[ -f /usr/lib/syslinux/mbr/mbr.bin ]] || missing+=(syslinux-common)
if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "$0: missing packages, install them as root: ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
        apt_update
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

work=$(mktemp -d "$out_dir/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# -- the packages -------------------------------------------------------------------------------
# the kernel: the one the metapackage linux-image-cloud-amd64 currently depends on
apt_opts=(-qq)
if [[ $(id -u) -eq 0 ]]; then
    apt_opts+=(-o APT::Sandbox::User=root)
fi
mkdir "$work/debs"
download() {
    kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null \
        | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
    [[ -n $kpkg ]] && (cd "$work/debs" && apt-get download "${apt_opts[@]}" "$kpkg" busybox-static)
}
if ! download >/dev/null 2>&1; then   # no apt lists yet, or stale ones
    rm -f "$work"/debs/*
    apt_update
    download >/dev/null || {
        echo "$0: cannot download ${kpkg:-the kernel of linux-image-cloud-amd64} and busybox-static" >&2
        exit 1
    }
fi
for deb in "$work"/debs/*.deb; do
    dpkg -x "$deb" "$work/pkgroot"
done
kver=$(basename "$(ls -d "$work"/pkgroot/lib/modules/*/ | head -n1)")
moddir="$work/pkgroot/lib/modules/$kver"
vmlinuz="$work/pkgroot/boot/vmlinuz-$kver"
[[ -f $vmlinuz ]] || { echo "$0: no kernel in $kpkg" >&2; exit 1; }

# -- the initramfs ------------------------------------------------------------------------------
root="$work/initramfs"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,data,lib/modules}
cp "$work/pkgroot/bin/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 "$here/init" "$root/init"
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true   # /init also opens it itself

declare -A module_path=() builtin=() visited=()
while IFS= read -r path; do
    name=$(basename "$path"); name=${name%%.ko*}; name=${name//-/_}
    builtin[$name]=1
done <"$moddir/modules.builtin"
while IFS= read -r path; do
    name=$(basename "$path"); name=${name%%.ko*}; name=${name//-/_}
    module_path[$name]=$path
done < <(cd "$moddir" && find kernel -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst')

load_order=()
add_module() {  # name: its dependencies first, then itself
    local name=${1//-/_} path file dep
    [[ -z ${visited[$name]:-} ]] || return 0
    visited[$name]=1
    [[ -z ${builtin[$name]:-} ]] || return 0
    path=${module_path[$name]:-}
    [[ -n $path ]] || { echo "$0: module $name is neither built into $kver nor shipped" >&2; exit 1; }
    file="$root/lib/modules/$name.ko"
    case "$path" in
        *.ko.xz) xz -dc "$moddir/$path" >"$file" ;;
        *.ko.zst) zstd -qdc "$moddir/$path" >"$file" ;;
        *) cp "$moddir/$path" "$file" ;;
    esac
    for dep in $(tr '\0' '\n' <"$file" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '); do
        add_module "$dep"
    done
    load_order+=("$name.ko")
}
for module in $WANTED_MODULES; do
    add_module "$module"
done
printf '%s\n' "${load_order[@]}" >"$root/lib/modules/load-order"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9 -n >"$work/initrd.img"

# -- partition 1: FAT with SYSLINUX, the kernel and the initramfs ---------------------------------
cat >"$work/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT herder
PROMPT 0
TIMEOUT 0
LABEL herder
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND $KERNEL_CMDLINE
EOF
export MTOOLS_SKIP_CHECK=1
mkfs.vfat -n HERDERBOOT -i 48455244 -h "$BOOT_START" -C "$work/boot.img" $((BOOT_SECTORS / 2)) >/dev/null
mcopy -i "$work/boot.img" "$vmlinuz" ::/vmlinuz
mcopy -i "$work/boot.img" "$work/initrd.img" "$work/syslinux.cfg" ::/

# -- partition 2: the empty ext4 data area that /init fills on the first boot --------------------
truncate -s $((DATA_SECTORS * 512)) "$work/data.img"
mkfs.ext4 -q -F -L herder-data -m 0 "$work/data.img"

# -- the disk -----------------------------------------------------------------------------------
raw="$work/disk.raw"
truncate -s "${DISK_MIB}M" "$raw"
sfdisk --quiet --no-reread --no-tell-kernel "$raw" <<EOF
label: dos
label-id: 0x48455244
start=$BOOT_START, size=$BOOT_SECTORS, type=e, bootable
start=$DATA_START, size=$DATA_SECTORS, type=83
EOF
dd if="$work/boot.img" of="$raw" bs=512 seek="$BOOT_START" conv=notrunc,sparse status=none
dd if="$work/data.img" of="$raw" bs=512 seek="$DATA_START" conv=notrunc,sparse status=none
syslinux --offset $((BOOT_START * 512)) --install "$raw"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$raw" bs=440 count=1 conv=notrunc status=none

qemu-img convert -c -f raw -O qcow2 "$raw" "$work/herder-guest.qcow2"

rm -f "$stamp"
mv "$work/herder-guest.qcow2" "$image"
{
    echo "$version"
    echo "kernel: $kpkg ($(dpkg-deb -f "$work"/debs/"$kpkg"_*.deb Version))"
    echo "busybox-static: $(dpkg-deb -f "$work"/debs/busybox-static_*.deb Version)"
    echo "cmdline: $KERNEL_CMDLINE"
    echo "modules: ${load_order[*]}"
} >"$stamp"
echo "$image"
