"""Accepted requests: what the api accepted and no conductor has taken yet

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade() -> None:
    op.create_table(
        'accepted_requests',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('uuid', sa.String(length=36), nullable=False, unique=True),
        sa.Column('instance_uuid', sa.String(length=36), nullable=False),
        sa.Column('method', sa.String(length=64), nullable=False),
        sa.Column('arguments', sa.JSON(), nullable=False),
        sa.Column('context', sa.JSON(), nullable=False),
        sa.Column('accepted_at', _timestamp, nullable=False),
        sa.Column('resent_at', _timestamp, nullable=True),
    )
    op.create_index('ix_accepted_requests_instance_uuid', 'accepted_requests',
                    ['instance_uuid'])
    op.create_index('ix_accepted_requests_accepted_at', 'accepted_requests', ['accepted_at'])


def downgrade() -> None:
    op.drop_table('accepted_requests')
