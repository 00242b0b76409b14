"""What crosses the bus about a server or a migration: plain JSON-able dicts.

Compute hosts have no database; everything they need about a server arrives in this form.
"""
from herder.db.models import Instance, Migration


def instance_to_wire(instance: Instance) -> dict:
    return {
        "uuid": instance.uuid, "display_name": instance.display_name,
        "hostname": instance.hostname,
        "project_id": instance.project_id, "user_id": instance.user_id,
        "host": instance.host, "node": instance.node, "flavor": instance.flavor,
        "old_flavor": instance.old_flavor, "new_flavor": instance.new_flavor,
        "vm_state": instance.vm_state, "task_state": instance.task_state,
        "power_state": instance.power_state, "image_ref": instance.image_ref,
        "availability_zone": instance.availability_zone,
        "system_metadata": dict(instance.system_metadata or {}),
        "addresses": instance.addresses or {},
    }


def migration_to_wire(migration: Migration) -> dict:
    return {
        "uuid": migration.uuid, "id": migration.id, "instance_uuid": migration.instance_uuid,
        "source_compute": migration.source_compute, "source_node": migration.source_node,
        "dest_compute": migration.dest_compute, "dest_node": migration.dest_node,
        "dest_host": migration.dest_host, "status": migration.status,
        "migration_type": migration.migration_type,
    }
