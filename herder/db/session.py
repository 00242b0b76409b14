"""Engine and session factory, and schema upgrade through Alembic."""
import os
from contextlib import contextmanager
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

ALEMBIC_DIR = os.path.join(os.path.dirname(__file__), "alembic")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=20, max_overflow=20)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take the write lock at BEGIN so two
        # concurrent compare-and-swap transactions serialize instead of failing to upgrade a lock.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
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
                         pool_pre_ping=True, pool_size=20, max_overflow=20)


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


class Database:
    """One engine and session factory for a herder process."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block, or rolls back on an error."""
        with self._sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
