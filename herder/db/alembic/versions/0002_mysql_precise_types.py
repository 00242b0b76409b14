"""MySQL/MariaDB: microsecond timestamps and double-precision ratios

Revision ID: 0002
Revises: 0001

0001 created DateTime columns as DATETIME, which MySQL and MariaDB store without fractional
seconds, and Float columns as single-precision FLOAT. herder keeps microseconds in fault and
action times (to order them), and a FLOAT turns an allocation ratio of 0.9 into 0.8999999762.
SQLite and PostgreSQL already keep both exactly, so this migration does nothing on them.
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# table -> (column, nullable), as created by 0001
TIMESTAMPS = {
    'compute_nodes': [('created_at', False), ('updated_at', True)],
    'flavors': [('created_at', False), ('updated_at', True)],
    'images': [('created_at', False), ('updated_at', True)],
    'instance_actions': [('start_time', False), ('finish_time', True), ('updated_at', True)],
    'instance_actions_events': [('start_time', False), ('finish_time', True)],
    'instance_faults': [('created_at', False)],
    'instances': [('launched_at', True), ('terminated_at', True), ('deleted_at', True),
                  ('created_at', False), ('updated_at', True)],
    'migrations': [('created_at', False), ('updated_at', True)],
    'services': [('last_seen_up', True), ('created_at', False), ('updated_at', True)],
    'workflows': [('created_at', False), ('updated_at', True)],
    'workflow_steps': [('started_at', False), ('finished_at', True)],
}
RATIOS = {
    'compute_nodes': [('cpu_allocation_ratio', False), ('ram_allocation_ratio', False),
                      ('disk_allocation_ratio', False)],
    'flavors': [('rxtx_factor', False)],
}


def _modify(timestamp_type: str, ratio_type: str) -> None:
    if op.get_bind().dialect.name != 'mysql':  # also MariaDB
        return
    for table in sorted(set(TIMESTAMPS) | set(RATIOS)):
        columns = [(name, timestamp_type, nullable) for name, nullable in TIMESTAMPS.get(table, [])]
        columns += [(name, ratio_type, nullable) for name, nullable in RATIOS.get(table, [])]
        # one ALTER per table: MySQL copies the table for each one
        op.execute(f"ALTER TABLE `{table}` " + ", ".join(
            f"MODIFY `{name}` {type_} {'NULL' if nullable else 'NOT NULL'}"
            for name, type_, nullable in columns))


def upgrade() -> None:
    _modify('DATETIME(6)', 'DOUBLE')


def downgrade() -> None:
    _modify('DATETIME', 'FLOAT')
