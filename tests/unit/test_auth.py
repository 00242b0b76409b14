"""Embedded-mode tokens: `user:project[:role,role]` or the configured admin token."""
import pytest

from herder.api.auth import context_from_token

ADMIN_TOKEN = "secret-admin-token"


def parse(token):
    return context_from_token(token, ADMIN_TOKEN, "req-1")


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_authenticates_nobody(token):
    assert parse(token) is None


def test_admin_token_is_the_cloud_administrator():
    context = parse(ADMIN_TOKEN)
    assert (context.user_id, context.project_id, context.is_admin) == ("admin", "admin", True)
    assert "admin" in context.roles
    assert context.request_id == "req-1"


def test_user_and_project_token_is_a_member_and_reader_of_the_project():
    context = parse("alice:demo")
    assert (context.user_id, context.project_id) == ("alice", "demo")
    assert context.roles == ["member", "reader"]
    assert context.is_admin is False
    assert context.request_id == "req-1"


def test_roles_in_the_token_replace_the_default_roles():
    context = parse("bob:demo:reader")
    assert context.roles == ["reader"] and not context.is_admin


def test_admin_role_in_the_token_makes_an_administrator():
    context = parse("carol:ops:member,admin")
    assert context.roles == ["member", "admin"] and context.is_admin


def test_empty_role_entries_are_dropped():
    assert parse("dave:demo:,reader,").roles == ["reader"]


@pytest.mark.parametrize("token", ["alice", "alice:", ":demo", "::", "a:b:c:d",
                                   "secret-admin-token-but-longer"])
def test_malformed_token_authenticates_nobody(token):
    assert parse(token) is None
