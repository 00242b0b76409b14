"""One page of GET /servers(/detail): filtered, sorted and paged by the database.

The page costs a fixed number of queries whatever the number of servers: one for the `status`
filter (which servers' state pairs show that status), one for the marker, one for the page
(two when a `name` pattern is given: see `page`). What a detailed body needs of other tables
is loaded for the whole page at once by the callers (instances.current_faults,
services.computes_on, instances.request_specs).

Ordering matches Python's comparison of the values, on every database: text compares by code
point (a binary collation that does not pad with spaces), and a missing value (NULL) sorts
before any other in ascending order and after all in descending order.
"""
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import and_, case, false, func, inspect, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from herder import exception, states
from herder.db.models import Instance
from herder.db.session import Database

# How each state filter compares (its values as the API received them: text)
ONE_OF = ("vm_state", "task_state")                        # any of the values given
CONTAINS = ("availability_zone", "key_name", "config_drive")  # the value is part of the field
INSTANT = ("created_at", "launched_at", "terminated_at")     # the time named (see _instant)
# the others (user_id, power_state, progress) compare exactly, as text

# Text columns compare by code point, with no padding: SQLite's default (BINARY) does already
_BINARY_COLLATION = {"postgresql": "C", "mariadb": "utf8mb4_nopad_bin",
                     "mysql": "utf8mb4_0900_bin"}


@dataclass
class ServerFilter:
    """What a list asks for (None: not filtered)."""
    project_id: str | None = None       # None: every project
    include_deleted: bool = False
    name_matches: Callable[[str], bool] | None = None
    status: str | None = None           # an API status, as states.server_status gives it
    host: str | None = None
    image_ref: str | None = None
    flavorid: str | None = None
    changes_since: datetime | None = None
    changes_before: datetime | None = None
    states: dict = field(default_factory=dict)   # state filter -> value (a list for ONE_OF)


@dataclass
class Page:
    servers: list[Instance]
    more: bool    # servers beyond this page match too


def page(db: Database, wanted: ServerFilter, order: list[tuple[str, bool]], limit: int,
         marker: str | None = None) -> Page:
    """The servers matching `wanted` in `order` ((attribute, descending) pairs that end with
    a unique one), after the server `marker` names, `limit` of them at most. A marker that is
    not one of the matching servers is MarkerNotFound.

    A `name` pattern is matched in Python (the databases' regular expressions differ from each
    other and from the API's): the candidates' ids and names come first, in order, and the page
    is then loaded by id."""
    with db.transaction() as session:
        dialect = session.get_bind().dialect
        collation = _BINARY_COLLATION.get("mariadb" if getattr(dialect, "is_mariadb", False)
                                          else dialect.name)
        columns = inspect(Instance).columns
        keys = [_SortKey(attribute, columns[attribute], descending, collation)
                for attribute, descending in order]
        where = _conditions(session, wanted, dialect.name)
        if marker is not None:
            last = session.scalars(select(Instance).where(*where, Instance.uuid == marker)).first()
            if last is None or (wanted.name_matches is not None and
                                not wanted.name_matches(last.display_name)):
                raise exception.MarkerNotFound(marker=marker)
            where.append(_after(keys, last))
        ordering = [term for key in keys for term in key.order_by()]
        if wanted.name_matches is None:
            rows = list(session.scalars(select(Instance).where(*where).order_by(*ordering)
                                        .limit(limit + 1)))
        else:
            ids = []
            for row_id, name in session.execute(select(Instance.id, Instance.display_name)
                                                .where(*where).order_by(*ordering)):
                if wanted.name_matches(name):
                    ids.append(row_id)
                    if len(ids) > limit:
                        break
            by_id = {row.id: row for row in session.scalars(
                select(Instance).where(Instance.id.in_(ids)))} if ids else {}
            rows = [by_id[row_id] for row_id in ids]
    return Page(rows[:limit], len(rows) > limit)


