"""A compute host's transfer agent: receives disks on the host's own address, sends them from it.

Both directions bind the host's address (127.0.1.N when several hosts share a machine), so a
destination sees which host a disk came from. A server's disk may be several files; each gets
its own `expect` grant and `send`, and `cancel` ends all of them.
"""
from herder.transfer.receiver import TransferReceiver
from herder.transfer.sender import DiskSender, SendResult
from herder.transfer.tls import TLSConfig
from herder.faults import FaultInjector


class TransferAgent:
    def __init__(self, receiver: TransferReceiver, sender: DiskSender):
        self.receiver = receiver
        self.sender = sender

    @classmethod
    def from_conf(cls, conf, host: str, host_ip: str, instances_dir: str,
                  faults: FaultInjector | None = None) -> "TransferAgent":
        options = conf.transfer
        tls = TLSConfig.from_options(options)
        return cls(TransferReceiver(host, host_ip, options.port, instances_dir,
                                    options.token_ttl, options.io_timeout, faults,
                                    reserved_disk_mb=options.reserved_disk_mb, tls=tls,
                                    hello_timeout=options.hello_timeout,
                                    max_connections=options.max_connections),
                   DiskSender(host_ip, options.chunk_size_kb * 1024,
                              options.bandwidth_limit_mbps, options.io_timeout,
                              window_chunks=options.window_chunks, tls=tls))

    def start(self) -> None:
        self.receiver.start()

    def stop(self) -> None:
        self.receiver.stop()

    def expect(self, migration_uuid: str, instance_uuid: str, disk: str = "disk") -> dict:
        return self.receiver.expect(migration_uuid, instance_uuid, disk)

    def cancel(self, instance_uuid: str) -> None:
        self.receiver.cancel(instance_uuid)

    def send(self, path: str, target: dict, progress=None) -> SendResult:
        return self.sender.send(path, target, progress)
