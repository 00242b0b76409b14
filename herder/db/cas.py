"""Compare-and-swap updates: every state write names the state it expects to replace."""
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session


def _matches(column, expected: Any):
    """`expected` is a value, None, or a tuple of acceptable values (None allowed in it)."""
    values = expected if isinstance(expected, tuple) else (expected,)
    clauses = [column.is_(None) if v is None else column == v for v in values]
    return or_(*clauses) if len(clauses) > 1 else clauses[0]


def compare_and_swap(session: Session, model, key_column, key: Any, expected: dict,
                     values: dict):
    """Update the row whose `key_column` is `key` only if its columns hold `expected`; the row
    as written, or None if it did not match (or does not exist)."""
    conditions = [key_column == key] + [_matches(getattr(model, name), value)
                                        for name, value in expected.items()]
    swap = update(model).where(and_(*conditions)).values(**values)
    # the row comes back fresh even if this session had loaded it before the update
    options = {"synchronize_session": False, "populate_existing": True}
    if session.get_bind().dialect.update_returning:
        # PostgreSQL and SQLite: the written row in the same statement
        return session.scalars(swap.returning(model), execution_options=options).first()
    # MySQL/MariaDB have no UPDATE ... RETURNING: count the rows matched (FOUND_ROWS, see
    # make_engine), then read the row back inside the same transaction
    if session.execute(swap, execution_options=options).rowcount != 1:
        return None
    return session.scalars(select(model).where(key_column == key),
                           execution_options=options).one()
