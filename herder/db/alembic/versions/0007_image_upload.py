"""image upload

Revision ID: 0007
Revises: 0006

Images become an Image API v2 store that takes uploads: an image is created `queued`, with no
data, so its size (and name and formats, which glance lets a caller leave out) may be null
until then; the upload records glance's `os_hash_algo`/`os_hash_value` (sha512) beside the md5
`checksum`, and the virtual size read from the data. `protected` images cannot be deleted;
`tags` are kept as given. Images stored before this revision keep their values; the catalogue
(herder/catalogue.py) fills in the hash of the image it made.
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# column -> (type, value for rows that hold null, on downgrade)
NULLABLE_NOW = {
    'name': (sa.String(length=255), "''"),
    'disk_format': (sa.String(length=36), "'raw'"),
    'container_format': (sa.String(length=36), "'bare'"),
    'size': (sa.BigInteger(), '0'),
}


def upgrade() -> None:
    with op.batch_alter_table('images') as batch:
        for column, (type_, _) in NULLABLE_NOW.items():
            batch.alter_column(column, existing_type=type_, nullable=True)
        batch.add_column(sa.Column('virtual_size', sa.BigInteger(), nullable=True))
        # existing rows are not protected; the server default fills them in
        batch.add_column(sa.Column('protected', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('os_hash_algo', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('os_hash_value', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('tags', sa.JSON(), nullable=True))


def downgrade() -> None:
    for column, (_, filler) in NULLABLE_NOW.items():
        op.execute(f"UPDATE images SET {column} = {filler} WHERE {column} IS NULL")
    with op.batch_alter_table('images') as batch:
        batch.drop_column('tags')
        batch.drop_column('os_hash_value')
        batch.drop_column('os_hash_algo')
        batch.drop_column('protected')
        batch.drop_column('virtual_size')
        for column, (type_, _) in NULLABLE_NOW.items():
            batch.alter_column(column, existing_type=type_, nullable=False)
