"""migrations: the disk copy as timed; compute_nodes: the id of the instances directory

Revision ID: 0013
Revises: 0012

What the herder API's move plans need to answer without a move: how fast earlier copies went
(each migration keeps its own) and which hosts share an instances directory (the id each host
reports).
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_double = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), 'mysql', 'mariadb')


def upgrade() -> None:
    with op.batch_alter_table('migrations') as batch:
        batch.add_column(sa.Column('disk_copy_bytes', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('disk_copy_seconds', _double, nullable=True))
        batch.add_column(sa.Column('disk_copy_shared', sa.Boolean(), nullable=True))
    with op.batch_alter_table('compute_nodes') as batch:
        batch.add_column(sa.Column('instances_dir_id', sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('compute_nodes') as batch:
        batch.drop_column('instances_dir_id')
    with op.batch_alter_table('migrations') as batch:
        for column in ('disk_copy_shared', 'disk_copy_seconds', 'disk_copy_bytes'):
            batch.drop_column(column)
