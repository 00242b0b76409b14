"""Engine and session factory, and schema upgrade through Alembic."""
import os
import threading
from collections import deque
from contextlib import contextmanager, nullcontext
from typing import Callable, Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

ALEMBIC_DIR = os.path.join(os.path.dirname(__file__), "alembic")


def lost_the_database(error: BaseException) -> bool:
    """The database could not be reached, or the connection to it was lost (as its server
    restarting does): nothing the work itself did wrong, and the same work may succeed once
    the database is back. OperationalError is also what a deadlock or a lock wait timeout
    raises on MariaDB: those pass too. A pool that handed out no connection in time
    (TimeoutError) means the database is too slow to answer for now."""
    if isinstance(error, exc.TimeoutError):
        return True
    return isinstance(error, exc.DBAPIError) and (error.connection_invalidated or isinstance(
        error, (exc.OperationalError, exc.InterfaceError)))


def make_engine(url: str, pool_size: int = 20, max_overflow: int = 20) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=pool_size, max_overflow=max_overflow)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take the write lock at BEGIN so two
        # concurrent compare-and-swap transactions serialize instead of failing to upgrade a lock.
        # A read-only transaction (Database.one_transaction(read_only=True)) takes no lock: in
        # WAL mode it reads a snapshot while writers go on.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(
            "BEGIN" if getattr(_reading, "active", False) else "BEGIN IMMEDIATE"))
        return engine
    connect_args = {}
    if url.startswith("mysql+pymysql"):
        from pymysql.constants import CLIENT  # an optional dependency (the `mysql` extra)
        # compare_and_swap counts the rows its WHERE matched; MySQL reports the rows it
        # *changed* unless the client asks for FOUND_ROWS, so a swap writing the values a row
        # already holds would look lost. (SQLAlchemy's MySQL dialects set it too; we rely on it.)
        connect_args["client_flag"] = CLIENT.FOUND_ROWS
    # READ COMMITTED on every server (PostgreSQL's default; MariaDB's is REPEATABLE READ).
    # A read after a compare-and-swap that matched nothing (to tell "gone" from "changed", or
    # to try again) would, under REPEATABLE READ, see the snapshot of the transaction's first
    # read, not the row that beat us. InnoDB also stops taking gap locks for plain searches,
    # which make concurrent allocation and journal writes into neighbouring index ranges
    # deadlock. Correctness under concurrency comes from row locks, generations and
    # compare-and-swap, not from the isolation level.
    return create_engine(url, isolation_level="READ COMMITTED", connect_args=connect_args,
                         pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)


# set while this thread begins a read-only transaction (SQLite: a deferred BEGIN)
_reading = threading.local()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see make_engine)
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", ALEMBIC_DIR)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


class TurnLock:
    """A lock handed to its waiters in the order they asked for it (threading.Lock wakes an
    arbitrary waiter, and SQLite's busy handler lets whoever polls at the right moment win).
    The thread that holds it may enter again without waiting."""

    def __init__(self):
        self._mutex = threading.Lock()
        self._busy = False
        self._waiting: deque[threading.Event] = deque()
        self._owner: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        me = threading.get_ident()
        if self._owner == me:
            yield
            return
        with self._mutex:
            turn = None
            if self._busy:
                turn = threading.Event()
                self._waiting.append(turn)
            self._busy = True
        if turn is not None:
            turn.wait()   # the releaser hands the lock over: it stays busy in between
        self._owner = me
        try:
            yield
        finally:
            self._owner = None
            with self._mutex:
                if self._waiting:
                    self._waiting.popleft().set()
                else:
                    self._busy = False


class Database:
    """One engine and session factory for a herder process."""

    def __init__(self, url: str, pool_size: int = 20, max_overflow: int = 20):
        self.url = url
        self.engine = make_engine(url, pool_size, max_overflow)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._shared = threading.local()   # the session of a one_transaction block, per thread
        # SQLite has one writer at a time. Its busy handler retries with growing sleeps, which
        # under load let a transaction (a heartbeat) wait for seconds while others keep
        # winning; this process's writers take turns instead, first come first served.
        # Other processes (a distributed deployment on SQLite) still meet the busy handler.
        self._write_turns = TurnLock() if url.startswith("sqlite") else None
        self._write_listener: Callable[[], None] | None = None
        self._wrote = threading.local()     # this thread's transaction has written

    def after_writes(self, listener: Callable[[], None]) -> None:
        """Call `listener` on the committing thread after each transaction that wrote something.
        For the workflow engine's fault points between the writes of a step (tests only: it
        looks at every statement this process sends)."""
        if self._write_listener is None:
            event.listen(self.engine, "before_cursor_execute", self._note_write)
        self._write_listener = listener

    def _note_write(self, _conn, _cursor, statement: str, *_args) -> None:
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            self._wrote.flag = True

    def _committed(self) -> None:
        if self._write_listener is not None and getattr(self._wrote, "flag", False):
            self._wrote.flag = False
            self._write_listener()

    def _write_turn(self):
        return self._write_turns.held() if self._write_turns is not None else nullcontext()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block, or rolls back on an error
        (inside `one_transaction`: that block's session, committed when it ends)."""
        shared = getattr(self._shared, "session", None)
        if shared is not None:
            yield shared
            return
        self._wrote.flag = False
        with self._write_turn(), self._sessions.begin() as session:
            yield session
        self._committed()

    @contextmanager
    def one_transaction(self, read_only: bool = False) -> Iterator[None]:
        """Make every `transaction()` this thread opens inside the block part of one. For a
        request that reads with several queries (an API GET): one BEGIN and COMMIT, one
        connection checkout, and one consistent view, instead of one each. Not for blocks
        that catch database errors: after one, a shared transaction is unusable.

        `read_only` promises the block writes nothing; on SQLite the transaction then takes
        no write lock, so a slow reader never holds up a workflow's writes."""
        if getattr(self._shared, "session", None) is not None:
            yield
            return
        with nullcontext() if read_only else self._write_turn(), \
                self._sessions.begin() as session:
            self._shared.session = session
            # from here on, whatever fails (BEGIN itself, with the database away) must not
            # leave the session shared: the thread's next block would take it for an outer
            # one, work in it and never commit, holding its row locks for good
            try:
                _reading.active = read_only
                try:
                    session.connection()   # BEGIN now, while this thread is marked as reading
                finally:
                    _reading.active = False
                self._wrote.flag = False
                yield
            finally:
                self._shared.session = None
        self._committed()

    def dispose(self) -> None:
        self.engine.dispose()
