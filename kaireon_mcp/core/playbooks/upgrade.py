"""Which algorithm a model should move to next, and what that would buy (algorithm upgrade).

The ladder follows the platform's selection guide (decisioning-core.md 6.7): scorecard →
bayesian at 100+ labelled outcomes → logistic_regression at 1,000+ → gradient_boosted at
5,000+. Evidence is the larger of the model's ``trainingSamples`` and the tenant's labelled
responses (positive or negative interactions), because a hand-built scorecard has never
been trained yet its tenant may already have plenty of outcomes.

The projected AUC gain is measured, not guessed: the candidate type is trained in memory
on the same labelled rows trainModel would use, on a stratified 80 % split, and both the
candidate and the current model are scored on the same 20 % hold-out. Nothing is stored.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select

from kaireon_mcp.core.models import MODEL_TYPES
from kaireon_mcp.core.models.base import stratified_split
from kaireon_mcp.core.models.metrics import roc_auc
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import AlgorithmModel, Interaction

LADDER: tuple[tuple[str, int], ...] = (
    ("scorecard", 0),
    ("bayesian", 100),
    ("logistic_regression", 1000),
    ("gradient_boosted", 5000),
)
OFF_LADDER = {
    "thompson_bandit": "bandits explore/exploit among few arms; they have no feature-based successor",
    "epsilon_greedy": "bandits explore/exploit among few arms; they have no feature-based successor",
    "online_learner": "online learners are for streaming updates without retraining; keep it",
    "neural_cf": "collaborative filtering answers a different question (user x offer affinity)",
    "external_endpoint": "external models are trained outside the platform",
    "onnx_imported": "imported models are trained outside the platform",
}
SEED = 42


async def labelled_responses(repo: Repository) -> int:
    stmt = select(func.count()).where(
        Interaction.tenant_id == repo.ctx.tenant_id, Interaction.classification.in_(("positive", "negative"))
    )
    return int((await repo.session.execute(stmt)).scalar_one())


def propose(model_type: str, evidence: int) -> dict[str, Any]:
    """The highest rung above the current one that the evidence supports (or why none)."""
    rungs = [name for name, _ in LADDER]
    if model_type not in rungs:
        return {"candidate": None, "reason": OFF_LADDER.get(model_type, "not on the upgrade ladder")}
    here = rungs.index(model_type)
    eligible = [name for name, need in LADDER[here + 1 :] if evidence >= need]
    if eligible:
        need = dict(LADDER)[eligible[-1]]
        return {
            "candidate": eligible[-1],
            "reason": f"{evidence} labelled outcomes ≥ {need} needed for {eligible[-1]}",
        }
    if here + 1 < len(LADDER):
        nxt, need = LADDER[here + 1]
        return {
            "candidate": None,
            "reason": f"{nxt} needs {need}+ labelled outcomes; {evidence} so far ({need - evidence} more)",
        }
    return {"candidate": None, "reason": "already at the top of the ladder"}


def _scores(
    model_type: str, config: Mapping[str, Any], state: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> list[float]:
    spec = MODEL_TYPES[model_type]
    rng = random.Random(SEED)
    return [float(spec.score(config, state, row, None, rng).score) for row in rows]


def projected_gain(
    model: AlgorithmModel,
    candidate: str,
    rows: Sequence[Mapping[str, Any]],
    label: str,
    fields: Sequence[str],
) -> dict[str, Any]:
    """Hold-out AUC of the current model and of the candidate trained on the same rows."""
    labels = [int(r[label]) for r in rows]
    if labels.count(1) < 4 or labels.count(0) < 4:
        return {"available": False, "reason": "needs at least 4 positive and 4 negative labelled rows"}
    train_idx, test_idx = stratified_split(labels, SEED)
    train_fn = MODEL_TYPES[candidate].train
    if train_fn is None:
        return {"available": False, "reason": f"{candidate} cannot be trained in-process"}
    state, _ = train_fn({}, [rows[i] for i in train_idx], label, list(fields))
    test_rows, test_labels = [rows[i] for i in test_idx], [labels[i] for i in test_idx]
    current = roc_auc(
        test_labels, _scores(model.model_type, model.config or {}, model.model_state or {}, test_rows)
    )
    new = roc_auc(test_labels, _scores(candidate, {"predictors": list(fields)}, state, test_rows))
    return {
        "available": True,
        "holdoutRows": len(test_rows),
        "trainingRows": len(train_idx),
        "currentAuc": round(current, 6),
        "candidateAuc": round(new, 6),
        "projectedAucGain": round(new - current, 6),
    }


def explain(
    model: AlgorithmModel, evidence: int, proposal: Mapping[str, Any], gain: Mapping[str, Any] | None
) -> str:
    """Plain-language summary for a marketer or an agent."""
    if proposal["candidate"] is None:
        return f"Keep {model.name} as a {model.model_type}: {proposal['reason']}."
    text = (
        f"{model.name} is a {model.model_type} and the tenant now has {evidence} labelled outcomes, "
        f"enough for {proposal['candidate']}, which learns from the data instead of fixed rules or counts."
    )
    if gain and gain.get("available"):
        delta = gain["projectedAucGain"]
        text += (
            f" Trained on the same rows it scores AUC {gain['candidateAuc']:.3f} against "
            f"{gain['currentAuc']:.3f} today on a {gain['holdoutRows']}-row hold-out "
            f"({'+' if delta >= 0 else ''}{delta:.3f})."
        )
        if delta <= 0:
            text += " The data does not support switching yet."
    elif gain:
        text += f" No projected gain: {gain['reason']}."
    return text + " Run it as a shadow challenger before promoting."
