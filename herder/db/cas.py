"""Compare-and-swap updates: every state write names the state it expects to replace."""
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session


def _matches(column, expected: Any):
    """`expected` is a value, None, or a tuple of acceptable values (None allowed in it)."""
    values = expected if isinstance(expected, tuple) else (expected,)
    clauses = [column.is_(None) if v is None else column == v for v in values]
    return or_(*clauses) if len(clauses) > 1 else clauses[0]


def compare_and_swap(session: Session, model, key_column, key: Any, expected: dict,
                     values: dict) -> bool:
    """Update the row whose `key_column` is `key` only if its columns hold `expected`."""
    conditions = [key_column == key] + [_matches(getattr(model, name), value)
                                        for name, value in expected.items()]
    result = session.execute(update(model).where(and_(*conditions)).values(**values)
                             .execution_options(synchronize_session=False))
    # rows matched, not rows changed, on every database (MySQL: FOUND_ROWS, see make_engine)
    return result.rowcount == 1
