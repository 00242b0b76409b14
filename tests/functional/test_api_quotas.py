"""os-quota-sets: show, detail with usage, defaults, update (force), revert; per microversion,
per caller; and a project's quota holding under concurrent creates."""
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from herder.db.models import Instance
from tests.conftest import connect
from tests.functional.api_reads import call, error, ok
from tests.functional.observe import create_server, wait_for_status

CORE = {"instances", "cores", "ram", "metadata_items", "key_pairs", "server_groups",
        "server_group_members"}
INJECTED = {"injected_files", "injected_file_content_bytes", "injected_file_path_bytes"}
NETWORK = {"fixed_ips", "floating_ips", "security_groups", "security_group_rules"}
DEFAULTS = {"instances": 10, "cores": 20, "ram": 51200, "metadata_items": 128,
            "key_pairs": 100, "server_groups": 10, "server_group_members": 10,
            "injected_files": 5, "injected_file_content_bytes": 10240,
            "injected_file_path_bytes": 255, "fixed_ips": -1, "floating_ips": 10,
            "security_groups": 10, "security_group_rules": 20}


def _update(conn, project: str, values: dict, version: str = "2.1"):
    return call(conn, f"/os-quota-sets/{project}", version, "PUT", {"quota_set": values})


def test_show_lists_the_quotas_each_microversion_knows(cloud, admin):
    for version, keys in (("2.1", CORE | INJECTED | NETWORK), ("2.35", CORE | INJECTED | NETWORK),
                          ("2.36", CORE | INJECTED), ("2.56", CORE | INJECTED),
                          ("2.57", CORE), ("2.80", CORE)):
        shown = ok(admin, "/os-quota-sets/demo", version)["quota_set"]
        assert shown == {"id": "demo", **{k: DEFAULTS[k] for k in keys}}, version
        defaults = ok(admin, "/os-quota-sets/demo/defaults", version)["quota_set"]
        assert defaults == shown, version


def test_detail_counts_what_the_project_uses(cloud, admin, demo):
    create_server(demo, flavor="m1.small")    # 1 vcpu, 2048 MB
    create_server(demo)                       # m1.tiny: 1 vcpu, 512 MB
    create_server(admin)                      # another project's: not counted
    detail = ok(demo, "/os-quota-sets/demo/detail", "2.57")["quota_set"]
    assert set(detail) == CORE | {"id"}
    assert detail["id"] == "demo"
    assert detail["instances"] == {"in_use": 2, "limit": 10, "reserved": 0}
    assert detail["cores"] == {"in_use": 2, "limit": 20, "reserved": 0}
    assert detail["ram"] == {"in_use": 2560, "limit": 51200, "reserved": 0}
    assert detail["key_pairs"] == {"in_use": 0, "limit": 100, "reserved": 0}
    at_2_1 = ok(admin, "/os-quota-sets/demo/detail", "2.1")["quota_set"]
    assert set(at_2_1) == CORE | INJECTED | NETWORK | {"id"}

    sdk = admin.compute.get_quota_set("demo", usage=True)
    assert (sdk.instances, sdk.usage["instances"], sdk.usage["ram"]) == (10, 2, 2560)


