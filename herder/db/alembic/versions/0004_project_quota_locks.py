"""project quota locks

Revision ID: 0004
Revises: 0003

One row per project, taken FOR UPDATE while a quota check and the server create it admits run
in one transaction: without it, two concurrent creates under READ COMMITTED both count the
usage before either inserts, and both pass (see herder/db/quotas.py).
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('project_quota_locks',
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('project_id')
    )


def downgrade() -> None:
    op.drop_table('project_quota_locks')
