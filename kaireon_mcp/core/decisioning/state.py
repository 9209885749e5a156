"""The mutable state one decision carries through its pipeline, and the trace it leaves.

Every node reads and narrows ``DecisionState.candidates``; every drop goes through
``DecisionState.drop`` so the trace can explain each candidate that did not make it.
"""

from __future__ import annotations

import operator
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
    #: ``DecisionState.view``'s last answer and the inputs it was built from
    view_memo: tuple[Any, ...] | None = field(default=None, init=False, repr=False, compare=False)

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
    #: the consent step (``consent.apply_consent``) ran; it runs once per decision
    consent_checked: bool = False

    def view(self, cand: Candidate) -> CandidateView:
        """What rules and policies may know about a candidate in this request.

        Qualification and contact policy both ask, so the view is kept on the candidate and
        reused while its offer, creative, placement and mandatory flag and the request's
        channel and placement are the same objects (values, for the id and the flag).
        """
        creative, channel, placement = cand.creative, self.channel, self.placement
        memo = cand.view_memo
        if (
            memo is not None
            and memo[0] is cand.offer
            and memo[1] is creative
            and memo[2] is channel
            and memo[3] is placement
            and memo[4] == cand.placement_id
            and memo[5] == cand.mandatory
        ):
            return memo[6]  # type: ignore[no-any-return]
        offer = cand.offer
        view = CandidateView(
            offer_id=str(offer["id"]),
            category_id=offer.get("categoryId"),
            sub_category_id=offer.get("subCategoryId"),
            creative_id=(creative or {}).get("id"),
            channel_id=(creative or {}).get("channelId") or (channel or {}).get("id"),
            placement_id=cand.placement_id or (placement or {}).get("id"),
            channel_type=(channel or {}).get("channelType"),
            product_type=offer.get("productType"),
            category_name=offer.get("categoryName"),
            mandatory=cand.mandatory,
            budget=offer.get("budget") or {},
            offer=offer,
        )
        cand.view_memo = (offer, creative, channel, placement, cand.placement_id, cand.mandatory, view)
        return view

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
        """Replace the working set, recording a drop for every candidate not kept.

        Builds the same entries as ``drop`` (reason first, then the non-None details in
        their order) without the keyword round trip per dropped candidate.
        """
        if len(survivors) != len(self.candidates) or not all(map(operator.is_, survivors, self.candidates)):
            kept = {id(c) for c in survivors}
            node_id, node_type = node.get("id"), node.get("type")
            dropped = self.dropped
            for cand in self.candidates:
                if id(cand) in kept:
                    continue
                info = reasons.get(cand.offer_id) or {}
                entry = {
                    "offerId": cand.offer_id,
                    "offerName": cand.name,
                    "nodeId": node_id,
                    "nodeType": node_type,
                    "stage": stage,
                    "reason": info["reason"] if "reason" in info else f"removed by {node_type}",
                }
                for key, value in info.items():
                    if key != "reason" and value is not None:
                        entry[key] = value
                dropped.append(entry)
        self.candidates = survivors
