"""What the dashboard's caller may see and do: the API's own policy rules, asked with the
same targets the API asks them with, so that a page never shows what the API would refuse
(a member sees their own project's servers and no admin buttons)."""
from dataclasses import dataclass, field

from herder.context import RequestContext
from herder.db.models import Instance

HOSTS = "os_compute_api:os-hypervisors:list-detail"
MIGRATIONS = "os_compute_api:os-migrations:index"
MIGRATIONS_ALL_PROJECTS = "os_compute_api:os-migrations:index:all_projects"
MIGRATION_HOSTS = "os_compute_api:os-migrations:index:host"
SERVERS = "os_compute_api:servers:index"
SERVERS_ALL_PROJECTS = "os_compute_api:servers:index:get_all_tenants"
SERVER_SHOW = "os_compute_api:servers:show"
SERVER_HOST = "os_compute_api:os-extended-server-attributes"
MOVE_DETAILS = "os_compute_api:servers:migrations:index"
ACTIONS_LIST = "os_compute_api:os-instance-actions:list"
ACTIONS_SHOW = "os_compute_api:os-instance-actions:show"
EVENTS = "os_compute_api:os-instance-actions:events"
CONFIRM = "os_compute_api:servers:confirm_resize"
REVERT = "os_compute_api:servers:revert_resize"
ABORT = "os_compute_api:servers:migrations:delete"
MIGRATE = "os_compute_api:os-migrate-server:migrate"


@dataclass
class Access:
    """One request's caller. Answers are kept for the request: a page asks the same rules of
    hundreds of servers, whose targets differ only by their project and user."""
    context: RequestContext
    enforcer: object   # oslo.policy Enforcer
    _answers: dict = field(default_factory=dict, repr=False)

    def allowed(self, rule: str, target: dict | None = None) -> bool:
        """As the API's Handler.allowed: `authorize`, so an unregistered rule is a bug."""
        target = target or {"project_id": self.context.project_id,
                            "user_id": self.context.user_id}
        key = (rule, target["project_id"], target["user_id"])
        if key not in self._answers:
            self._answers[key] = self.enforcer.authorize(rule, target,
                                                         self.context.policy_creds())
        return self._answers[key]

    def on_server(self, rule: str, server: Instance) -> bool:
        return self.allowed(rule, {"project_id": server.project_id, "user_id": server.user_id})

    @property
    def is_admin(self) -> bool:
        return self.context.is_admin

    def project_scope(self) -> str | None:
        """The project whose servers the caller sees, None for every project: as the API's
        server list, where another project's server is not found rather than forbidden."""
        if self.allowed(SERVERS_ALL_PROJECTS) and self.allowed(MIGRATIONS_ALL_PROJECTS):
            return None
        return self.context.project_id

    def sees_servers(self) -> bool:
        return self.allowed(SERVERS)

    def sees_hosts(self) -> bool:
        return self.allowed(HOSTS)

    def sees_move_hosts(self) -> bool:
        return self.allowed(MIGRATIONS) and self.allowed(MIGRATION_HOSTS)
