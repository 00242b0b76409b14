"""move slots: how many moves each host takes part in at once, and the moves waiting for one

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

_timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade() -> None:
    op.add_column('compute_nodes',
                  sa.Column('max_concurrent_migrations', sa.Integer(), nullable=True))
    op.create_table(
        'move_slots',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('migration_uuid', sa.String(length=36), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('queued_at', _timestamp, nullable=False),
        sa.UniqueConstraint('migration_uuid', 'host'),
    )
    op.create_index('ix_move_slots_migration_uuid', 'move_slots', ['migration_uuid'])
    op.create_index('ix_move_slots_host', 'move_slots', ['host'])
    op.create_index('ix_move_slots_state', 'move_slots', ['state'])
    op.create_table(
        'move_queue_lock',
        sa.Column('name', sa.String(length=32), primary_key=True),
    )
    op.bulk_insert(sa.table('move_queue_lock', sa.column('name', sa.String)),
                   [{'name': 'move-slots'}])


def downgrade() -> None:
    op.drop_table('move_queue_lock')
    op.drop_table('move_slots')
    with op.batch_alter_table('compute_nodes') as batch:
        batch.drop_column('max_concurrent_migrations')
