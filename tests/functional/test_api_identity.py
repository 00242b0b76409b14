"""The Identity API project lookup herder answers without Keystone, so that `openstack quota
show|set <project>` can resolve the project (tests/functional/test_cli_openstack_moves.py)."""
import openstack
import pytest

from tests.functional.contract import assert_error, raw


def test_admin_finds_any_project_named_by_a_token_as_the_cli_does(cloud, admin):
    found = admin.identity.find_project("demo", ignore_missing=False)
    assert (found.id, found.name, found.domain_id, found.is_enabled) == \
        ("demo", "demo", "default", True)
    resp = raw(cloud, "GET", "/identity/v3/projects/ops-team", token=cloud.conf.admin_token)
    assert resp.status_code == 200
    assert resp.json()["project"]["links"] == {
        "self": f"{cloud.endpoint}/identity/v3/projects/ops-team"}


def test_member_finds_its_own_project_but_not_another(cloud, demo):
    assert demo.identity.find_project("demo", ignore_missing=False).id == "demo"
    assert_error(raw(cloud, "GET", "/identity/v3/projects/other",
                     token="demo:demo:member,reader"),
                 403, "Policy doesn't allow identity:get_project to be performed.")
    with pytest.raises(openstack.exceptions.NotFoundException):
        demo.identity.find_project("other", ignore_missing=False)


def test_project_lookup_needs_a_token_and_a_project_id_a_token_could_name(cloud):
    assert_error(raw(cloud, "GET", "/identity/v3/projects/demo"), 401,
                 "The request you have made requires authentication.")
    assert_error(raw(cloud, "GET", "/identity/v3/projects/a:b", token=cloud.conf.admin_token),
                 404, "Could not find project: a:b.")
    assert_error(raw(cloud, "GET", f"/identity/v3/projects/{'p' * 256}",
                     token=cloud.conf.admin_token),
                 404, f"Could not find project: {'p' * 256}.")
