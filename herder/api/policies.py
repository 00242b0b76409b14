"""Policy rules, their defaults, and the enforcer (oslo.policy).

Defaults follow Nova: moving a server to another host is an admin's call; resizing,
confirming and reverting are the project's own. A policy file (YAML or JSON) overrides any rule;
oslo.policy re-reads it when it changes, without a restart.
"""
import threading

from oslo_policy import policy

ADMIN = "role:admin"
PROJECT_MEMBER_OR_ADMIN = "(role:member and project_id:%(project_id)s) or role:admin"
PROJECT_READER_OR_ADMIN = "(role:reader and project_id:%(project_id)s) or role:admin"
ANY_PROJECT_READER = "role:reader or role:member or role:admin"


def _rule(name: str, default: str, description: str, operations: list[tuple[str, str]]):
    return policy.DocumentedRuleDefault(
        name=name, check_str=default, description=description,
        operations=[{"method": m, "path": p} for m, p in operations])


_SERVER_ACTION = "/servers/{server_id}/action"

RULES = [
    policy.RuleDefault("admin_api", ADMIN, "Administrators."),
    _rule("os_compute_api:os-migrate-server:migrate", ADMIN,
          "Cold migrate a server to a host chosen by the scheduler.",
          [("POST", f"{_SERVER_ACTION} (migrate)")]),
    _rule("os_compute_api:os-migrate-server:migrate:host", ADMIN,
          "Cold migrate a server to a host named in the request (2.56).",
          [("POST", f"{_SERVER_ACTION} (migrate)")]),
    _rule("os_compute_api:servers:resize", PROJECT_MEMBER_OR_ADMIN, "Resize a server.",
          [("POST", f"{_SERVER_ACTION} (resize)")]),
    _rule("os_compute_api:servers:confirm_resize", PROJECT_MEMBER_OR_ADMIN,
          "Confirm a resized or migrated server.",
          [("POST", f"{_SERVER_ACTION} (confirmResize)")]),
    _rule("os_compute_api:servers:revert_resize", PROJECT_MEMBER_OR_ADMIN,
          "Revert a resized or migrated server.",
          [("POST", f"{_SERVER_ACTION} (revertResize)")]),
    _rule("os_compute_api:os-migrations:index", ADMIN, "List migrations.",
          [("GET", "/os-migrations")]),
    _rule("os_compute_api:os-migrations:index:all_projects", ADMIN,
          "List migrations of every project.", [("GET", "/os-migrations")]),
    _rule("os_compute_api:os-migrations:index:host", ADMIN,
          "See the host fields of migrations.", [("GET", "/os-migrations")]),
    _rule("os_compute_api:servers:migrations:index", ADMIN,
          "List the in-progress moves of a server.", [("GET", "/servers/{server_id}/migrations")]),
    _rule("os_compute_api:servers:migrations:show", ADMIN, "Show an in-progress move.",
          [("GET", "/servers/{server_id}/migrations/{migration_id}")]),
    _rule("os_compute_api:servers:migrations:delete", ADMIN, "Abort an in-progress move.",
          [("DELETE", "/servers/{server_id}/migrations/{migration_id}")]),
    # herder's own API (docs/herder-api.md): a plan shows every host and its free resources,
    # which Nova shows only to admins
    _rule("herder:servers:move_plans:create", ADMIN,
          "Plan a migrate or resize of a server without doing it (herder's own API).",
          [("POST", "/herder/v1/servers/{server_id}/move-plans")]),
    _rule("os_compute_api:os-instance-actions:list", PROJECT_READER_OR_ADMIN,
          "List a server's actions.", [("GET", "/servers/{server_id}/os-instance-actions")]),
    _rule("os_compute_api:os-instance-actions:show", PROJECT_READER_OR_ADMIN,
          "Show a server's action.",
          [("GET", "/servers/{server_id}/os-instance-actions/{request_id}")]),
    _rule("os_compute_api:os-instance-actions:events", ADMIN,
          "See the events of a server's action.",
          [("GET", "/servers/{server_id}/os-instance-actions/{request_id}")]),
    _rule("os_compute_api:os-instance-actions:events:details", ADMIN,
          "See the details of those events (2.84).",
          [("GET", "/servers/{server_id}/os-instance-actions/{request_id}")]),
    _rule("os_compute_api:servers:create", PROJECT_MEMBER_OR_ADMIN, "Create a server.",
          [("POST", "/servers")]),
    _rule("os_compute_api:servers:index", PROJECT_READER_OR_ADMIN, "List servers.",
          [("GET", "/servers")]),
    _rule("os_compute_api:servers:index:get_all_tenants", ADMIN,
          "List the servers of every project.", [("GET", "/servers")]),
    _rule("os_compute_api:servers:show", PROJECT_READER_OR_ADMIN, "Show a server.",
          [("GET", "/servers/{server_id}")]),
    _rule("os_compute_api:servers:show:flavor-extra-specs", PROJECT_READER_OR_ADMIN,
          "See the extra specs of a server's flavor (2.47).",
          [("GET", "/servers/{server_id}"), ("GET", "/servers/detail"),
           ("PUT", "/servers/{server_id}")]),
    _rule("os_compute_api:servers:show:host_status", ADMIN,
          "See the status of a server's host (2.16).", [("GET", "/servers/{server_id}")]),
    _rule("os_compute_api:os-extended-server-attributes", ADMIN,
          "See a server's host and hypervisor attributes.", [("GET", "/servers/{server_id}")]),
    _rule("os_compute_api:servers:update", PROJECT_MEMBER_OR_ADMIN, "Update a server.",
          [("PUT", "/servers/{server_id}")]),
    _rule("os_compute_api:servers:delete", PROJECT_MEMBER_OR_ADMIN, "Delete a server.",
          [("DELETE", "/servers/{server_id}")]),
    _rule("os_compute_api:servers:start", PROJECT_MEMBER_OR_ADMIN, "Start a server.",
          [("POST", f"{_SERVER_ACTION} (os-start)")]),
    _rule("os_compute_api:servers:stop", PROJECT_MEMBER_OR_ADMIN, "Stop a server.",
          [("POST", f"{_SERVER_ACTION} (os-stop)")]),
    _rule("os_compute_api:os-lock-server:lock", PROJECT_MEMBER_OR_ADMIN, "Lock a server.",
          [("POST", f"{_SERVER_ACTION} (lock)")]),
    _rule("os_compute_api:os-lock-server:unlock", PROJECT_MEMBER_OR_ADMIN, "Unlock a server.",
          [("POST", f"{_SERVER_ACTION} (unlock)")]),
    _rule("os_compute_api:os-lock-server:unlock:unlock_override", ADMIN,
          "Unlock a server locked by someone else.", [("POST", f"{_SERVER_ACTION} (unlock)")]),
    _rule("os_compute_api:os-admin-actions:reset_state", ADMIN, "Reset a server's state.",
          [("POST", f"{_SERVER_ACTION} (os-resetState)")]),
    _rule("os_compute_api:servers:reboot", PROJECT_MEMBER_OR_ADMIN, "Reboot a server.",
          [("POST", f"{_SERVER_ACTION} (reboot)")]),
    _rule("os_compute_api:os-console-output", PROJECT_MEMBER_OR_ADMIN,
          "Show a server's console output.",
          [("POST", f"{_SERVER_ACTION} (os-getConsoleOutput)")]),
    _rule("os_compute_api:os-pause-server:pause", PROJECT_MEMBER_OR_ADMIN, "Pause a server.",
          [("POST", f"{_SERVER_ACTION} (pause)")]),
    _rule("os_compute_api:os-pause-server:unpause", PROJECT_MEMBER_OR_ADMIN,
          "Unpause a paused server.", [("POST", f"{_SERVER_ACTION} (unpause)")]),
    _rule("os_compute_api:os-suspend-server:suspend", PROJECT_MEMBER_OR_ADMIN,
          "Suspend a server.", [("POST", f"{_SERVER_ACTION} (suspend)")]),
    _rule("os_compute_api:os-suspend-server:resume", PROJECT_MEMBER_OR_ADMIN,
          "Resume a suspended server.", [("POST", f"{_SERVER_ACTION} (resume)")]),
    _rule("os_compute_api:os-quota-sets:show", PROJECT_READER_OR_ADMIN,
          "Show a project's quotas.", [("GET", "/os-quota-sets/{tenant_id}")]),
    _rule("os_compute_api:os-quota-sets:detail", PROJECT_READER_OR_ADMIN,
          "Show a project's quotas with their usage.",
          [("GET", "/os-quota-sets/{tenant_id}/detail")]),
    _rule("os_compute_api:os-quota-sets:defaults", "@", "Show the default quotas.",
          [("GET", "/os-quota-sets/{tenant_id}/defaults")]),
    _rule("os_compute_api:os-quota-sets:update", ADMIN, "Update a project's quotas.",
          [("PUT", "/os-quota-sets/{tenant_id}")]),
    _rule("os_compute_api:os-quota-sets:delete", ADMIN,
          "Revert a project's quotas to the defaults.",
          [("DELETE", "/os-quota-sets/{tenant_id}")]),
    _rule("identity:get_project", PROJECT_READER_OR_ADMIN,
          "Look a project up (embedded authentication's stand-in for Keystone, which the "
          "openstack CLI asks before quota commands).",
          [("GET", "/identity/v3/projects/{project_id}")]),
    # the Image API v2, with glance's defaults; the target's project_id is the image's owner
    _rule("image:add_image", PROJECT_MEMBER_OR_ADMIN,
          "Create an image owned by a project (the caller's, unless it names another).",
          [("POST", "/v2/images")]),
    _rule("image:publicize_image", ADMIN,
          "Create an image with public visibility, which every project sees.",
          [("POST", "/v2/images")]),
    _rule("image:upload_image", PROJECT_MEMBER_OR_ADMIN, "Upload the data of an image.",
          [("PUT", "/v2/images/{image_id}/file")]),
    _rule("image:download_image", ANY_PROJECT_READER,
          "Download the data of an image the caller can see.",
          [("GET", "/v2/images/{image_id}/file")]),
    _rule("image:delete_image", PROJECT_MEMBER_OR_ADMIN, "Delete an image and its data.",
          [("DELETE", "/v2/images/{image_id}")]),
    _rule("os_compute_api:limits", "@", "Show the caller's project's limits and usage.",
          [("GET", "/limits")]),
    _rule("os_compute_api:limits:other_project", ADMIN,
          "Show another project's limits and usage (tenant_id).", [("GET", "/limits")]),
    _rule("os_compute_api:os-availability-zone:list", "@", "List availability zones.",
          [("GET", "/os-availability-zone")]),
    _rule("os_compute_api:os-availability-zone:detail", ADMIN,
          "List availability zones with their hosts and services.",
          [("GET", "/os-availability-zone/detail")]),
    _rule("os_compute_api:os-flavor-manage:create", ADMIN, "Create a flavor.",
          [("POST", "/flavors")]),
    _rule("os_compute_api:os-flavor-manage:delete", ADMIN, "Delete a flavor.",
          [("DELETE", "/flavors/{flavor_id}")]),
    _rule("os_compute_api:os-flavor-extra-specs:index", ANY_PROJECT_READER,
          "List a flavor's extra specs.", [("GET", "/flavors/{flavor_id}/os-extra_specs")]),
    _rule("os_compute_api:os-flavor-extra-specs:create", ADMIN, "Set a flavor's extra specs.",
          [("POST", "/flavors/{flavor_id}/os-extra_specs")]),
    _rule("os_compute_api:os-flavor-access", ADMIN,
          "List the projects that may use a private flavor.",
          [("GET", "/flavors/{flavor_id}/os-flavor-access")]),
    _rule("os_compute_api:os-flavor-access:add_tenant_access", ADMIN,
          "Let a project use a private flavor.",
          [("POST", "/flavors/{flavor_id}/action (addTenantAccess)")]),
    _rule("os_compute_api:os-flavor-access:remove_tenant_access", ADMIN,
          "Take a private flavor away from a project.",
          [("POST", "/flavors/{flavor_id}/action (removeTenantAccess)")]),
    _rule("os_compute_api:os-services:list", ADMIN, "List compute services.",
          [("GET", "/os-services")]),
    _rule("os_compute_api:os-services:update", ADMIN, "Enable, disable or force down a service.",
          [("PUT", "/os-services/{service_id}")]),
    _rule("os_compute_api:os-aggregates:index", ADMIN, "List host aggregates.",
          [("GET", "/os-aggregates")]),
    _rule("os_compute_api:os-hypervisors:list", ADMIN, "List hypervisors.",
          [("GET", "/os-hypervisors")]),
    _rule("os_compute_api:os-hypervisors:list-detail", ADMIN, "List hypervisors in detail.",
          [("GET", "/os-hypervisors/detail")]),
    _rule("os_compute_api:os-hypervisors:uptime", ADMIN, "Show a hypervisor's uptime.",
          [("GET", "/os-hypervisors/{hypervisor_id}/uptime")]),
    _rule("os_compute_api:os-hypervisors:show", ADMIN, "Show a hypervisor.",
          [("GET", "/os-hypervisors/{hypervisor_id}")]),
    _rule("os_compute_api:os-hypervisors:search", ADMIN,
          "Find hypervisors by a hostname pattern (before 2.53).",
          [("GET", "/os-hypervisors/{hypervisor_hostname_pattern}/search")]),
    _rule("os_compute_api:os-hypervisors:servers", ADMIN,
          "List the servers on hypervisors matching a hostname pattern (before 2.53).",
          [("GET", "/os-hypervisors/{hypervisor_hostname_pattern}/servers")]),
    _rule("os_compute_api:os-hypervisors:statistics", ADMIN,
          "Show the usage of all hypervisors, summed.", [("GET", "/os-hypervisors/statistics")]),
    _rule("os_compute_api:os-server-groups:create", PROJECT_MEMBER_OR_ADMIN,
          "Create a server group.", [("POST", "/os-server-groups")]),
    _rule("os_compute_api:os-server-groups:delete", PROJECT_MEMBER_OR_ADMIN,
          "Delete a server group.", [("DELETE", "/os-server-groups/{server_group_id}")]),
    _rule("os_compute_api:os-server-groups:index", PROJECT_READER_OR_ADMIN,
          "List the server groups of the caller's project.", [("GET", "/os-server-groups")]),
    _rule("os_compute_api:os-server-groups:index:all_projects", ADMIN,
          "List the server groups of every project.", [("GET", "/os-server-groups")]),
    _rule("os_compute_api:os-server-groups:show", PROJECT_READER_OR_ADMIN,
          "Show a server group.", [("GET", "/os-server-groups/{server_group_id}")]),
    # herder's own API (docs/herder-api.md)
    _rule("herder:projects:confirm_policy:show", ADMIN,
          "Show a project's confirm policy: when its moves waiting in VERIFY_RESIZE are "
          "confirmed or reverted automatically.",
          [("GET", "/herder/v1/projects/{project_id}/confirm-policy")]),
    _rule("herder:projects:confirm_policy:update", ADMIN, "Set a project's confirm policy.",
          [("PUT", "/herder/v1/projects/{project_id}/confirm-policy")]),
    _rule("herder:projects:confirm_policy:delete", ADMIN,
          "Remove a project's confirm policy (the cloud's settings apply again).",
          [("DELETE", "/herder/v1/projects/{project_id}/confirm-policy")]),
    # host drains move every server of a host, whoever's: an admin's call, like a migrate
    _rule("herder:host_drains:index", ADMIN, "List host drain and restore jobs.",
          [("GET", "/herder/v1/host-drains")]),
    _rule("herder:host_drains:show", ADMIN,
          "Show a host drain or restore job and what became of each of its servers.",
          [("GET", "/herder/v1/host-drains/{drain_id}")]),
    _rule("herder:host_drains:create", ADMIN,
          "Drain a host: disable its compute service and move every server off it.",
          [("POST", "/herder/v1/host-drains")]),
    _rule("herder:host_drains:pause", ADMIN, "Pause a host drain or restore job.",
          [("POST", "/herder/v1/host-drains/{drain_id}/action (pause)")]),
    _rule("herder:host_drains:resume", ADMIN, "Resume a paused host drain or restore job.",
          [("POST", "/herder/v1/host-drains/{drain_id}/action (resume)")]),
    _rule("herder:host_drains:cancel", ADMIN,
          "Cancel a host drain or restore job: no more of its servers start moving.",
          [("POST", "/herder/v1/host-drains/{drain_id}/action (cancel)")]),
    _rule("herder:host_drains:restore", ADMIN,
          "Move a drain's servers back to its host, which is enabled again.",
          [("POST", "/herder/v1/host-drains/{drain_id}/restore")]),
]


