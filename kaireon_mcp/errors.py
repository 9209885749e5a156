"""The one error vocabulary shared by core, tools and every transport.

Each transport maps a ``KaireonError`` to its wire shape exactly once
(MCP ``isError`` result, HTTP status + envelope, CLI one-line message).
"""

from __future__ import annotations

from typing import Any

HTTP_STATUS = {
    "VALIDATION": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "UNPROCESSABLE": 422,
    "WRITES_DISABLED": 403,
    "ROUTE_SCOPE": 403,
    "RATE_LIMITED": 429,
    "PROVIDER_UNAVAILABLE": 503,
    "INTERNAL": 500,
}


class KaireonError(Exception):
    """A failure the caller can act on; never carries a stack trace to the client."""

    code = "INTERNAL"

    def __init__(self, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        body.update(self.extra)
        return {"error": body}


class ValidationError(KaireonError):
    code = "VALIDATION"


class UnauthorizedError(KaireonError):
    code = "UNAUTHORIZED"


class ForbiddenError(KaireonError):
    code = "FORBIDDEN"


class NotFoundError(KaireonError):
    code = "NOT_FOUND"


class ConflictError(KaireonError):
    code = "CONFLICT"


class WritesDisabledError(KaireonError):
    code = "WRITES_DISABLED"


class RouteScopeError(KaireonError):
    code = "ROUTE_SCOPE"


class RateLimitedError(KaireonError):
    code = "RATE_LIMITED"


class ProviderUnavailableError(KaireonError):
    code = "PROVIDER_UNAVAILABLE"
