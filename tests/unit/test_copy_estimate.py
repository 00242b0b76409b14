"""A move plan's disk copy to one destination: its kind from the hosts' directory ids, and its
estimate from the measured rate, or the reason there is none."""
from herder.db.disk_copies import MeasuredRate, measure
from herder.db.models import ComputeNode
from herder.operations import copy_estimate


def node(directory_id: str | None) -> ComputeNode:
    return ComputeNode(host="h", instances_dir_id=directory_id)


def test_the_kind_comes_from_the_directory_ids_the_hosts_report():
    assert copy_estimate.copy_kind(node("a"), node("a")) == copy_estimate.SHARED
    assert copy_estimate.copy_kind(node("a"), node("b")) == copy_estimate.NETWORK
    assert copy_estimate.copy_kind(node("a"), node(None)) == copy_estimate.UNKNOWN
    assert copy_estimate.copy_kind(None, node("a")) == copy_estimate.UNKNOWN


def test_an_estimate_is_the_bytes_over_the_measured_rate():
    rates = {copy_estimate.NETWORK: MeasuredRate(copies=4, bytes_per_second=2e6)}
    assert copy_estimate.estimate(None, copy_estimate.NETWORK, 5_000_000, rates) == {
        "estimated_seconds": 2.5,
        "estimate_basis": "2.000 MB/s, measured over the last 4 network copies"}


def test_without_a_rate_or_the_bytes_or_the_kind_there_is_no_estimate():
    no_rate = {copy_estimate.SHARED: None}
    for kind, size, basis in [
            (copy_estimate.SHARED, 10, "no history: no earlier copies on a shared instances "
                                       "directory were measured"),
            (copy_estimate.NETWORK, None, "the source host did not say how much data the "
                                          "disks hold"),
            (copy_estimate.UNKNOWN, 10, "whether the destination shares the source's "
                                        "instances directory is unknown (a host has not "
                                        "reported its directory's id)")]:
        assert copy_estimate.estimate(None, kind, size, no_rate) == \
            {"estimated_seconds": None, "estimate_basis": basis}


def test_a_copy_is_measured_by_what_it_moved_in_its_time():
    sent = {"allocated_bytes": 100, "bytes_sent": 40, "shared_storage": False,
            "copy_seconds": 0.5}
    assert measure(sent) == {"disk_copy_bytes": 40, "disk_copy_seconds": 0.5,
                             "disk_copy_shared": False}
    assert measure({**sent, "shared_storage": True})["disk_copy_bytes"] == 100
    assert measure({**sent, "copy_seconds": None}) == {}   # a host that does not time copies
    assert measure({**sent, "bytes_sent": 0}) == {}        # nothing left to send: no rate