def test_a_limit_below_usage_needs_force_and_then_refuses_creates(cloud, admin, demo):
    create_server(demo)
    assert error(admin, "/os-quota-sets/demo", "2.1", "PUT",
                 {"quota_set": {"instances": 0}}) == \
        (400, "Quota limit 0 for instances must be greater than or equal to already used and "
              "reserved 1.")
    assert ok(admin, "/os-quota-sets/demo", "2.1")["quota_set"]["instances"] == 10  # untouched

    status, body, _ = _update(admin, "demo", {"instances": "1", "cores": 5, "force": "true"},
                              "2.57")
    assert status == 200
    assert body == {"quota_set": {**{k: DEFAULTS[k] for k in CORE}, "instances": 1,
                                  "cores": 5}}   # no id in an update's answer, as in Nova
    status, body, _ = _update(admin, "demo", {"instances": 0, "force": True})
    assert status == 200 and body["quota_set"]["instances"] == 0
    assert set(body["quota_set"]) == CORE | INJECTED | NETWORK

    image = demo.image.find_image("herder-guest")
    status, body, _ = call(demo, "/servers", "2.1", "POST", {"server": {
        "name": "one-too-many", "flavorRef": "1", "imageRef": image.id}})
    assert (status, body["forbidden"]["message"]) == \
        (403, "Quota exceeded for instances: Requested 1, but already used 1 of 0 instances")

    # -1 is unlimited, and is never below the usage
    assert _update(admin, "demo", {"instances": -1})[0] == 200
    assert create_server(demo, name="unlimited").status == "ACTIVE"

    status, body, _ = call(admin, "/os-quota-sets/demo", "2.1", "DELETE")
    assert (status, body) == (202, None)
    assert ok(admin, "/os-quota-sets/demo", "2.1")["quota_set"]["instances"] == 10


def test_the_sdk_reads_sets_and_reverts_quotas(cloud, admin):
    updated = admin.compute.update_quota_set("demo", ram=4096, server_groups=3)
    assert (updated.ram, updated.server_groups) == (4096, 3)
    shown = admin.compute.get_quota_set("demo")
    assert (shown.ram, shown.cores, shown.server_groups) == (4096, 20, 3)
    assert admin.compute.get_quota_set_defaults("demo").ram == 51200
    admin.compute.revert_quota_set("demo")
    assert admin.compute.get_quota_set("demo").ram == 51200


def test_members_read_their_own_quotas_and_only_admins_change_them(cloud, admin, demo,
                                                                   other_project):
    assert ok(demo, "/os-quota-sets/demo", "2.1")["quota_set"]["id"] == "demo"
    assert ok(demo, "/os-quota-sets/demo/detail", "2.1")["quota_set"]["id"] == "demo"
    assert ok(demo, "/os-quota-sets/other/defaults", "2.1")["quota_set"]["cores"] == 20
    for path in ("/os-quota-sets/demo", "/os-quota-sets/demo/detail"):
        rule = "detail" if path.endswith("detail") else "show"
        assert error(other_project, path, "2.1") == \
            (403, f"Policy doesn't allow os_compute_api:os-quota-sets:{rule} to be performed.")
    assert error(demo, "/os-quota-sets/demo", "2.1", "PUT", {"quota_set": {"cores": 100}}) == \
        (403, "Policy doesn't allow os_compute_api:os-quota-sets:update to be performed.")
    assert error(demo, "/os-quota-sets/demo", "2.1", "DELETE") == \
        (403, "Policy doesn't allow os_compute_api:os-quota-sets:delete to be performed.")
    assert ok(admin, "/os-quota-sets/demo", "2.1")["quota_set"]["cores"] == 20


def test_bad_quota_updates_are_400_and_change_nothing(cloud, admin):
    def refused(values, version="2.1", path="/os-quota-sets/demo"):
        return error(admin, path, version, "PUT", {"quota_set": values})

    assert refused({"floating_ips": 5}, "2.36") == \
        (400, "Invalid input for field/attribute quota_set. Value: {'floating_ips': 5}. "
              "Additional properties are not allowed ('floating_ips' was unexpected)")
    assert refused({"injected_files": 5}, "2.57")[0] == 400
    assert _update(admin, "demo", {"injected_files": 6}, "2.56")[0] == 200
    assert refused({"cores": -2}) == \
        (400, "Invalid input for field/attribute cores. Value: -2. -2 is less than the "
              "minimum of -1")
    assert refused({"cores": "-2"}) == (400, "Quota limit -2 for cores must be -1 or greater.")
    assert refused({"cores": 2 ** 31})[0] == 400
    assert refused({"cores": "9" * 5000}) == \
        (400, f"Quota limit {'9' * 5000} for cores must be less than or equal to 2147483647.")
    assert refused({"cores": "many"})[0] == 400
    assert refused({"cores": 1.5})[0] == 400
    assert refused({"cores": 4, "force": "maybe"})[0] == 400
    assert refused({"bogus": 1})[0] == 400
    assert error(admin, "/os-quota-sets/demo", "2.1", "PUT", {"cores": 4})[0] == 400
    assert refused({"cores": 4}, path="/os-quota-sets/demo?user_id=alice") == \
        (400, "herder keeps quotas per project: setting or reverting the quotas of one user "
              "(user_id) is not supported.")
    assert refused({"cores": 4}, path=f"/os-quota-sets/{'p' * 256}")[0] == 400
    shown = ok(admin, "/os-quota-sets/demo?user_id=alice", "2.1")["quota_set"]
    assert (shown["cores"], shown["injected_files"]) == (20, 6)


