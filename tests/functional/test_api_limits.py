"""GET /limits: the project's absolute limits and usage, per microversion; another project's
for admins (tenant_id)."""
from tests.functional.api_reads import call, error, ok
from tests.functional.observe import create_server

AT_2_1 = {"maxImageMeta": 128, "maxPersonality": 5, "maxPersonalitySize": 10240,
          "maxSecurityGroupRules": 20, "maxSecurityGroups": 10, "maxServerMeta": 128,
          "maxTotalCores": 20, "maxTotalFloatingIps": 10, "maxTotalInstances": 10,
          "maxTotalKeypairs": 100, "maxTotalRAMSize": 51200, "maxServerGroups": 10,
          "maxServerGroupMembers": 10, "totalCoresUsed": 0, "totalInstancesUsed": 0,
          "totalRAMUsed": 0, "totalFloatingIpsUsed": 0, "totalSecurityGroupsUsed": 0,
          "totalServerGroupsUsed": 0}
NETWORK = {"maxSecurityGroupRules", "maxSecurityGroups", "maxTotalFloatingIps",
           "totalFloatingIpsUsed", "totalSecurityGroupsUsed"}


def _without(names) -> dict:
    return {k: v for k, v in AT_2_1.items() if k not in names}


def test_absolute_limits_per_microversion(cloud, demo):
    for version, expected in (
            ("2.1", AT_2_1), ("2.35", AT_2_1), ("2.36", _without(NETWORK)),
            ("2.38", _without(NETWORK)), ("2.39", _without(NETWORK | {"maxImageMeta"})),
            ("2.57", _without(NETWORK | {"maxImageMeta", "maxPersonality",
                                         "maxPersonalitySize"})),
            ("2.80", _without(NETWORK | {"maxImageMeta", "maxPersonality",
                                         "maxPersonalitySize"}))):
        assert ok(demo, "/limits", version) == {"limits": {"rate": [], "absolute": expected}}, \
            version


def test_usage_counts_the_callers_project_and_admins_may_ask_for_another(cloud, admin, demo,
                                                                        other_project):
    create_server(demo, flavor="m1.small")     # 1 vcpu, 2048 MB
    admin.compute.update_quota_set("demo", cores=8)
    absolute = ok(demo, "/limits", "2.57")["limits"]["absolute"]
    assert (absolute["totalInstancesUsed"], absolute["totalCoresUsed"],
            absolute["totalRAMUsed"], absolute["maxTotalCores"]) == (1, 1, 2048, 8)
    assert ok(other_project, "/limits", "2.57")["limits"]["absolute"]["totalInstancesUsed"] == 0

    theirs = ok(admin, "/limits?tenant_id=demo", "2.57")["limits"]["absolute"]
    assert theirs == absolute
    assert ok(admin, "/limits", "2.57")["limits"]["absolute"]["totalInstancesUsed"] == 0
    assert error(other_project, "/limits?tenant_id=demo", "2.57") == \
        (403, "Policy doesn't allow os_compute_api:limits:other_project to be performed.")

    sdk = demo.compute.get_limits()
    assert (sdk.absolute.instances_used, sdk.absolute.total_cores, sdk.absolute.total_ram) == \
        (1, 8, 51200)


def test_unknown_parameters_are_ignored_before_2_75_and_refused_from_it(cloud, demo):
    assert ok(demo, "/limits?reserved=1", "2.74")["limits"]["rate"] == []
    assert error(demo, "/limits?reserved=1", "2.75") == \
        (400, "Additional properties are not allowed ('reserved' was unexpected)")
    status, _, response = call(demo, "/limits", "2.75", "POST", {})
    assert status == 405
