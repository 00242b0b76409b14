"""Project confirm policies: how long a project's moves may wait in VERIFY_RESIZE, and what then

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade() -> None:
    op.create_table(
        'project_confirm_policies',
        sa.Column('project_id', sa.String(length=255), primary_key=True),
        sa.Column('window_seconds', sa.Integer(), nullable=True),
        sa.Column('action', sa.String(length=16), nullable=True),
        sa.Column('created_at', _timestamp, nullable=False),
        sa.Column('updated_at', _timestamp, nullable=True),
    )


def downgrade() -> None:
    op.drop_table('project_confirm_policies')
