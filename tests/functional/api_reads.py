"""Helpers for the read-API tests: raw requests at an exact microversion, policy overrides, and
a failed action to read."""
import re
from datetime import datetime

from oslo_policy import policy

from tests.functional.observe import instance_record, wait_until


def call(conn, path: str, version: str, method: str = "GET", body=None):
    """(status, JSON body, response) of a raw request at `version` through the SDK session."""
    kwargs = {"microversion": version}
    if body is not None:
        kwargs["json"] = body
    response = getattr(conn.compute, method.lower())(path, **kwargs)
    try:
        data = response.json()
    except ValueError:
        data = None
    return response.status_code, data, response


def ok(conn, path: str, version: str) -> dict:
    status, data, _ = call(conn, path, version)
    assert status == 200, (status, data)
    return data


def error(conn, path: str, version: str, method: str = "GET", body=None) -> tuple[int, str]:
    """(code, message) of a request that must fail."""
    status, data, _ = call(conn, path, version, method, body)
    assert status >= 400, (status, data)
    (name, detail), = data.items()
    assert detail["code"] == status
    return status, detail["message"]


def microsecond_time(value: str) -> datetime:
    """A time in the form Nova shows for migrations, services and actions (to the microsecond,
    no zone: 2026-12-07T05:27:32.123456), as a datetime; any other form fails the test."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", value), value
    return datetime.fromisoformat(value)


def set_policy(cloud, rules: dict[str, str]) -> None:
    """Override policy rules in the running cloud, as an operator's policy file would."""
    cloud.api.enforcer.set_rules(policy.Rules.from_dict(rules), overwrite=False,
                                 use_conf=False)


def failed_migrate(cloud, admin, server) -> dict:
    """Migrate `server` with power-off failing on its host; its migrate action, once
    `os-instance-actions` (at 2.1) lists it as failed."""
    cloud.computes[instance_record(cloud, server.id).host].driver.fault_points.arm("power_off")
    admin.compute.migrate_server(server)
    listed = f"/servers/{server.id}/os-instance-actions"
    return wait_until(lambda: next((a for a in ok(admin, listed, "2.1")["instanceActions"]
                                    if a["message"] == "Error"), None),
                      message="the migrate action to fail")