def list_rules():
    """For oslo.policy's sample generator (entry point `oslo.policy.policies`)."""
    return RULES


class Enforcer(policy.Enforcer):
    """oslo.policy's enforcer, following `[oslo_policy] policy_file` as it is now.

    oslo.policy already re-reads its policy file when the file changes; this one also notices
    when the option names another file (a config reload, an override). Every API thread shares
    the enforcer, and a reload rebuilds the rules in place, so checks and reloads take turns.
    """

    def __init__(self, conf):
        super().__init__(conf)
        self._lock = threading.RLock()
        # whether this thread's request brought the rules up to date already (begin_request)
        self._in_request = threading.local()

    def enforce(self, *args, **kwargs):
        with self._lock:
            return super().enforce(*args, **kwargs)

    def begin_request(self) -> None:
        """Bring the rules up to date for the request this thread begins; its checks use them.
        oslo.policy looks for the policy file before every check, which is one search of the
        config directories each time while there is no file, and a request makes several
        checks (showing a server asks about its host status, its extra specs, ...)."""
        self._in_request.loaded = False
        self.load_rules()
        self._in_request.loaded = True

    def end_request(self) -> None:
        """After this thread's request: checks outside any request look for the file again."""
        self._in_request.loaded = False

    def load_rules(self, force_reload: bool = False) -> None:
        if not force_reload and getattr(self._in_request, "loaded", False):
            return
        with self._lock:
            wanted = self.conf.oslo_policy.policy_file
            if wanted != self.policy_file:
                self.policy_file, self.policy_path = wanted, None
                self._informed_no_policy_file = False
                # drop the old file's rules: the defaults come back, the new file goes on top
                self.set_rules({}, use_conf=True)
                self.file_rules = {}
                self._file_cache.clear()
                force_reload = True
            super().load_rules(force_reload)


def make_enforcer(conf) -> policy.Enforcer:
    enforcer = Enforcer(conf)
    enforcer.register_defaults(RULES)
    return enforcer
