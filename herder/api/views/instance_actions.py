"""Instance action and event bodies, per microversion (2.51, 2.58, 2.62, 2.84)."""
from herder.api.microversion import Version
from herder.api.views.common import host_id_for, iso_micro
from herder.db.models import InstanceAction, InstanceActionEvent


def action(row: InstanceAction, version: Version) -> dict:
    body = {"action": row.action, "instance_uuid": row.instance_uuid,
            "request_id": row.request_id, "user_id": row.user_id,
            "project_id": row.project_id, "start_time": iso_micro(row.start_time),
            "message": row.message}
    if version.at_least("2.58"):
        body["updated_at"] = iso_micro(row.updated_at)
    return body


def event(row: InstanceActionEvent, version: Version, project_id: str, *,
          show_traceback: bool, show_host: bool, show_details: bool = False) -> dict:
    """`project_id` salts the 2.62 `hostId`; `show_host` is the events policy at 2.62+;
    `show_details` the events:details policy, which shows the 2.84 `details` (why an event
    failed, without the traceback)."""
    body = {"event": row.event, "start_time": iso_micro(row.start_time),
            "finish_time": iso_micro(row.finish_time), "result": row.result}
    if show_traceback:
        body["traceback"] = row.traceback
    if version.at_least("2.62"):
        body["hostId"] = host_id_for(project_id, row.host)
        if show_host:
            body["host"] = row.host
    if version.at_least("2.84") and show_details:
        body["details"] = row.details
    return body
