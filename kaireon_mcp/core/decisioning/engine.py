"""Runs a resolved flow's nodes over one customer and produces a fully explained decision."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kaireon_mcp.core.decisioning.catalog import Catalog, load_catalog
from kaireon_mcp.core.decisioning.consent import STAGE as CONSENT_STAGE
from kaireon_mcp.core.decisioning.consent import ConsentStatus, apply_consent
from kaireon_mcp.core.decisioning.flows import ResolvedFlow, flow_by_key, latest_version, resolve_flow
from kaireon_mcp.core.decisioning.nodes import NODE_HANDLERS, model_assignment, runnable
from kaireon_mcp.core.decisioning.profile import (
    days_since_last_impression,
    load_ledger,
    load_metrics,
    load_schema_attributes,
)
from kaireon_mcp.core.decisioning.state import Candidate, DecisionState, ScoreMemo
from kaireon_mcp.core.experiments import bucket
from kaireon_mcp.core.flow_schema import NODE_TYPES, PHASE_NAMES
from kaireon_mcp.core.models import MODEL_TYPES, ScoreResult
from kaireon_mcp.core.qualification import CustomerContext
from kaireon_mcp.errors import ValidationError
from kaireon_mcp.storage.repository import Repository

Extension = Callable[[DecisionState, dict[str, Any]], Awaitable[None]]
MAX_LIMIT = 50


def _after_narrowing(node: dict[str, Any]) -> bool:
    """A score/rank/output node (phase 2 or 3): consent must have been checked before it."""
    spec = NODE_TYPES.get(str(node.get("type")))
    return spec is not None and spec.phase is not None and spec.phase >= 2


async def _traced(
    state: DecisionState, node_id: Any, node_type: str, phase: str, work: Awaitable[None]
) -> None:
    """Run one step and record it as a trace stage: candidates in and out, and its duration."""
    started = time.perf_counter()
    stage: dict[str, Any] = {
        "nodeId": node_id,
        "type": node_type,
        "phase": phase,
        "in": len(state.candidates),
    }
    state.stages.append(stage)
    await work
    stage["out"] = len(state.candidates)
    stage["durationMs"] = round((time.perf_counter() - started) * 1000, 3)


@dataclass
class Engine:
    """One decision's executor. ``explain_all`` keeps evaluating for explanations, never persists."""

    repo: Repository
    catalog: Catalog
    extensions: dict[str, Extension] = field(default_factory=dict)
    explain_all: bool = False
    #: the last customer's consent records (customer id, statuses by purpose): the placements
    #: of one request, or a batch's consecutive decisions for one customer, read them once
    consent_memo: tuple[str, dict[str, ConsentStatus]] | None = None

    @classmethod
    async def load(cls, repo: Repository, *, explain_all: bool = False) -> Engine:
        return cls(repo, await load_catalog(repo), explain_all=explain_all)

    @property
    def dialect(self) -> str:
        """The SQL dialect of the repository's database (``sqlite`` or ``postgresql``)."""
        bind: Any = self.repo.session.bind
        return str(bind.dialect.name)

    # ---- building the state -------------------------------------------------------------
    async def new_state(self, request: dict[str, Any], now: datetime) -> DecisionState:
        customer_id = str(request["customerId"])
        ledger = await load_ledger(self.repo, self.catalog, customer_id, now)
        attributes = {k: v for k, v in (request.get("attributes") or {}).items() if k != "propensityScores"}
        customer = CustomerContext(
            customer_id=customer_id,
            attributes=attributes,
            segments=frozenset(request.get("segments") or []),
            metrics={},
            days_since_last_impression=days_since_last_impression(ledger, now),
        )
        channel = self.catalog.channel_by_ref(request.get("channelId") or request.get("channel"))
        if (request.get("channelId") or request.get("channel")) and channel is None:
            raise ValidationError(
                f"unknown channel {request.get('channelId') or request.get('channel')!r}",
                field="channelId" if request.get("channelId") else "channel",
            )
        placement = self.catalog.placement_by_ref(
            channel, request.get("placement") or request.get("placementId")
        )
        if (request.get("placement") or request.get("placementId")) and placement is None:
            raise ValidationError(
                f"unknown placement {request.get('placement') or request.get('placementId')!r}",
                field="placement",
            )
        if channel is None and placement is not None:
            channel = self.catalog.channels.get(placement["channelId"])
        seed = hashlib.sha256(f"{customer_id}|{now.isoformat()}".encode()).digest()
        return DecisionState(
            tenant_id=self.repo.ctx.tenant_id,
            customer=customer,
            ledger=ledger,
            request=request,
            now=now,
            rng=random.Random(int.from_bytes(seed[:8], "big")),
            channel=channel,
            placement=placement,
        )

    async def enrich(self, state: DecisionState) -> None:
        """Merge schema rows and behavioral metrics under the request attributes (request wins)."""
        if state.enriched:
            return
        loaded = await load_schema_attributes(self.repo, state.customer.customer_id)
        metrics = await load_metrics(self.repo, state.customer.customer_id)
        merged = {**loaded, **{k: v for k, v in metrics.items()}, **dict(state.customer.attributes)}
        state.customer = CustomerContext(
            customer_id=state.customer.customer_id,
            attributes=merged,
            segments=state.customer.segments,
            metrics=metrics,
            propensity=state.customer.propensity,
            days_since_last_impression=state.customer.days_since_last_impression,
        )
        state.enriched = True

    # ---- running ------------------------------------------------------------------------
    async def resolve(self, state: DecisionState, *, create_base: bool) -> ResolvedFlow:
        """The flow for this request; memoised on the catalogue, which reloads on any flow change."""
        where = (
            state.request.get("decisionFlowKey"),
            (state.channel or {}).get("id"),
            (state.placement or {}).get("id"),
        )
        resolved = self.catalog.resolved_flows.get(where)
        if resolved is None:
            resolved = await resolve_flow(self.repo, *where, create_base=create_base)
            if resolved.flow.get("id") is not None and resolved.how != "base flow created":
                self.catalog.resolved_flows[where] = resolved
        state.flow = {**resolved.flow, "version": resolved.version, "resolvedBy": resolved.how}
        return resolved

    async def run(self, state: DecisionState, nodes: list[dict[str, Any]]) -> None:
        """Run the nodes in order; consent is enforced even if the flow has no contact_policy node.

        The ``contact_policy`` node checks consent first thing. A flow without one gets the
        check just before its first score/rank/output node (or after its last node), as a stage
        of type ``consent``, so no flow layout can skip it (see ``consent.apply_consent``).
        """
        self._holdout(state)
        for node in nodes:
            if not state.consent_checked and _after_narrowing(node):
                await self.check_consent(state)
            await self.run_node(state, node)
        if not state.consent_checked:
            await self.check_consent(state)
        state.funnel.setdefault("afterQualification", state.funnel.get("candidateCount", 0))
        state.funnel.setdefault("afterConsent", state.funnel["afterQualification"])
        state.funnel.setdefault("afterSuppression", state.funnel["afterQualification"])
        state.funnel.setdefault("afterContactPolicy", state.funnel["afterSuppression"])
        state.funnel["finalCount"] = len(state.candidates)

    def _holdout(self, state: DecisionState) -> None:
        pct = float(self.catalog.settings.get("holdoutPercentage") or 0)
        if pct > 0 and bucket("__tenant_holdout__", state.customer.customer_id) < pct:
            state.control_group = True

    async def run_node(self, state: DecisionState, node: dict[str, Any]) -> None:
        node_type = str(node.get("type"))
        handler = NODE_HANDLERS.get(node_type)
        if handler is None:
            raise ValidationError(f"unknown node type {node_type!r}", field=f"node {node.get('id')}")
        phase = PHASE_NAMES[NODE_TYPES[node_type].phase]
        await _traced(state, node.get("id"), node_type, phase, handler(self, state, node))

    async def check_consent(self, state: DecisionState) -> None:
        """The consent step on its own, for flows whose layout did not run it in contact_policy."""
        node = {"id": CONSENT_STAGE, "type": CONSENT_STAGE}
        await _traced(state, CONSENT_STAGE, CONSENT_STAGE, PHASE_NAMES[1], apply_consent(self, state, node))

    async def call_flow(self, state: DecisionState, ref: str) -> None:
        """Run a published sub-flow's nodes (minus its inventory) on the current candidates."""
        if state.call_depth >= 2:
            raise ValidationError(f"call_flow nesting deeper than 2 at {ref!r}", field="flowKey")
        flow = await flow_by_key(self.repo, ref)
        version = await latest_version(self.repo, flow.id)
        nodes = list(((version.config_snapshot if version else None) or {}).get("nodes") or [])
        state.call_depth += 1
        try:
            for node in nodes:
                if node.get("type") != "inventory":
                    await self.run_node(state, node)
        finally:
            state.call_depth -= 1

    # ---- helpers used by nodes ----------------------------------------------------------
    def limit(self, state: DecisionState, node_max: int) -> int:
        requested = int(state.request.get("limit") or 5)
        tenant_cap = int(self.catalog.settings.get("maxOffersPerDecision") or MAX_LIMIT)
        if self.explain_all:
            return max(node_max, requested)
        return max(0, min(node_max, requested, tenant_cap, MAX_LIMIT))

    def assigned_model(self, state: DecisionState, config: dict[str, Any]) -> dict[str, Any] | None:
        models_by_id = {m["id"]: m for m in self.catalog.models.values()}
        key = config.get("modelKey")
        cc = config.get("championChallenger") or {}
        if cc.get("enabled") and cc.get("experimentId"):
            experiments = [e for e in self.catalog.experiments if e["id"] == cc["experimentId"]]
        else:
            experiments = self.catalog.experiments
        model, assignment = model_assignment(experiments, models_by_id, key, state.customer.customer_id)
        if assignment is not None:
            state.experiment_assignment = assignment
            if assignment.get("controlGroup"):
                state.control_group = True
                return None
            return model if runnable(model) else None
        model = self.catalog.models.get(str(key)) if key else None
        return model if runnable(model) else None

    def model_score(
        self,
        state: DecisionState,
        cand: Candidate,
        model: dict[str, Any] | None,
        memo: ScoreMemo | None = None,
    ) -> tuple[float, list[dict[str, Any]]] | None:
        """Score with a model; failures degrade to the neutral fallback of section 3.12.

        Every call draws once from ``state.rng`` (later random choices depend on it), but
        only models that use randomness get a ``Random``. With a ``memo`` (one per Score
        node, during which the customer cannot change) the features are built once and a
        pure model (see ``ModelSpec.pure``) is scored once for all candidates.
        """
        if not runnable(model):
            return None
        assert model is not None
        spec = MODEL_TYPES[str(model["modelType"])]
        if memo is None:
            memo = ScoreMemo()
        features = memo.features
        if features is None:
            features = memo.features = {k: v for k, v in state.customer.attributes.items() if "." not in k}
        seed = state.rng.random()
        hit = memo.pure.get(id(model)) if spec.pure else None
        outcome: ScoreResult | None
        if hit is not None and hit[0] is model:
            outcome = hit[1]
        else:
            try:
                outcome = spec.score(
                    model.get("config") or {},
                    model.get("modelState") or {},
                    features,
                    cand.offer_id,
                    None if spec.pure else random.Random(seed),
                )
            except Exception:  # noqa: BLE001 - any model fault degrades, never breaks the decision
                outcome = None
            if spec.pure:
                memo.pure[id(model)] = (model, outcome)
        if outcome is None:
            state.degraded = True
            weight = float((cand.creative or cand.offer).get("weight") or 100)
            return 0.5 * weight / 100 * cand.fit_multiplier, []
        return outcome.score, [dict(e) for e in outcome.explanations]

    def group_placements(self, state: DecisionState) -> list[dict[str, Any]]:
        requested = state.request.get("placements") or []
        if requested:
            found = [
                self.catalog.placement_by_ref(state.channel, str(p.get("placementId"))) for p in requested
            ]
            return [p for p in found if p]
        if state.placement:
            return [state.placement]
        if state.channel:
            return self.catalog.channel_placements(state.channel["id"])
        return []
