"""The qemu-img operations the libvirt driver needs, each a short subprocess."""
import json

from herder.virt.libvirt.commands import run


def _run(host: str, step: str, *args: str) -> str:
    return run(host, step, "qemu-img", *args, what=f"qemu-img {args[0]}")


def info(host: str, path: str) -> dict:
    """virtual-size, actual-size, format, backing-filename... of one image file (its own
    header only: the backing file need not be there)."""
    return json.loads(_run(host, "qemu_img_info", "info", "--output=json", "-U", path))


def create_overlay(host: str, path: str, backing: str, backing_format: str,
                   size_bytes: int | None) -> None:
    args = ["create", "-q", "-f", "qcow2", "-F", backing_format, "-b", backing, path]
    if size_bytes is not None:
        args.append(str(size_bytes))
    _run(host, "create_disk", *args)


def create_blank(host: str, path: str, size_bytes: int) -> None:
    _run(host, "create_disk", "create", "-q", "-f", "qcow2", path, str(size_bytes))


def rebase_unsafe(host: str, path: str, backing: str, backing_format: str) -> None:
    """Point an overlay at another copy of the same backing file (header only)."""
    _run(host, "rebase_disk", "rebase", "-q", "-u", "-F", backing_format, "-b", backing, path)


def grow(host: str, path: str, size_bytes: int) -> None:
    _run(host, "resize_disk", "resize", "-q", path, str(size_bytes))


def convert_to_qcow2(host: str, source: str, target: str) -> None:
    """A raw file as a qcow2 of its own, holes left out."""
    _run(host, "create_disk", "convert", "-q", "-f", "raw", "-O", "qcow2", source, target)