def test_concurrent_creates_never_exceed_the_instances_quota(cloud, admin):
    allowed, attempts = 3, 8
    assert _update(admin, "demo", {"instances": allowed})[0] == 200
    flavor, image = admin.compute.find_flavor("m1.tiny"), admin.image.find_image("herder-guest")
    start = threading.Barrier(attempts)

    def create(index: int) -> int:
        conn = connect(cloud, "demo:demo:member,reader")
        try:
            start.wait()
            return call(conn, "/servers", "2.1", "POST", {"server": {
                "name": f"racer{index}", "flavorRef": flavor.id, "imageRef": image.id}})[0]
        finally:
            conn.close()

    with ThreadPoolExecutor(attempts) as pool:
        codes = sorted(pool.map(create, range(attempts)))
    assert codes == [202] * allowed + [403] * (attempts - allowed)
    with cloud.db.transaction() as session:
        live = session.scalar(select(func.count(Instance.id)).where(
            Instance.project_id == "demo", Instance.deleted.is_(False)))
    assert live == allowed


def test_concurrent_resizes_never_exceed_the_ram_quota(cloud, admin, demo):
    """Each resize's check and its hold on the new flavor commit together under the project's
    quota lock: of four upsizes racing for room for two, two are accepted, and what the
    project holds then (old flavor until confirmed, new one from the request) fits."""
    servers = [create_server(demo, name=f"grower{i}") for i in range(4)]    # m1.tiny: 512 MB
    growth = 2048 - 512                                                     # to m1.small
    assert _update(admin, "demo", {"ram": 4 * 512 + 2 * growth})[0] == 200
    small = admin.compute.find_flavor("m1.small")
    start = threading.Barrier(len(servers))

    def resize(server) -> int:
        conn = connect(cloud, "demo:demo:member,reader")
        try:
            start.wait()
            return call(conn, f"/servers/{server.id}/action", "2.1", "POST",
                        {"resize": {"flavorRef": small.id}})[0]
        finally:
            conn.close()

    with ThreadPoolExecutor(len(servers)) as pool:
        codes = list(pool.map(resize, servers))
    assert sorted(codes) == [202, 202, 403, 403]
    for server, code in zip(servers, codes):
        wait_for_status(demo, server.id, "VERIFY_RESIZE" if code == 202 else "ACTIVE")
    ram = ok(demo, "/os-quota-sets/demo/detail", "2.57")["quota_set"]["ram"]
    assert (ram["in_use"], ram["limit"]) == (4 * 512 + 2 * growth, 4 * 512 + 2 * growth)
    # a revert gives the growth back
    resized = next(s for s, code in zip(servers, codes) if code == 202)
    demo.compute.revert_server_resize(resized)
    wait_for_status(demo, resized.id, "ACTIVE")
    ram = ok(demo, "/os-quota-sets/demo/detail", "2.57")["quota_set"]["ram"]
    assert ram["in_use"] == 4 * 512 + growth
