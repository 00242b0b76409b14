"""migrations: when an abort of the move was asked for

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade() -> None:
    op.add_column('migrations', sa.Column('abort_requested_at', _timestamp, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('migrations') as batch:
        batch.drop_column('abort_requested_at')
