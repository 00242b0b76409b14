"""Host drains and restores: jobs that move every server off a host, or back onto it

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade() -> None:
    op.create_table(
        'host_drains',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('uuid', sa.String(length=36), nullable=False, unique=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False, index=True),
        sa.Column('active_host', sa.String(length=255), nullable=True, unique=True),
        sa.Column('reason', sa.String(length=255), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False, index=True),
        sa.Column('max_per_source', sa.Integer(), nullable=False),
        sa.Column('max_per_destination', sa.Integer(), nullable=False),
        sa.Column('auto_confirm', sa.Boolean(), nullable=False),
        sa.Column('drain_uuid', sa.String(length=36), nullable=True),
        sa.Column('user_id', sa.String(length=255), nullable=True),
        sa.Column('project_id', sa.String(length=255), nullable=True),
        sa.Column('owner', sa.String(length=255), nullable=True),
        sa.Column('lease_until', _timestamp, nullable=True),
        sa.Column('finished_at', _timestamp, nullable=True),
        sa.Column('created_at', _timestamp, nullable=False),
        sa.Column('updated_at', _timestamp, nullable=True),
    )
    op.create_table(
        'host_drain_servers',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('drain_uuid', sa.String(length=36),
                  sa.ForeignKey('host_drains.uuid', ondelete='CASCADE'), nullable=False,
                  index=True),
        sa.Column('instance_uuid', sa.String(length=36), nullable=False, index=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('source_host', sa.String(length=255), nullable=True),
        sa.Column('dest_host', sa.String(length=255), nullable=True),
        sa.Column('migration_uuid', sa.String(length=36), nullable=True),
        sa.Column('migrations_before', sa.Integer(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('started_at', _timestamp, nullable=True),
        sa.Column('finished_at', _timestamp, nullable=True),
    )


def downgrade() -> None:
    op.drop_table('host_drain_servers')
    op.drop_table('host_drains')
