"""workflow owner and lease

Revision ID: 0005
Revises: 0004

Several conductors may run at once. Each unfinished workflow belongs to the conductor that runs
it (`owner`, one id per conductor process) for as long as that conductor keeps renewing its
lease (`lease_until`); a workflow whose lease ran out is adopted by another conductor, or by the
same one after a restart, and recovered from its journal.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')
    with op.batch_alter_table('workflows') as batch:
        batch.add_column(sa.Column('owner', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('lease_until', timestamp, nullable=True))
        batch.create_index('ix_workflows_owner', ['owner'])


def downgrade() -> None:
    with op.batch_alter_table('workflows') as batch:
        batch.drop_index('ix_workflows_owner')
        batch.drop_column('lease_until')
        batch.drop_column('owner')
