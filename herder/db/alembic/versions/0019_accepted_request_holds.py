"""A conductor's hold on an accepted request it has taken from its queue

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

_timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


# Until a conductor journals a request's workflow, the request's record is all that says it is
# on its way; without a hold, a request queued behind others in a busy conductor for longer
# than [workflow] request_resend_after looked lost, and was sent again (see
# conductor/leases.py).
def upgrade() -> None:
    with op.batch_alter_table('accepted_requests') as batch:
        batch.add_column(sa.Column('held_until', _timestamp, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('accepted_requests') as batch:
        batch.drop_column('held_until')
