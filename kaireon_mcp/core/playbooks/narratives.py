"""Deterministic narratives of one decision trace for a regulator, an agent and a customer.

Used when the LLM narrative tool is absent or disabled, and for DSAR bundles (a subject
access export should not ship the subject's decisions to a third-party model). Every
sentence is built from recorded facts only: the funnel counts, the reason each offer was
dropped and the scores (with PRIE factors) of the offers that were scored, so the text
can be checked line by line against the trace.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

MODES = ("regulator", "agent", "customer")
FUNNEL = (
    ("candidateCount", "candidate offers"),
    ("afterQualification", "passed qualification"),
    ("afterConsent", "had the customer's consent"),
    ("afterContactPolicy", "passed contact policies"),
    ("finalCount", "were selected"),
)
FACTOR_NAMES = {"P": "propensity", "R": "relevance", "I": "impact", "E": "emphasis"}
MAX_REASONS = 8


def _funnel(trace: Mapping[str, Any]) -> list[str]:
    funnel = trace.get("funnel") or {}
    return [f"{funnel[key]} {label}" for key, label in FUNNEL if isinstance(funnel.get(key), int)]


def _reasons(trace: Mapping[str, Any]) -> list[str]:
    counts = Counter(
        f"{d.get('stage', 'pipeline')}: {d.get('reason', 'removed')}" for d in trace.get("dropped") or []
    )
    return [f"{reason} ({n} offer{'s' if n != 1 else ''})" for reason, n in counts.most_common(MAX_REASONS)]


def _names(trace: Mapping[str, Any]) -> dict[str, str]:
    return {str(d["offerId"]): str(d["offerName"]) for d in trace.get("dropped") or [] if d.get("offerName")}


def _scored(trace: Mapping[str, Any], names: Mapping[str, str]) -> list[str]:
    out = []
    rows = sorted(trace.get("scoringResults") or [], key=lambda r: -float(r.get("score") or 0))
    for row in rows:
        factors = row.get("factors") or {}
        parts = [f"{k}={float(v):.3f}" for k in FACTOR_NAMES if isinstance(v := factors.get(k), int | float)]
        label = names.get(str(row.get("offerId")), str(row.get("offerId")))
        detail = f" ({', '.join(parts)})" if parts else ""
        score = float(row.get("score") or 0)
        out.append(f"{label} scored {score:.4f} by {row.get('method') or 'n/a'}{detail}")
    return out


def _selected(trace: Mapping[str, Any]) -> list[str]:
    rows = sorted(trace.get("selectedOffers") or [], key=lambda r: r.get("rank") or 0)
    return [str(r.get("offerId")) for r in rows]


def regulator(trace: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    funnel = "; ".join(_funnel(trace)) or "no funnel counts were recorded"
    text = (
        f"Decision {trace.get('id')} for customer {trace.get('customerId')} at {trace.get('createdAt')} "
        f"(flow {trace.get('decisionFlowKey') or 'default'}, version {trace.get('flowVersion') or 'n/a'}): "
        f"{funnel}. Removal reasons: {'; '.join(_reasons(trace)) or 'none recorded'}. "
        f"Scoring: {'; '.join(_scored(trace, names)) or 'no offer was scored'}. "
        f"Selected in rank order: {', '.join(_selected(trace)) or 'none'}."
    )
    if trace.get("degradedScoring"):
        text += " Model scoring was degraded; a neutral fallback score was used."
    return {"narrative": text}


def agent(trace: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    selected = _selected(trace)
    return {
        "summary": f"{len(selected)} offer(s) selected for {trace.get('customerId')}.",
        "steps": _funnel(trace),
        "selected": [names.get(o, o) for o in selected],
        "scores": _scored(trace, names),
        "dropped": _reasons(trace),
    }


def customer(trace: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    selected = [names.get(o, o) for o in _selected(trace)]
    if not selected:
        return {"narrative": "We have no offer for you right now; this can change as your activity changes."}
    verb = "it fits" if len(selected) == 1 else "they fit"
    return {
        "narrative": f"We suggested {', '.join(selected)} because {verb} your profile and recent activity, "
        "and you had not been contacted too often recently."
    }


BUILDERS = {"regulator": regulator, "agent": agent, "customer": customer}


def template(trace: Mapping[str, Any], mode: str, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One audience's narrative from a camelCase trace dict; ``names`` maps offer ids to names."""
    merged = {**_names(trace), **(names or {})}
    return {"mode": mode, "source": "template", **BUILDERS[mode](trace, merged)}


def templates(
    trace: Mapping[str, Any], modes: Sequence[str], names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return {mode: template(trace, mode, names) for mode in modes}
