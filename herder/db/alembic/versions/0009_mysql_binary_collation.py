"""MySQL/MariaDB: text compares byte for byte, as on PostgreSQL and SQLite

Revision ID: 0009
Revises: 0008

A database created with utf8mb4 gets a case- and accent-insensitive default collation
(utf8mb4_general_ci, or utf8mb4_uca1400_ai_ci on MariaDB 11), under which a server's uuid
written in capitals finds the server, a flavor id "A" finds flavor "a", and two flavors whose
names differ only in case cannot both exist: none of that is true on PostgreSQL or SQLite,
whose text comparisons are exact. Every table (and the database's default, for tables made
later) gets utf8mb4_bin. SQLite and PostgreSQL: nothing to do.
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _collate(collation: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'mysql':  # also MariaDB
        return
    op.execute(f"ALTER DATABASE CHARACTER SET utf8mb4 COLLATE {collation}")
    inspector = sa.inspect(bind)
    tables = inspector.get_table_names()
    # MariaDB refuses to change the collation of a foreign key's column, even with the checks
    # off: the keys go, and come back once both sides have the new collation
    keys = {table: inspector.get_foreign_keys(table) for table in tables}
    for table, table_keys in keys.items():
        for key in table_keys:
            op.drop_constraint(key['name'], table, type_='foreignkey')
    for table in tables:
        op.execute(f"ALTER TABLE `{table}` CONVERT TO CHARACTER SET utf8mb4 COLLATE {collation}")
    for table, table_keys in keys.items():
        for key in table_keys:
            op.create_foreign_key(key['name'], table, key['referred_table'],
                                  key['constrained_columns'], key['referred_columns'],
                                  **key.get('options', {}))


def upgrade() -> None:
    _collate('utf8mb4_bin')


def downgrade() -> None:
    _collate('utf8mb4_general_ci')
