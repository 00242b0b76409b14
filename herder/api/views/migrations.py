"""Migration bodies of GET /os-migrations and GET /servers/{id}/migrations, per microversion."""
from herder import states
from herder.api.microversion import Version
from herder.api.views.common import iso_micro, links
from herder.db.models import Migration

_HOST_FIELDS = ("source_compute", "source_node", "dest_compute", "dest_node", "dest_host")


def _hosts(migration: Migration, show_host: bool) -> dict:
    """Where the move goes; null for callers the `:host` policy keeps from seeing hosts."""
    return {name: getattr(migration, name) if show_host else None for name in _HOST_FIELDS}


def _added_later(migration: Migration, version: Version) -> dict:
    body = {}
    if version.at_least("2.59"):
        body["uuid"] = migration.uuid
    if version.at_least("2.80"):
        body["user_id"] = migration.user_id
        body["project_id"] = migration.project_id
    return body


def os_migration(migration: Migration, base_url: str, version: Version, show_host: bool) -> dict:
    body = {"id": migration.id, "instance_uuid": migration.instance_uuid,
            "status": migration.status, "created_at": iso_micro(migration.created_at),
            "updated_at": iso_micro(migration.updated_at),
            "old_instance_type_id": migration.old_instance_type_id,
            "new_instance_type_id": migration.new_instance_type_id,
            **_hosts(migration, show_host)}
    if version.at_least("2.23"):
        body["migration_type"] = migration.migration_type
        # Nova links only live migrations; herder serves every in-progress move under
        # /servers/{id}/migrations, so every in-progress move gets its link
        if migration.status in states.MIGRATION_IN_PROGRESS:
            body["links"] = links(base_url, f"servers/{migration.instance_uuid}/migrations",
                                  migration.id)
    body.update(_added_later(migration, version))
    return body


def server_migration(migration: Migration, version: Version, show_host: bool) -> dict:
    """A server's in-progress move: disk progress for cold moves, no memory (no live copy)."""
    body = {"id": migration.id, "server_uuid": migration.instance_uuid,
            "status": migration.status, "created_at": iso_micro(migration.created_at),
            "updated_at": iso_micro(migration.updated_at),
            "disk_total_bytes": migration.disk_total_bytes,
            "disk_processed_bytes": migration.disk_processed_bytes,
            "disk_remaining_bytes": migration.disk_remaining_bytes,
            "memory_total_bytes": None, "memory_processed_bytes": None,
            "memory_remaining_bytes": None,
            **_hosts(migration, show_host)}
    body.update(_added_later(migration, version))
    return body
