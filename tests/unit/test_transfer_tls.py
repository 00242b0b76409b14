"""Disk transfer over TLS: mutual TLS between two hosts' loopback addresses, and what happens
when either side has no TLS, or a certificate the other does not trust. The certificates are
made for the test with the openssl command line tool."""
import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest

from herder import exception
from herder.transfer import keys, sparse
from herder.transfer.receiver import TransferReceiver
from herder.transfer.sender import DiskSender
from herder.transfer.tls import TLSConfig
from tests.unit.sparse_disks import MIB, make_sparse

SOURCE_IP, DEST_IP = "127.0.1.1", "127.0.1.2"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl tool")


def _openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _ca(directory, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
             "-subj", f"/CN={name}", cwd=directory)


def _host(directory, ca: str, name: str, ip: str) -> TLSConfig:
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
             cwd=directory)
    (directory / f"{name}.ext").write_text(f"subjectAltName = IP:{ip}\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile",
             f"{name}.ext", cwd=directory)
    return TLSConfig(str(directory / f"{name}.pem"), str(directory / f"{name}.key"),
                     str(directory / f"{ca}.pem"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, TLSConfig]:
    directory = tmp_path_factory.mktemp("pki")
    _ca(directory, "cloud-ca")
    _ca(directory, "other-ca")
    intruder = _host(directory, "other-ca", "intruder", SOURCE_IP)
    return {"compute1": _host(directory, "cloud-ca", "compute1", SOURCE_IP),
            "compute2": _host(directory, "cloud-ca", "compute2", DEST_IP),
            # trusts the cloud's CA (so it accepts the destination), but the cloud's CA did
            # not sign its own certificate
            "intruder": TLSConfig(intruder.cert_file, intruder.key_file,
                                  str(directory / "cloud-ca.pem")),
            "misnamed": _host(directory, "cloud-ca", "misnamed", "127.0.1.9")}


@pytest.fixture
def disk(tmp_path) -> str:
    return make_sparse(tmp_path / "source-disk", 64 * MIB,
                       [(0, 64 * 1024), (10 * MIB, 3 * MIB + 4096), (64 * MIB - 4096, 4096)])


@pytest.fixture
def server() -> str:
    return str(uuid.uuid4())


def _receiver(tmp_path, tls: TLSConfig | None) -> TransferReceiver:
    receiver = TransferReceiver("compute2", DEST_IP, 0, str(tmp_path / "compute2"),
                                token_ttl=60, io_timeout=5, tls=tls)
    receiver.start()
    return receiver


@pytest.fixture
def tls_receiver(tmp_path, pki):
    receiver = _receiver(tmp_path, pki["compute2"])
    yield receiver
    receiver.stop()


def _arrived(receiver: TransferReceiver, server: str, name: str = "disk") -> str:
    return os.path.join(receiver.instances_dir, server, name)


def test_a_disk_crosses_mutual_tls_between_the_hosts_addresses(disk, tls_receiver, pki,
                                                               server):
    target = tls_receiver.expect("migration-1", server)
    assert target["tls"] is True
    result = DiskSender(SOURCE_IP, io_timeout=5, tls=pki["compute1"]).send(disk, target)
    assert result.local[0] == SOURCE_IP and result.peer[0] == DEST_IP
    key = keys.from_target(target)
    assert result.digest == sparse.digest(_arrived(tls_receiver, server), key) == \
        sparse.digest(disk, key)
    assert tls_receiver.last_transfer.completed
    assert tls_receiver.last_transfer.peer[0] == SOURCE_IP


def test_a_source_whose_certificate_another_ca_signed_is_refused(disk, tls_receiver, pki,
                                                                 server):
    target = tls_receiver.expect("migration-1", server)
    with pytest.raises(exception.TransferFailed, match="(?i)TLS .*unknown ca"):
        DiskSender(SOURCE_IP, io_timeout=5, tls=pki["intruder"]).send(disk, target)
    assert not os.path.exists(os.path.join(tls_receiver.instances_dir, server))
    # the grant was never presented: the rightful source can still use it
    DiskSender(SOURCE_IP, io_timeout=5, tls=pki["compute1"]).send(disk, target)


def test_a_destination_whose_certificate_names_another_address_is_not_trusted(
        tmp_path, disk, pki, server):
    receiver = _receiver(tmp_path, pki["misnamed"])
    try:
        with pytest.raises(exception.TransferFailed, match="(?i)TLS handshake .* failed.*ip "
                                                           "address mismatch"):
            DiskSender(SOURCE_IP, io_timeout=5, tls=pki["compute1"]).send(
                disk, receiver.expect("migration-1", server))
    finally:
        receiver.stop()


def test_a_source_without_tls_is_told_the_destination_takes_tls_only(disk, tls_receiver,
                                                                     server):
    target = tls_receiver.expect("migration-1", server)
    plain = DiskSender(SOURCE_IP, io_timeout=5)
    with pytest.raises(exception.TransferFailed, match="takes TLS connections only"):
        plain.send(disk, target)     # the target says so: it does not even connect
    # told nothing (an older conductor's target), it connects and the destination says so
    with pytest.raises(exception.TransferRefused, match="takes TLS connections only"):
        plain.send(disk, {k: v for k, v in target.items() if k != "tls"})
    assert not os.path.exists(os.path.join(tls_receiver.instances_dir, server))


def test_a_source_with_tls_does_not_fall_back_to_plain_tcp(tmp_path, disk, pki, server):
    receiver = _receiver(tmp_path, None)
    try:
        sender = DiskSender(SOURCE_IP, io_timeout=5, tls=pki["compute1"])
        target = receiver.expect("migration-1", server)
        with pytest.raises(exception.TransferFailed, match="does not offer TLS"):
            sender.send(disk, target)
        with pytest.raises(exception.TransferFailed, match="TLS"):
            sender.send(disk, {k: v for k, v in target.items() if k != "tls"})
        assert not os.path.exists(_arrived(receiver, server))
    finally:
        receiver.stop()


def test_a_tls_transfer_cut_off_resumes(disk, tls_receiver, pki, server):
    """Stopping the destination's agent mid-transfer shuts the TCP connection under TLS; what
    was verified stays."""
    sender = DiskSender(SOURCE_IP, chunk_size=64 * 1024, io_timeout=5, tls=pki["compute1"],
                        bandwidth_limit_mbps=8)    # 1 MB/s: the 3 MiB take 3 s
    target = tls_receiver.expect("migration-1", server)
    failures = []

    def sending():
        try:
            sender.send(disk, target)
        except exception.TransferFailed as error:
            failures.append(error)

    thread = threading.Thread(target=sending)
    thread.start()
    deadline = time.monotonic() + 10
    while not ((seen := tls_receiver.last_transfer) and seen.bytes_received >= 256 * 1024):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    tls_receiver.stop()
    thread.join(10)
    assert failures
    tls_receiver.start()
    target = tls_receiver.expect("migration-1", server)
    result = DiskSender(SOURCE_IP, io_timeout=5, tls=pki["compute1"]).send(disk, target)
    assert result.resumed_from >= 256 * 1024
    assert result.digest == sparse.digest(_arrived(tls_receiver, server),
                                          keys.from_target(target))


def test_tls_options_must_come_together():
    with pytest.raises(ValueError):
        TLSConfig(cert_file="cert.pem")
    with pytest.raises(ValueError):
        TLSConfig(ca_file="ca.pem")
    assert not TLSConfig().enabled
