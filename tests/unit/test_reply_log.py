"""The replies a compute host keeps to answer redelivered calls: in memory, and on disk so
that they outlive a restart."""
import os
import uuid

from herder.bus.replies import DiskReplyLog, ReplyLog


def _id() -> str:
    return uuid.uuid4().hex


def test_a_log_keeps_the_latest_replies_up_to_its_capacity():
    log = ReplyLog(capacity=2)
    first, second, third = _id(), _id(), _id()
    for number, correlation_id in enumerate((first, second, third)):
        log.put(correlation_id, "reply_q", {"result": number})
    assert log.get(first) is None
    assert log.get(third) == ("reply_q", {"result": 2})


def test_replies_on_disk_outlive_the_process_and_only_the_latest_are_kept(tmp_path):
    directory = str(tmp_path / "replies")
    log = DiskReplyLog(directory, capacity=2)
    ids = [_id() for _ in range(3)]
    for number, correlation_id in enumerate(ids):
        log.put(correlation_id, "reply_q", {"result": number})
    assert sorted(os.listdir(directory)) == sorted(f"{i}.json" for i in ids[1:])

    restarted = DiskReplyLog(directory, capacity=2)
    assert restarted.get(ids[0]) is None
    assert restarted.get(ids[2]) == ("reply_q", {"result": 2})
    restarted.put(_id(), "reply_q", {"result": 3})   # the oldest kept one goes first
    assert restarted.get(ids[1]) is None and restarted.get(ids[2]) is not None


def test_an_id_that_is_not_a_uuid_is_answered_from_memory_but_never_made_a_file(tmp_path):
    log = DiskReplyLog(str(tmp_path), capacity=4)
    log.put("../../escape", "reply_q", {"result": 1})
    assert log.get("../../escape") == ("reply_q", {"result": 1})
    assert os.listdir(tmp_path) == []
