"""Narrative explanations of a stored decision trace for regulators, agents and customers.

The model writes the narrative when a provider is configured; otherwise a deterministic
template does, built only from the trace's funnel counts, drop reasons and selected
offers, so an explanation never depends on model availability. Regulator narratives are
also written to the audit trail (decisioning-core.md 2.23).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from kaireon_mcp.core.ai._rows import tenant_settings
from kaireon_mcp.core.ai.services import AiServices
from kaireon_mcp.errors import ForbiddenError, KaireonError, NotFoundError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import DecisionTrace

__all__ = ["MODES", "facts", "generate_narrative", "template_narrative"]

Mode = Literal["regulator", "agent", "customer"]
MODES: tuple[str, ...] = ("regulator", "agent", "customer")
FUNNEL = (
    ("candidateCount", "candidate offers"),
    ("afterQualification", "passed qualification"),
    ("afterConsent", "had the customer's consent"),
    ("afterContactPolicy", "passed contact policies"),
    ("finalCount", "were selected"),
)
INSTRUCTIONS = {
    "regulator": "Write a precise, neutral paragraph for a regulator: every stage, counts and reasons.",
    "agent": "Summarise for a service agent as JSON: summary, steps (one line per stage), selected, dropped.",
    "customer": "Write one or two plain, friendly sentences for the customer; no internal ids or scores.",
}


class _Prose(BaseModel):
    narrative: str


class _Agent(BaseModel):
    summary: str
    steps: list[str]
    selected: list[str]
    dropped: list[str]


def facts(trace: DecisionTrace) -> dict[str, Any]:
    """What any narrative may state: funnel counts, drop reasons, selected offers."""
    reasons = Counter(
        f"{d.get('stage', 'pipeline')}: {d.get('reason', 'dropped')}" for d in trace.dropped or []
    )
    return {
        "traceId": trace.id,
        "customerId": trace.customer_id,
        "decisionFlowKey": trace.decision_flow_key,
        "funnel": dict(trace.funnel or {}),
        "dropReasons": [{"reason": r, "offers": n} for r, n in reasons.most_common(10)],
        "dropped": [
            {k: d.get(k) for k in ("offerId", "offerName", "stage", "reason")}
            for d in (trace.dropped or [])[:20]
        ],
        "selected": [
            {k: s.get(k) for k in ("offerId", "rank", "score")} for s in (trace.selected_offers or [])
        ],
        "createdAt": trace.to_dict()["createdAt"],
    }


def _funnel_sentence(f: dict[str, Any]) -> str:
    parts = [f"{f[key]} {label}" for key, label in FUNNEL if isinstance(f.get(key), int)]
    return "; ".join(parts) + "." if parts else "No funnel counts were recorded."


def template_narrative(data: dict[str, Any], mode: str) -> dict[str, Any]:
    """The deterministic narrative (used without a model, or when the model fails)."""
    selected = [s["offerId"] for s in data["selected"]]
    reasons = [
        f"{r['reason']} ({r['offers']} offer{'s' if r['offers'] != 1 else ''})" for r in data["dropReasons"]
    ]
    if mode == "agent":
        return {
            "summary": f"{len(selected)} offer(s) selected for {data['customerId']}.",
            "steps": [f"{label}: {data['funnel'][key]}" for key, label in FUNNEL if key in data["funnel"]],
            "selected": selected,
            "dropped": reasons,
        }
    if mode == "customer":
        if selected:
            text = "We picked these offers because they match your profile and your recent activity."
        else:
            text = "We have no offer for you right now; this can change as your activity changes."
        return {"narrative": text}
    text = (
        f"Decision {data['traceId']} for customer {data['customerId']} at {data['createdAt']} "
        f"(flow {data['decisionFlowKey'] or 'default'}): {_funnel_sentence(data['funnel'])} "
        f"Selected: {', '.join(selected) or 'none'}. "
        f"Removal reasons: {'; '.join(reasons) or 'none recorded'}."
    )
    return {"narrative": text}


async def _model_narrative(
    db: Database, principal: TenantContext, services: AiServices, data: dict[str, Any], mode: str
) -> dict[str, Any] | None:
    client = await services.open_client(db, principal)
    if client is None:
        return None
    answer: type[BaseModel] = _Agent if mode == "agent" else _Prose
    prompt = json.dumps({"instruction": INSTRUCTIONS[mode], "trace": data}, default=str)
    try:
        async with asyncio.timeout(services.llm_timeout):
            raw = await client.complete_json(
                "You explain automated marketing decisions truthfully, using only the facts given.",
                prompt,
                answer.model_json_schema(),
            )
        return answer.model_validate(raw).model_dump()
    except (KaireonError, TimeoutError, PydanticValidationError, ValueError, TypeError):
        return None
    finally:
        await client.aclose()


async def generate_narrative(
    db: Database, principal: TenantContext, services: AiServices, trace_id: str, mode: str
) -> dict[str, Any]:
    """Explain one trace for the chosen audience.

    Raises:
        NotFoundError: unknown trace for this tenant.
        ForbiddenError: ``aiAnalyzerSettings.llmExplanationsEnabled`` is not true.
    """
    async with db.tenant(principal) as repo:
        settings = await tenant_settings(repo)
        if not (settings.get("aiAnalyzerSettings") or {}).get("llmExplanationsEnabled"):
            raise ForbiddenError(
                "narrative explanations are disabled; set aiAnalyzerSettings.llmExplanationsEnabled "
                "to true in the tenant settings"
            )
        trace = await repo.find(DecisionTrace, id=trace_id)
        if trace is None:
            raise NotFoundError(f"decision trace {trace_id!r} not found", field="traceId")
        data = facts(trace)
    narrative = await _model_narrative(db, principal, services, data, mode)
    source = "llm" if narrative is not None else "template"
    body = {
        "traceId": trace_id,
        "mode": mode,
        "source": source,
        **(narrative or template_narrative(data, mode)),
    }
    if mode == "regulator":
        async with db.tenant(principal) as repo:
            await repo.audit.record(
                "narrative",
                "decision_trace",
                trace_id,
                None,
                None,
                None,
                changes={"narrative": body["narrative"]},
            )
    return body
