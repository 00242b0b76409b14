"""The destination half of the transfer agent: a threaded TCP server on the host's own address.

The compute host tells it which disks to expect (`expect`, from prep_resize) and hands the grant
to the source through the conductor. The destination alone decides where a disk goes: the
instances directory, the migration's server, the grant's disk name; the source only sends
bytes. A connection without a valid grant, or one that would write outside the instances
directory, is refused before anything is written.
"""
import logging
import os
import re
import socket
import threading
from dataclasses import dataclass

from herder import exception
from herder.transfer import protocol, tokens
from herder.transfer.incoming import IncomingDisk
from herder.transfer.protocol import Kind
from herder.faults import FaultInjector

LOG = logging.getLogger(__name__)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")   # one path component, not hidden
STOP_WAIT = 10.0     # seconds stopping a session waits for a running session to stop writing


@dataclass
class TransferRecord:
    """What the receiver sees of a transfer (the latest one is `last_transfer`)."""
    migration_uuid: str
    instance_uuid: str
    disk: str
    peer: tuple[str, int]
    local: tuple[str, int]
    resumed_from: int = 0
    bytes_received: int = 0
    chunks_rejected: int = 0
    completed: bool = False


class TransferReceiver:
    def __init__(self, host: str, listen_ip: str, port: int, instances_dir: str,
                 token_ttl: float, io_timeout: float = 60.0,
                 faults: FaultInjector | None = None):
        self.host = host
        self.listen_ip = listen_ip
        self.port = port
        self.instances_dir = instances_dir
        self.io_timeout = io_timeout
        self.faults = faults or FaultInjector(host)
        self.grants = tokens.GrantBook(token_ttl)
        self.last_transfer: TransferRecord | None = None
        self._listener: socket.socket | None = None
        self._sessions: dict[str, "_Session"] = {}     # disk path -> the session writing it
        self._cancels = 0                        # how many cancels there have been
        self._cancelled_at: dict[str, int] = {}   # instance -> the count at its latest cancel
        self._lock = threading.Lock()

    # -- service life -----------------------------------------------------------------------
    def start(self) -> None:
        self._listener = socket.create_server((self.listen_ip, self.port), backlog=64)
        threading.Thread(target=self._accept, args=(self._listener,),
                         name=f"transfer-{self.host}", daemon=True).start()
        LOG.info("transfer agent of %s listening on %s:%d", self.host, *self.address)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, peer = listener.accept()
            except OSError:   # `stop` shut the listener down
                return
            threading.Thread(target=self._serve, args=(sock, peer), daemon=True,
                             name=f"transfer-{self.host}-{peer[0]}:{peer[1]}").start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        try:
            listener.shutdown(socket.SHUT_RDWR)   # wakes the accepting thread at once
        except OSError:
            pass
        listener.close()
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.stop(discard=False)

    @property
    def address(self) -> tuple[str, int]:
        """Where sources connect: the bound address, so port 0 means the port we got."""
        if self._listener is None:
            raise exception.TransferFailed(reason=f"the transfer agent of {self.host} is "
                                                  "not running")
        return self._listener.getsockname()[:2]

    # -- what the compute host asks -------------------------------------------------------------
    def expect(self, migration_uuid: str, instance_uuid: str, disk: str = "disk") -> dict:
        """Agree to receive `disk` of the migration's server: the target the source needs."""
        self.disk_path(instance_uuid, disk)  # refuse now what would be refused on connection
        host, port = self.address
        token = self.grants.issue(migration_uuid, instance_uuid, disk)
        return {"host": host, "port": port, "token": token, "migration_uuid": migration_uuid,
                "disk": disk}

    def cancel(self, instance_uuid: str) -> None:
        """Nothing more arrives for this server: its grants go, running transfers stop (the
        caller removes the files)."""
        self.grants.revoke(instance_uuid)
        with self._lock:
            self._cancels += 1
            self._cancelled_at[instance_uuid] = self._cancels
            sessions = [s for s in self._sessions.values() if s.instance_uuid == instance_uuid]
        for session in sessions:
            session.stop(discard=True)

    def disk_path(self, instance_uuid: str, disk: str) -> str:
        """`<instances_dir>/<instance>/<disk>`, or TransferRefused if that is not plainly inside
        the instances directory (odd names, symlinks out)."""
        if not (_NAME.match(instance_uuid) and _NAME.match(disk)):
            raise exception.TransferRefused(reason="no such disk here")
        root = os.path.realpath(self.instances_dir)
        directory = os.path.realpath(os.path.join(root, instance_uuid))
        if os.path.dirname(directory) != root:
            raise exception.TransferRefused(reason="no such disk here")
        return os.path.join(directory, disk)

    # -- one connection -------------------------------------------------------------------------
    def _serve(self, sock: socket.socket, peer: tuple) -> None:
        sock.settimeout(self.io_timeout)
        session = None
        try:
            hello = protocol.receive(sock, Kind.HELLO).header
            try:
                session = self._open(hello, sock, peer)
            except exception.TransferRefused as refusal:
                LOG.warning("transfer agent of %s refused %s:%d: %s", self.host, *peer[:2],
                            refusal)
                protocol.send(sock, Kind.REFUSED, {"reason": str(refusal.kwargs.get(
                    "reason", refusal))})
                return
            session.run()
        except (exception.TransferFailed, exception.DriverError) as error:
            LOG.warning("transfer from %s:%d to %s ended: %s", *peer[:2], self.host, error)
        except Exception:  # a broken session must not take the server with it
            LOG.exception("transfer from %s:%d to %s failed", *peer[:2], self.host)
        finally:
            if session is not None:
                session.close()
                with self._lock:
                    if self._sessions.get(session.disk.path) is session:
                        del self._sessions[session.disk.path]
            sock.close()

    def _open(self, hello: dict, sock: socket.socket, peer: tuple) -> "_Session":
        size = protocol.field_int(hello, "size")
        with self._lock:
            cancels_before = self._cancels
        grant = self.grants.redeem(hello.get("token"), hello.get("migration"), hello.get("disk"))
        path = self.disk_path(grant.instance_uuid, grant.disk)
        with self._lock:
            previous = self._sessions.get(path)
        if previous is not None:  # a retry overtaking its own stalled attempt: that one stops
            previous.stop(discard=False)
        with self._lock:
            if self._cancelled_at.get(grant.instance_uuid, 0) > cancels_before:
                # cancelled between redeeming and here: its files are being removed
                raise exception.TransferRefused(reason="the transfer was cancelled")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            session = _Session(self, sock, grant, IncomingDisk(path, grant.migration_uuid, size),
                               TransferRecord(grant.migration_uuid, grant.instance_uuid,
                                              grant.disk, tuple(peer[:2]),
                                              tuple(sock.getsockname()[:2])))
            self._sessions[path] = session
            self.last_transfer = session.record   # kept up to date as the transfer runs
        return session


