"""Test databases on a real server: `HERDER_TEST_DB=postgresql` or `mysql` (or `mariadb`, the
same); the default is SQLite.

Every test that needs a database gets one of its own, named `herder_test_<pid>_<n>`, copied from
a template that is migrated once per run, and dropped after the test. Only databases this run
created are ever dropped. `HERDER_TEST_DB` may also be a full SQLAlchemy URL of a server
(e.g. `postgresql+psycopg://user:password@127.0.0.1:5433`) whose user may create databases.
"""
import itertools
import os

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from herder.db.session import upgrade

SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432",
    "mysql": "mysql+pymysql://root@127.0.0.1:3306",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306",
}
KIND = os.environ.get("HERDER_TEST_DB", "sqlite")
PREFIX = f"herder_test_{os.getpid()}_"


class _Server:
    """Creates and drops this run's databases on one server."""

    def __init__(self, url: str):
        self.url = make_url(url)
        self.admin = create_engine(self.url.set(database=self.maintenance_db),
                                   isolation_level="AUTOCOMMIT")
        self.numbers = itertools.count()
        self.template: str | None = None
        self.created: list[str] = []

    def url_of(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def create(self) -> str:
        """A new database holding the migrated schema; its URL."""
        if self.template is None:
            self.template = self._new_name()
            self._execute(self.create_database.format(name=self.template))
            upgrade(self.url_of(self.template))
            self._remember_template()
        name = self._new_name()
        self._copy_template(name)
        return self.url_of(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        assert name.startswith(PREFIX) and name in self.created, name
        self._drop(name)
        self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self._drop(name)
        self.created.clear()
        self.admin.dispose()

    def _new_name(self) -> str:
        name = f"{PREFIX}{next(self.numbers)}"
        self.created.append(name)
        return name

    def _execute(self, *statements: str) -> None:
        with self.admin.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)


class _PostgreSQL(_Server):
    maintenance_db = "postgres"
    create_database = "CREATE DATABASE {name}"

    def _remember_template(self) -> None:
        pass

    def _copy_template(self, name: str) -> None:
        # a file-level copy; needs no one connected to the template (upgrade used NullPool)
        self._execute(f"CREATE DATABASE {name} TEMPLATE {self.template}")

    def _drop(self, name: str) -> None:
        # FORCE: a test that failed may have left a cloud's connections open
        self._execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class _MySQL(_Server):
    maintenance_db = "mysql"
    create_database = "CREATE DATABASE {name} CHARACTER SET utf8mb4"

    def _remember_template(self) -> None:
        # MySQL has no template databases: replay the template's CREATE TABLE statements
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"USE {self.template}")
            tables = [row[0] for row in conn.exec_driver_sql("SHOW TABLES")]
            self.ddl = [conn.exec_driver_sql(f"SHOW CREATE TABLE `{table}`").one()[1]
                        for table in tables]
            self.revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

    def _copy_template(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(self.create_database.format(name=name))
            conn.exec_driver_sql(f"USE {name}")
            conn.exec_driver_sql("SET foreign_key_checks = 0")  # tables in any order
            for statement in self.ddl:
                conn.exec_driver_sql(statement)
            conn.execute(text("INSERT INTO alembic_version VALUES (:revision)"),
                         {"revision": self.revision})
            conn.exec_driver_sql("SET foreign_key_checks = 1")

    def _drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql("SET SESSION lock_wait_timeout = 10")
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")


def _server() -> _Server | None:
    if KIND == "sqlite":
        return None
    url = make_url(SERVERS.get(KIND, KIND))
    return (_MySQL if url.get_backend_name() in ("mysql", "mariadb") else _PostgreSQL)(str(url))


SERVER = _server()  # None: the tests use SQLite files