def _conditions(session, wanted: ServerFilter, dialect: str) -> list[ColumnElement]:
    where = []
    if wanted.project_id is not None:
        where.append(Instance.project_id == wanted.project_id)
    if not wanted.include_deleted:
        where.append(Instance.deleted.is_(False))
    if wanted.status is not None:
        where.append(_showing_status(session, list(where), wanted.status))
    for column, value in ((Instance.host, wanted.host), (Instance.image_ref, wanted.image_ref),
                          (Instance.flavor["flavorid"].as_string(), wanted.flavorid)):
        if value is not None:
            where.append(column == value)
    changed = func.coalesce(Instance.updated_at, Instance.created_at)
    if wanted.changes_since is not None:
        where.append(changed >= wanted.changes_since)
    if wanted.changes_before is not None:
        where.append(changed <= wanted.changes_before)
    for name, value in wanted.states.items():
        where.append(_state(getattr(Instance, name), name, value, dialect))
    return where


def _showing_status(session, scope: list, status: str) -> ColumnElement:
    """The servers whose (vm_state, task_state) show `status`. Which pairs do is decided by
    states.server_status itself, over the pairs the servers in `scope` hold (a few): the
    database need not know how Nova derives a status."""
    pairs = session.execute(select(Instance.vm_state, Instance.task_state).where(*scope)
                            .distinct()).all()
    showing = [and_(Instance.vm_state == vm_state,
                    Instance.task_state.is_(None) if task_state is None
                    else Instance.task_state == task_state)
               for vm_state, task_state in pairs
               if states.server_status(vm_state, task_state) == status]
    return or_(false(), *showing)


def _state(column, name: str, value, dialect: str) -> ColumnElement:
    if name in ONE_OF:
        return column.in_(value)
    if name in INSTANT:
        return _instant(column, value)
    if name in CONTAINS:
        # LIKE ignores case on SQLite, and its wildcards would need escaping: a position
        # search compares exactly everywhere
        position = func.strpos(column, value) if dialect == "postgresql" \
            else func.instr(column, value)
        return and_(column.is_not(None), position > 0)
    if column.type.python_type is int:
        # compared as text: "07" or "1.0" is no power state's text
        try:
            number = int(value)
        except ValueError:
            return false()
        return column == number if str(number) == value else false()
    return column == value


def _instant(column, value: datetime) -> ColumnElement:
    """The time named: to the microsecond when it has a fraction; otherwise anywhere in that
    second, since the API shows `created` to the second (and times used to be stored so)."""
    value = value.replace(tzinfo=None)
    if value.microsecond:
        return column == value
    return and_(column >= value, column < value + timedelta(seconds=1))


@dataclass
class _SortKey:
    attribute: str
    column: object     # the table's Column: its type and nullability
    descending: bool
    collation: str | None

    def value(self):
        if self.collation is not None and self.column.type.python_type is str:
            return self.column.collate(self.collation)
        return self.column

    def order_by(self) -> list:
        # NULL first ascending, last descending (as None compared below everything)
        terms = []
        if self.column.nullable:
            present = case((self.column.is_(None), 0), else_=1)
            terms.append(present.desc() if self.descending else present.asc())
        terms.append(self.value().desc() if self.descending else self.value().asc())
        return terms

    def equal(self, marker) -> ColumnElement:
        return self.column.is_(None) if marker is None else self.value() == marker

    def after(self, marker) -> ColumnElement:
        """Whether a row comes after the marker's value on this key alone."""
        if self.descending:
            if marker is None:
                return false()   # NULLs come last
            return or_(self.value() < marker, self.column.is_(None))
        if marker is None:
            return self.column.is_not(None)
        return self.value() > marker   # a NULL (first) never comes after a value


def _after(keys: list[_SortKey], marker: Instance) -> ColumnElement:
    """The rows after `marker` in the order of `keys`: equal on the first i keys and after it
    on the next, for some i."""
    values = [getattr(marker, key.attribute) for key in keys]
    alternatives = []
    for i, key in enumerate(keys):
        alternatives.append(and_(true(), *(keys[j].equal(values[j]) for j in range(i)),
                                 key.after(values[i])))
    return or_(false(), *alternatives)
