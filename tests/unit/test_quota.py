"""Quota checks against a real database: Nova's message, limits, deltas for resize."""
import pytest

from herder import exception, quota
from herder.db.models import Quota


def check(db, conf, project_id: str, wanted: dict) -> None:
    """What a create or resize does: the check, under the project's quota lock."""
    with quota.admitted(db, conf, project_id, wanted):
        pass


def set_limit(db, project_id: str, resource: str, limit: int) -> None:
    with db.transaction() as session:
        session.add(Quota(project_id=project_id, resource=resource, hard_limit=limit))


def test_request_within_the_default_limits_passes(db, conf, add_server):
    add_server("demo", vcpus=2, memory_mb=2048)
    check(db, conf, "demo", {"instances": 1, "cores": 2, "ram": 2048})


def test_exceeding_ram_gives_novas_message(db, conf, add_server):
    add_server("demo", vcpus=4, memory_mb=40960)
    with pytest.raises(exception.QuotaExceeded) as caught:
        check(db, conf, "demo", {"cores": 1, "ram": 16384})
    assert str(caught.value) == ("Quota exceeded for ram: Requested 16384, but already used "
                                 "40960 of 51200 ram")


def test_exactly_reaching_the_limit_is_allowed(db, conf, add_server):
    add_server("demo", vcpus=16, memory_mb=1024)
    check(db, conf, "demo", {"cores": 4})
    with pytest.raises(exception.QuotaExceeded):
        check(db, conf, "demo", {"cores": 5})


def test_every_exceeded_resource_is_listed(db, conf, add_server):
    set_limit(db, "demo", "cores", 4)
    set_limit(db, "demo", "ram", 4096)
    add_server("demo", vcpus=4, memory_mb=4096)
    with pytest.raises(exception.QuotaExceeded) as caught:
        check(db, conf, "demo", {"instances": 1, "cores": 2, "ram": 512})
    assert str(caught.value) == ("Quota exceeded for cores, ram: Requested 2, 512, but already "
                                 "used 4, 4096 of 4, 4096 cores, ram")


def test_project_limit_overrides_the_configured_default(db, conf):
    set_limit(db, "demo", "instances", 0)
    with pytest.raises(exception.QuotaExceeded) as caught:
        check(db, conf, "demo", {"instances": 1})
    assert str(caught.value) == ("Quota exceeded for instances: Requested 1, but already used 0 "
                                 "of 0 instances")
    check(db, conf, "other", {"instances": 1})


def test_unlimited_quota_never_refuses(db, conf, add_server):
    set_limit(db, "demo", "ram", -1)
    add_server("demo", vcpus=1, memory_mb=10 ** 6)
    check(db, conf, "demo", {"ram": 10 ** 6})


def test_only_live_servers_of_the_project_count(db, conf, add_server):
    set_limit(db, "demo", "ram", 4096)
    add_server("demo", vcpus=1, memory_mb=2048)
    add_server("demo", vcpus=1, memory_mb=4096, deleted=True)
    add_server("other", vcpus=1, memory_mb=4096)
    check(db, conf, "demo", {"ram": 2048})
    with pytest.raises(exception.QuotaExceeded) as caught:
        check(db, conf, "demo", {"ram": 2049})
    assert "already used 2048 of 4096 ram" in str(caught.value)


def test_resize_counts_only_the_growth_in_cores_and_ram():
    old = {"vcpus": 2, "memory_mb": 2048}
    assert quota.resize_delta(old, {"vcpus": 4, "memory_mb": 1024}) == {"cores": 2, "ram": -1024}


def test_shrinking_resize_is_never_refused_even_over_quota(db, conf, add_server):
    set_limit(db, "demo", "cores", 1)
    set_limit(db, "demo", "ram", 512)
    add_server("demo", vcpus=4, memory_mb=4096)
    delta = quota.resize_delta({"vcpus": 4, "memory_mb": 4096}, {"vcpus": 2, "memory_mb": 2048})
    check(db, conf, "demo", delta)


def test_growing_resize_is_checked_on_the_growth_only(db, conf, add_server):
    set_limit(db, "demo", "ram", 4096)
    add_server("demo", vcpus=2, memory_mb=2048)
    old = {"vcpus": 2, "memory_mb": 2048}
    check(db, conf, "demo", quota.resize_delta(old, {"vcpus": 2, "memory_mb": 4096}))
    with pytest.raises(exception.QuotaExceeded) as caught:
        check(db, conf, "demo", quota.resize_delta(old, {"vcpus": 2, "memory_mb": 4097}))
    assert str(caught.value) == ("Quota exceeded for ram: Requested 2049, but already used 2048 "
                                 "of 4096 ram")


def test_a_server_in_a_resize_holds_the_largest_of_its_flavors(db, conf, add_server):
    set_limit(db, "demo", "cores", 10)
    set_limit(db, "demo", "ram", 10000)
    # an upsize in flight: the new flavor is held from the request on
    add_server("demo", vcpus=2, memory_mb=1000, new_flavor={"vcpus": 4, "memory_mb": 3000})
    # a downsize waiting in VERIFY_RESIZE: the old flavor is held until it is confirmed
    add_server("demo", vcpus=1, memory_mb=500, old_flavor={"vcpus": 3, "memory_mb": 4000},
               new_flavor={"vcpus": 1, "memory_mb": 500})
    assert quota.quotas.usage(db, "demo")["cores"] == 7
    assert quota.quotas.usage(db, "demo")["ram"] == 7000
    check(db, conf, "demo", {"cores": 3, "ram": 3000})
    with pytest.raises(exception.QuotaExceeded) as caught:
        check(db, conf, "demo", {"cores": 4})
    assert "already used 7 of 10 cores" in str(caught.value)


def test_a_limit_below_usage_is_refused_unless_forced(db, conf, add_server):
    add_server("demo", vcpus=4, memory_mb=1024)
    with pytest.raises(quota.LimitBelowUsage) as caught:
        quota.set_limits(db, conf, "demo", {"ram": 4096, "cores": 3})
    assert str(caught.value) == ("Quota limit 3 for cores must be greater than or equal to "
                                 "already used and reserved 4.")
    assert quota.quotas.limits(db, conf, "demo")["ram"] == 51200     # nothing changed
    assert quota.set_limits(db, conf, "demo", {"cores": 3}, force=True)["cores"] == 3
    assert quota.set_limits(db, conf, "demo", {"cores": -1})["cores"] == -1
    assert quota.quotas.limits(db, conf, "demo")["cores"] == -1
    assert quota.quotas.limits(db, conf, "other")["cores"] == 20


def test_admitted_refuses_before_the_block_runs_and_commits_with_it(db, conf, add_server):
    set_limit(db, "demo", "instances", 1)
    ran = []
    with quota.admitted(db, conf, "demo", {"instances": 1}):
        ran.append("first")
    add_server("demo", vcpus=1, memory_mb=512)
    with pytest.raises(exception.QuotaExceeded):
        with quota.admitted(db, conf, "demo", {"instances": 1}):
            ran.append("second")
    assert ran == ["first"]
