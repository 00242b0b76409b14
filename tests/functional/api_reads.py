"""Helpers for the read-API tests: raw requests at an exact microversion, policy overrides."""
from oslo_policy import policy


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


def fault(conn, path: str, version: str, method: str = "GET", body=None) -> tuple[int, str]:
    """(code, message) of a request that must fail."""
    status, data, _ = call(conn, path, version, method, body)
    assert status >= 400, (status, data)
    (name, detail), = data.items()
    assert detail["code"] == status
    return status, detail["message"]


def set_policy(cloud, rules: dict[str, str]) -> None:
    """Override policy rules in the running cloud, as an operator's policy file would."""
    cloud.api.enforcer.set_rules(policy.Rules.from_dict(rules), overwrite=False,
                                 use_conf=False)
