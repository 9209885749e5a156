"""The mutable state one decision carries through its pipeline, and the trace it leaves.

Every node reads and narrows ``DecisionState.candidates``; every drop goes through
``DecisionState.drop`` so the trace can explain each candidate that did not make it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kaireon_mcp.core.contact_policy import ContactLedger
from kaireon_mcp.core.models import ScoreResult
from kaireon_mcp.core.qualification import CandidateView, CustomerContext


@dataclass
class Candidate:
    """One offer travelling through the flow with its chosen creative and scores."""

    offer: dict[str, Any]
    creatives: list[dict[str, Any]] = field(default_factory=list)
    creative: dict[str, Any] | None = None
    placement_id: str | None = None
    fit_multiplier: float = 1.0
    factors: dict[str, float] = field(default_factory=dict)
    score: float = 0.0
    score_method: str = ""
    model_key: str | None = None
    rank: int = 0
    mandatory: bool = False
    personalization: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    shadow_scores: list[dict[str, Any]] = field(default_factory=list)
    explanations: list[dict[str, Any]] = field(default_factory=list)
    qualification: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def offer_id(self) -> str:
        return str(self.offer["id"])

    @property
    def name(self) -> str:
        return str(self.offer.get("name", ""))

    @property
    def priority(self) -> float:
        return float(self.offer.get("priority") or 0)

    @property
    def category_id(self) -> str | None:
        return self.offer.get("categoryId")

    @property
    def sub_category_id(self) -> str | None:
        return self.offer.get("subCategoryId")


@dataclass
class ScoreMemo:
    """What one Score node computes once for all its candidates (see ``Engine.model_score``)."""

    features: dict[str, Any] | None = None
    #: pure model results by model identity; ``None`` when the model raised
    pure: dict[int, tuple[dict[str, Any], ScoreResult | None]] = field(default_factory=dict)


@dataclass
class DecisionState:
    """Inputs, working set and trace of a single decision."""

    tenant_id: str
    customer: CustomerContext
    ledger: ContactLedger
    request: dict[str, Any]
    now: datetime
    rng: random.Random
    channel: dict[str, Any] | None = None
    placement: dict[str, Any] | None = None
    flow: dict[str, Any] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    qualification_results: list[dict[str, Any]] = field(default_factory=list)
    contact_policy_results: list[dict[str, Any]] = field(default_factory=list)
    experiment_assignment: dict[str, Any] | None = None
    control_group: bool = False
    degraded: bool = False
    placement_results: dict[str, list[Candidate]] | None = None
    coupling: list[dict[str, Any]] = field(default_factory=list)
    funnel: dict[str, int] = field(default_factory=dict)
    selected_offer_ids: set[str] = field(default_factory=set)
    enriched: bool = False
    call_depth: int = 0

    def view(self, cand: Candidate) -> CandidateView:
        """What rules and policies may know about a candidate in this request."""
        creative = cand.creative or {}
        return CandidateView(
            offer_id=cand.offer_id,
            category_id=cand.category_id,
            sub_category_id=cand.sub_category_id,
            creative_id=creative.get("id"),
            channel_id=creative.get("channelId") or (self.channel or {}).get("id"),
            placement_id=cand.placement_id or (self.placement or {}).get("id"),
            channel_type=(self.channel or {}).get("channelType"),
            product_type=cand.offer.get("productType"),
            category_name=cand.offer.get("categoryName"),
            mandatory=cand.mandatory,
            budget=cand.offer.get("budget") or {},
            offer=cand.offer,
        )

    def drop(self, cand: Candidate, node: dict[str, Any], stage: str, reason: str, **detail: Any) -> None:
        self.dropped.append(
            {
                "offerId": cand.offer_id,
                "offerName": cand.name,
                "nodeId": node.get("id"),
                "nodeType": node.get("type"),
                "stage": stage,
                "reason": reason,
                **{k: v for k, v in detail.items() if v is not None},
            }
        )

    def keep(
        self, node: dict[str, Any], stage: str, survivors: list[Candidate], reasons: dict[str, Any]
    ) -> None:
        """Replace the working set, recording a drop for every candidate not kept."""
        kept = {id(c) for c in survivors}
        for cand in self.candidates:
            if id(cand) not in kept:
                info = reasons.get(cand.offer_id) or {}
                self.drop(
                    cand,
                    node,
                    stage,
                    info.get("reason", f"removed by {node.get('type')}"),
                    **{k: v for k, v in info.items() if k != "reason"},
                )
        self.candidates = survivors
