"""Test-only tools: one read and one write tool on the /algorithms route, independent of the
tool families other engineers are still building, so transport tests pin transport behaviour."""

from __future__ import annotations

from pydantic import BaseModel, Field

from kaireon_mcp.storage.tables import Offer
from kaireon_mcp.tools import load_all
from kaireon_mcp.tools.common import repo_for
from kaireon_mcp.tools.registry import ToolContext, ToolInput, ToolRegistry, tool

PROBE_READ = "probeRead"
PROBE_WRITE = "probeWrite"


class ProbeIn(ToolInput):
    label: str = Field("x", min_length=1, max_length=40, description="echoed back")
    tenantId: str | None = Field(None, description="ignored: the tenant comes from the connection")


class ProbeOut(BaseModel):
    label: str
    tenant: str
    role: str
    route: str
    offers: list[str]
    governed: bool = False


def register_probes(registry: ToolRegistry | None = None) -> None:
    """Declare the probe tools into ``registry`` (the global one when None)."""

    @tool(
        PROBE_READ,
        title="Probe read",
        description="Test probe: who am I and which offers do I see.",
        module="Test",
        routes=("AL",),
        registry=registry,
    )
    async def probe_read(ctx: ToolContext, args: ProbeIn) -> ProbeOut:
        async with repo_for(ctx) as repo:
            offers = sorted(o.name for o in await repo.all(Offer))
        return ProbeOut(
            label=args.label,
            tenant=ctx.tenant_id,
            role=ctx.principal.role,
            route=ctx.route,
            offers=offers,
            governed=bool(ctx.services.get("governed")),
        )

    @tool(
        PROBE_WRITE,
        title="Probe write",
        description="Test probe: a write tool that writes nothing.",
        module="Test",
        write=True,
        routes=("AL",),
        registry=registry,
    )
    async def probe_write(ctx: ToolContext, args: ProbeIn) -> ProbeOut:
        return ProbeOut(
            label=args.label, tenant=ctx.tenant_id, role=ctx.principal.role, route=ctx.route, offers=[]
        )


def probe_registry() -> ToolRegistry:
    """Every real tool plus the probes, in a registry of its own (the global one stays clean)."""
    registry = ToolRegistry()
    for spec in load_all().all():
        registry.add(spec)
    register_probes(registry)
    return registry
