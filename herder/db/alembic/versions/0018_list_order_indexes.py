"""Indexes in the order the server and migration lists page through: newest first

Revision ID: 0018
Revises: 0017
"""
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


# Without them, every page of GET /servers/detail or GET /os-migrations sorted the whole table
# to find its 1,000 rows: 75 to 90 ms of PostgreSQL's time per page at 10,000 servers and
# 100,000 migrations (bench/bench_scale.py), growing with the tables.
def upgrade() -> None:
    op.create_index('ix_instances_created_at_id', 'instances', ['created_at', 'id'])
    op.create_index('ix_migrations_created_at_id', 'migrations', ['created_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_migrations_created_at_id', table_name='migrations')
    op.drop_index('ix_instances_created_at_id', table_name='instances')
