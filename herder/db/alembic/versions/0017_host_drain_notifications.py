"""Host drain notifications: the versioned notifications of drain and restore jobs, written
with the change they report and sent by the job's conductor

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

_timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade() -> None:
    op.create_table(
        'host_drain_notifications',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('drain_uuid', sa.String(length=36),
                  sa.ForeignKey('host_drains.uuid', ondelete='CASCADE'), nullable=False,
                  index=True),
        sa.Column('priority', sa.String(length=8), nullable=False),
        sa.Column('event_type', sa.String(length=64), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('created_at', _timestamp, nullable=False),
        sa.Column('sent_at', _timestamp, nullable=True, index=True),
    )


def downgrade() -> None:
    op.drop_table('host_drain_notifications')
