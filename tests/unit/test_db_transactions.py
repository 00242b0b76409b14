"""Database.one_transaction: the queries of one API read share one transaction, and a read-only
one never holds up a writer; and a process's SQLite writers take turns."""
import threading
import time

import pytest

from herder import exception
from herder.db import instances
from herder.db.models import Instance
from herder.db.session import TurnLock


def _server(db, name: str) -> str:
    with db.transaction() as session:
        session.add(Instance(uuid=f"00000000-0000-0000-0000-{name:0>12}", display_name=name,
                             project_id="p", user_id="u", flavor={"vcpus": 1},
                             vm_state="active"))
    return f"00000000-0000-0000-0000-{name:0>12}"


def test_transactions_inside_the_block_are_one(db):
    with db.one_transaction(read_only=True):
        with db.transaction() as first, db.transaction() as second:
            assert first is second
    with db.transaction() as outside, db.transaction() as another:
        assert outside is not another


def test_a_read_only_block_does_not_hold_up_a_writer(db):
    server = _server(db, "1")
    written = threading.Event()

    def writer():
        instances.update(db, server, None, display_name="renamed")
        written.set()

    with db.one_transaction(read_only=True):
        assert instances.get(db, server).display_name == "1"
        thread = threading.Thread(target=writer)
        thread.start()
        # the writer commits while the reader's transaction is still open
        assert written.wait(10), "the writer waited for the read-only transaction"
    thread.join()
    assert instances.get(db, server).display_name == "renamed"


def test_an_error_in_the_block_rolls_the_shared_transaction_back(db):
    with pytest.raises(RuntimeError):
        with db.one_transaction():
            _server(db, "2")
            raise RuntimeError("the request failed")
    with db.transaction() as session:
        assert session.get(Instance, 1) is None


def test_writers_take_turns_in_the_order_they_asked():
    """SQLite's busy handler lets whoever polls at the right moment win, so under load one
    writer (a heartbeat) could wait for seconds: herder's writers queue instead."""
    lock, order = TurnLock(), []
    with lock.held():
        with lock.held():          # the holder may enter again
            pass
        threads = []
        for index in range(5):
            thread = threading.Thread(target=_take_turn, args=(lock, order, index))
            thread.start()
            threads.append(thread)
            _wait_until(lambda: len(lock._waiting) == index + 1)  # queued before the next asks
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2, 3, 4]


def _take_turn(lock: TurnLock, order: list, index: int) -> None:
    with lock.held():
        order.append(index)


def _wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_swap_returns_the_row_as_written_even_after_a_read_in_the_same_transaction(db):
    """The compare-and-swap hands back the written row (UPDATE ... RETURNING where the database
    has it); a copy of the row loaded earlier in the transaction must not stand in for it."""
    server = _server(db, "2")
    with db.one_transaction():
        read_before = instances.get(db, server)   # kept: the session's copy of the row
        assert read_before.task_state is None
        written = instances.update(db, server, {"task_state": None}, task_state="resize_prep",
                                   display_name="renamed")
        assert (written.task_state, written.display_name) == ("resize_prep", "renamed")
        with pytest.raises(exception.UnexpectedTaskState) as refused:
            instances.update(db, server, {"task_state": None}, task_state="deleting")
        assert refused.value.kwargs["actual"] == {"task_state": "resize_prep"}
    assert instances.get(db, server).display_name == "renamed"


def test_a_block_whose_begin_fails_leaves_no_transaction_behind():
    """The database away (nothing listens on port 1): BEGIN fails. The thread's next blocks
    must each get a transaction of their own, not the failed block's session, in which they
    would work without ever committing (holding their row locks)."""
    from sqlalchemy.exc import OperationalError

    from herder.db.session import Database
    away = Database("postgresql+psycopg://herder@127.0.0.1:1/herder?connect_timeout=2")
    with pytest.raises(OperationalError):
        with away.one_transaction():
            pass
    with away.transaction() as first:   # connects only when a query needs it: none here
        pass
    with away.transaction() as second:
        pass
    assert first is not second
    away.dispose()
