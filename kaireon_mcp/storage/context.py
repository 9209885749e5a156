"""Who is acting: the tenant and principal every repository call is bound to."""

from __future__ import annotations

from dataclasses import dataclass, field

from kaireon_mcp.errors import ForbiddenError, ValidationError

ROLE_RANK = {"viewer": 0, "editor": 1, "admin": 2}


@dataclass(frozen=True)
class TenantContext:
    """Immutable principal; repositories refuse to build a query without one."""

    tenant_id: str
    role: str = "admin"
    user_id: str | None = None
    user_name: str | None = None
    auth_kind: str = "internal"
    api_key_id: str | None = None
    request_id: str | None = None
    #: an API key's scopes; empty means full access (the only defined scope, scim, is narrower)
    scopes: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.tenant_id:
            raise ValidationError("a tenant is required for every data access", field="tenantId")
        if self.role not in ROLE_RANK:
            raise ValidationError(f"unknown role {self.role!r}", field="role")

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[minimum]

    def require_role(self, minimum: str, action: str = "this action") -> None:
        if not self.has_role(minimum):
            raise ForbiddenError(f"{action} needs the {minimum} role; this caller is {self.role}")

    @property
    def actor(self) -> str:
        return self.user_id or self.api_key_id or self.auth_kind
