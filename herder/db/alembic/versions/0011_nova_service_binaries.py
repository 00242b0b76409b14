"""services: Nova's binary names (nova-compute, nova-conductor, nova-scheduler)

Revision ID: 0011
Revises: 0010

The services table held herder's names (herder-compute, ...), which the Compute API showed as
they were; clients and scripts written for Nova look services up and switch them by Nova's
names. The rows of an existing deployment are renamed in place, so that a host keeps its
id, uuid and disabled switch. A row whose new name is taken already (a service of the new
release that reported before this ran) is left as it was rather than merged.
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

RENAMED = {'herder-compute': 'nova-compute', 'herder-conductor': 'nova-conductor',
           'herder-scheduler': 'nova-scheduler'}

_services = sa.table('services', sa.column('id', sa.Integer), sa.column('host', sa.String),
                     sa.column('binary', sa.String))


def _rename(names: dict[str, str]) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_services.c.id, _services.c.host, _services.c.binary)).all()
    taken = {(row.host, row.binary) for row in rows}
    for row in rows:
        new = names.get(row.binary)
        if new is None or (row.host, new) in taken:
            continue
        bind.execute(sa.update(_services).where(_services.c.id == row.id).values(binary=new))
        taken.discard((row.host, row.binary))
        taken.add((row.host, new))


def upgrade() -> None:
    _rename(RENAMED)


def downgrade() -> None:
    _rename({new: old for old, new in RENAMED.items()})
