"""A compute host's transfer agent: receives disks on the host's own address, sends them from it.

Both directions bind the host's address (127.0.1.N when several hosts share a machine), so a
destination sees which host a disk came from. A server's disk may be several files; each gets
its own `expect` grant and `send`, and `cancel` ends all of them.
"""
from herder.transfer.receiver import TransferReceiver
from herder.transfer.sender import DiskSender, SendResult
from herder.transfer.tls import TLSConfig
from herder.fault_injection import FaultInjector


GIB = 1024 ** 3
MIB = 1024 ** 2


def disk_size_limit(flavor: dict, image_limit_bytes: int) -> int:
    """The most bytes one disk file of a server of `flavor` can hold: its root, ephemeral and
    swap space, plus an image up to the image size limit (a root disk grows to its image when
    the image is larger), plus a GiB for image format overhead. A source that declares more is
    refused: it could only be a mistake or someone filling the host."""
    return ((flavor.get("root_gb") or 0) + (flavor.get("ephemeral_gb") or 0) + 1) * GIB + \
        (flavor.get("swap") or 0) * MIB + image_limit_bytes


class TransferAgent:
    def __init__(self, receiver: TransferReceiver, sender: DiskSender,
                 image_limit_bytes: int = 10240 * MIB):
        self.receiver = receiver
        self.sender = sender
        self.image_limit_bytes = image_limit_bytes

    @classmethod
    def from_conf(cls, conf, host: str, host_ip: str, instances_dir: str,
                  fault_points: FaultInjector | None = None) -> "TransferAgent":
        options = conf.transfer
        tls = TLSConfig.from_options(options)
        return cls(TransferReceiver(host, host_ip, options.port, instances_dir,
                                    options.token_ttl, options.io_timeout, fault_points,
                                    reserved_disk_mb=options.reserved_disk_mb, tls=tls,
                                    hello_timeout=options.hello_timeout,
                                    max_connections=options.max_connections),
                   DiskSender(host_ip, options.chunk_size_kb * 1024,
                              options.bandwidth_limit_mbps, options.io_timeout,
                              window_chunks=options.window_chunks, tls=tls),
                   conf.image.max_image_size_mb * MIB)

    def start(self) -> None:
        self.receiver.start()

    def stop(self) -> None:
        self.receiver.stop()

    def expect(self, migration_uuid: str, instance_uuid: str, disk: str = "disk",
               flavor: dict | None = None) -> dict:
        """A grant for one disk file of the server, bounded by what `flavor` (the server's
        flavor on the source) allows."""
        limit = disk_size_limit(flavor, self.image_limit_bytes) if flavor else None
        return self.receiver.expect(migration_uuid, instance_uuid, disk, max_size=limit)

    def cancel(self, instance_uuid: str) -> None:
        self.receiver.cancel(instance_uuid)

    def send(self, path: str, target: dict, progress=None) -> SendResult:
        return self.sender.send(path, target, progress)
