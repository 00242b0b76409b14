"""service secrets

Revision ID: 0008
Revises: 0007

Secrets the api and conductor share without configuration, made once by whichever needs one
first: the key that signs image download URLs when [image] url_signing_key is not set and
cannot be derived (behind Keystone with the default admin_token).
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('service_secrets',
                    sa.Column('name', sa.String(length=64), nullable=False),
                    sa.Column('value', sa.String(length=255), nullable=False),
                    sa.PrimaryKeyConstraint('name'))


def downgrade() -> None:
    op.drop_table('service_secrets')
