"""instance hostname

Revision ID: 0006
Revises: 0005

A server's hostname, which the Compute API shows as OS-EXT-SRV-ATTR:hostname and lets a caller
choose from microversion 2.90. Servers created before this revision have none stored; the API
derives one from their name, as it does for every new server created without one.
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('instances') as batch:
        batch.add_column(sa.Column('hostname', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('instances') as batch:
        batch.drop_column('hostname')