class _Session:
    """One transfer on one connection: verify each chunk, write it, answer."""

    def __init__(self, receiver: TransferReceiver, sock: socket.socket, grant: tokens.Grant,
                 disk: IncomingDisk, record: TransferRecord):
        self.receiver = receiver
        self.sock = sock
        self.instance_uuid = grant.instance_uuid
        self.disk = disk
        self.record = record
        self._stopped = threading.Event()
        self._discard = False
        self._finished = threading.Event()
        self._writing = threading.Lock()    # held while the files are touched

    def run(self) -> None:
        self.record.resumed_from = self.disk.resume_from
        protocol.send(self.sock, Kind.READY, {"resume_from": self.disk.resume_from})
        while True:
            frame = protocol.receive(self.sock, Kind.DATA, Kind.DONE)
            if frame.kind == Kind.DONE:
                self._finish(frame.header.get("digest"))
                return
            self._chunk(frame)

    def _chunk(self, frame: protocol.Frame) -> None:
        offset = protocol.field_int(frame.header, "offset")
        intact = frame.header.get("hash") == protocol.chunk_hash(offset, frame.payload)
        if intact:
            self.receiver.faults.check("receive_chunk")
            with self._writing:
                self._still_wanted()
                try:
                    self.disk.write(offset, frame.payload)
                except ValueError as error:
                    raise exception.TransferFailed(reason=str(error)) from error
            self.record.bytes_received += len(frame.payload)
        else:
            self.record.chunks_rejected += 1
            LOG.warning("chunk at %d for %s arrived damaged; asking for it again", offset,
                        self.disk.path)
        protocol.send(self.sock, Kind.ACK, {"offset": offset, "ok": intact})

    def _finish(self, digest: object) -> None:
        with self._writing:
            self._still_wanted()
            ok = isinstance(digest, str) and self.disk.finish(digest)
        self.record.completed = ok
        protocol.send(self.sock, Kind.RESULT, {
            "ok": ok, "digest": self.disk.record.digest,
            "reason": None if ok else "the disk's digest differs from the source's; "
                                      "it will be sent again from the start"})

    def _still_wanted(self) -> None:
        if self._stopped.is_set():
            raise exception.TransferFailed(reason="the destination stopped the transfer")

    def stop(self, discard: bool) -> None:
        """End this session and wait until it no longer touches its files. What it verified
        stays resumable unless `discard` (its files are about to be removed)."""
        self._discard = self._discard or discard
        self._stopped.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._finished.wait(STOP_WAIT)

    def close(self) -> None:
        try:
            with self._writing:
                if self._discard:   # the files are about to be removed: only let go of them
                    self.disk.abandon()
                else:
                    self.disk.close()
        finally:
            self._finished.set()
