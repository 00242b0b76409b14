"""Who is asking, and on behalf of which request: carried from the API through every RPC."""
import uuid
from dataclasses import asdict, dataclass, field


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


@dataclass
class RequestContext:
    user_id: str | None = None
    project_id: str | None = None
    roles: list[str] = field(default_factory=list)
    request_id: str = field(default_factory=new_request_id)
    is_admin: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict | None) -> "RequestContext":
        return cls(**values) if values else cls()

    def policy_creds(self) -> dict:
        return {"user_id": self.user_id, "project_id": self.project_id, "roles": self.roles,
                "is_admin": self.is_admin}

    def log_prefix(self) -> str:
        return f"[{self.request_id} {self.user_id} {self.project_id}]"


def admin_context(request_id: str | None = None) -> RequestContext:
    """The context of herder's own periodic work (auto-confirm, reconciler)."""
    return RequestContext(user_id="herder", project_id="herder", roles=["admin"],
                          request_id=request_id or new_request_id(), is_admin=True)
