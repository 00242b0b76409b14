"""Keystone mode: the identity auth_token confirmed, read from the headers it sets."""
import falcon.testing
import pytest

from herder.api.keystone import context_from_request

CONFIRMED = {"X-Identity-Status": "Confirmed", "X-User-Id": "u1", "X-Project-Id": "p1",
             "X-Roles": "member,reader"}


def context(headers: dict):
    return context_from_request(falcon.testing.create_req(headers=headers), "req-1")


def test_confirmed_token_gives_its_user_project_and_roles():
    found = context(CONFIRMED)
    assert (found.user_id, found.project_id, found.roles) == ("u1", "p1", ["member", "reader"])
    assert (found.is_admin, found.request_id) == (False, "req-1")


def test_admin_role_in_any_case_is_an_administrator():
    assert context({**CONFIRMED, "X-Roles": "reader, Admin"}).is_admin is True


@pytest.mark.parametrize("headers", [
    {}, {**CONFIRMED, "X-Identity-Status": "Invalid"},
    {**CONFIRMED, "X-Service-Identity-Status": "Invalid"},  # a refused service token
    {k: v for k, v in CONFIRMED.items() if k != "X-Project-Id"},  # domain-scoped token
])
def test_unconfirmed_or_unscoped_identity_is_nobody(headers):
    assert context(headers) is None


def test_confirmed_service_token_alongside_is_fine():
    assert context({**CONFIRMED, "X-Service-Identity-Status": "Confirmed"}).user_id == "u1"
