"""Gradient-boosted trees: ``score = sigmoid(init_raw_margin + Σ leaf values)``.

Training uses scikit-learn's ``GradientBoostingClassifier`` (deterministic
``random_state``), but the fitted model is exported to plain JSON so scoring is a
dependency-free tree walk and model state never contains a pickle::

    {"format": "kaireon-gbt-v1", "feature_names": [...], "init_raw_margin": m,
     "trees": [{"tree_structure": node}], "imputation": {...}, "encoding": {...}}

    node = {"split_feature": name, "threshold": t, "left": node, "right": node,
            "value": v, "cover": n}  |  {"leaf_value": v, "cover": n}

Go ``left`` when ``x <= threshold`` (sklearn's rule; values are rounded to float32
first because sklearn compares float32 inputs, so exported scores match exactly).
Leaf values already include the learning rate. The reader also accepts
LightGBM-style ``left_child``/``right_child``, integer ``split_feature`` indices and
``internal_value`` / ``internal_count`` names.

Explanations are Saabas path contributions: walking a tree from root to leaf, each
split credits ``value(child) − value(parent)`` to its feature, so per tree the
contributions sum to ``leaf − root value`` and overall
``raw_margin = init_raw_margin + Σ root values + Σ contributions``. This is exact
and cheap, but unlike TreeSHAP it depends on split order (spec §6.2 names
TreeSHAP; Saabas is the documented substitute). Internal node values are the
cover-weighted mean of their leaves, which keeps the decomposition exact even
though boosting re-fits leaf values after the split.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kaireon_mcp.core.models.base import (
    ScoreResult,
    config_number,
    explanation,
    labelled_rows,
    predictor_fields,
    sigmoid,
    sort_explanations,
    stratified_split,
    training_seed,
)
from kaireon_mcp.core.models.encoding import column_means, column_value, encode, infer_schema, source_field
from kaireon_mcp.core.models.metrics import binary_metrics
from kaireon_mcp.errors import ValidationError

STATE_FORMAT = "kaireon-gbt-v1"


def _child(node: Mapping[str, Any], side: str) -> Mapping[str, Any]:
    child = node.get(side, node.get(f"{side}_child"))
    if not isinstance(child, Mapping):
        raise ValidationError(f"tree node is missing its {side} child", field="modelState.trees")
    return child


def _is_leaf(node: Mapping[str, Any]) -> bool:
    return "leaf_value" in node


def _cover(node: Mapping[str, Any]) -> float:
    for key in ("cover", "internal_count", "leaf_count"):
        if key in node:
            return float(node[key])
    return 1.0


def _node_value(node: Mapping[str, Any]) -> float:
    """Leaf value, stored internal value, or the cover-weighted mean of the children."""
    if _is_leaf(node):
        return float(node["leaf_value"])
    for key in ("value", "internal_value"):
        if key in node:
            return float(node[key])
    left, right = _child(node, "left"), _child(node, "right")
    wl, wr = _cover(left), _cover(right)
    return (wl * _node_value(left) + wr * _node_value(right)) / (wl + wr)


def _feature_name(node: Mapping[str, Any], names: Sequence[str]) -> str:
    feat = node.get("split_feature")
    if isinstance(feat, int) and not isinstance(feat, bool):
        if not 0 <= feat < len(names):
            raise ValidationError("split_feature index out of range", field="modelState.trees")
        return names[feat]
    if not isinstance(feat, str):
        raise ValidationError("tree node needs split_feature", field="modelState.trees")
    return feat


def _f32(x: float) -> float:
    return float(np.float32(x))


def _walk(
    node: Mapping[str, Any], x: Mapping[str, float], names: Sequence[str], contrib: dict[str, float]
) -> float:
    """Follow one tree to its leaf, crediting each split's value change to its feature."""
    while not _is_leaf(node):
        column = _feature_name(node, names)
        threshold = float(node["threshold"])
        child = _child(node, "left") if _f32(x[column]) <= threshold else _child(node, "right")
        contrib[column] += _node_value(child) - _node_value(node)
        node = child
    return float(node["leaf_value"])


def _trees(state: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    trees = state.get("trees")
    if not isinstance(trees, list) or not trees:
        raise ValidationError("gradient_boosted model is not trained (no trees in state)", field="modelState")
    return [t.get("tree_structure", t) if isinstance(t, Mapping) else {} for t in trees]


def _columns(state: Mapping[str, Any], trees: Sequence[Mapping[str, Any]]) -> list[str]:
    names = [str(n) for n in state.get("feature_names") or []]
    found: set[str] = set()
    stack = list(trees)
    while stack:
        node = stack.pop()
        if not _is_leaf(node):
            found.add(_feature_name(node, names))
            stack.extend([_child(node, "left"), _child(node, "right")])
    return sorted(found | set(names))


def raw_margin_and_contributions(
    state: Mapping[str, Any], features: Mapping[str, Any]
) -> tuple[float, float, dict[str, float]]:
    """(raw margin, bias = init + Σ root values, per-column Saabas contributions)."""
    trees = _trees(state)
    names = [str(n) for n in state.get("feature_names") or []]
    imputation = state.get("imputation") or {}
    x = {c: column_value(c, features, imputation) for c in _columns(state, trees)}
    contrib: dict[str, float] = defaultdict(float)
    init = float(state.get("init_raw_margin", 0.0))
    margin = init + sum(_walk(t, x, names, contrib) for t in trees)
    bias = init + sum(_node_value(t) for t in trees)
    return margin, bias, dict(contrib)


def score(
    config: Mapping[str, Any],
    state: Mapping[str, Any],
    features: Mapping[str, Any],
    offer_id: str | None = None,
    rng: random.Random | None = None,
) -> ScoreResult:
    """Tree-walk scoring of an exported ensemble; explanations merge one-hot columns per field."""
    margin, _bias, contrib = raw_margin_and_contributions(state, features)
    per_field: dict[str, float] = defaultdict(float)
    for column, c in contrib.items():
        per_field[source_field(column, features)] += c
    parts = [explanation(f, c, features.get(f)) for f, c in per_field.items()]
    return ScoreResult(sigmoid(margin), margin, sort_explanations(parts))


def _export_node(
    tree: Any, node: int, names: Sequence[str], lr: float
) -> tuple[dict[str, Any], float, float]:
    """Recursively convert sklearn's array tree; returns (node dict, value, cover)."""
    cover = float(tree.weighted_n_node_samples[node])
    left, right = int(tree.children_left[node]), int(tree.children_right[node])
    if left == -1:
        value = lr * float(tree.value[node][0][0])
        return {"leaf_value": value, "cover": cover}, value, cover
    ldict, lval, lcov = _export_node(tree, left, names, lr)
    rdict, rval, rcov = _export_node(tree, right, names, lr)
    value = (lval * lcov + rval * rcov) / (lcov + rcov)
    out = {
        "split_feature": names[int(tree.feature[node])],
        "threshold": float(tree.threshold[node]),
        "left": ldict,
        "right": rdict,
        "value": value,
        "cover": cover,
    }
    return out, value, cover


def export_sklearn_gbc(model: Any, feature_names: Sequence[str]) -> dict[str, Any]:
    """JSON-able state from a fitted binary ``GradientBoostingClassifier``."""
    if len(model.classes_) != 2:
        raise ValidationError("only binary gradient boosting models can be exported", field="targetField")
    if model.init_ == "zero":
        init = 0.0
    else:
        p = float(model.init_.predict_proba(np.zeros((1, len(feature_names))))[0][1])
        init = math.log(p / (1.0 - p))
    lr = float(model.learning_rate)
    trees = [
        {"tree_structure": _export_node(est.tree_, 0, feature_names, lr)[0]}
        for est in model.estimators_[:, 0]
    ]
    return {
        "format": STATE_FORMAT,
        "feature_names": list(feature_names),
        "init_raw_margin": init,
        "trees": trees,
    }


def _classifier(config: Mapping[str, Any]) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(
        n_estimators=int(config_number(config, "nEstimators", 100)),
        learning_rate=config_number(config, "learningRate", 0.1),
        max_depth=int(config_number(config, "maxDepth", 3)),
        subsample=config_number(config, "subsample", 1.0),
        min_samples_leaf=int(config_number(config, "minSamplesLeaf", 1)),
        random_state=training_seed(config),
    )


def train(
    config: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    target_field: str,
    predictors: Sequence[Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit on a stratified 80 % split and export; metrics come from the 20 % hold-out."""
    fields = predictor_fields(predictors)
    if not fields:
        raise ValidationError("at least one predictor is required", field="predictors")
    kept, labels = labelled_rows(rows, target_field)
    train_idx, test_idx = stratified_split(labels, training_seed(config))
    train_rows = [kept[i] for i in train_idx]
    schema = infer_schema(train_rows, fields)
    columns = schema.columns()
    means = column_means(train_rows, schema.numeric)
    model = _classifier(config)
    model.fit(np.array([encode(columns, r, means) for r in train_rows]), [labels[i] for i in train_idx])
    state = export_sklearn_gbc(model, columns)
    state["imputation"] = means
    state["encoding"] = schema.to_dict()
    y_score = [score(config, state, kept[i]).score for i in test_idx]
    metrics: dict[str, Any] = dict(binary_metrics([labels[i] for i in test_idx], y_score))
    metrics["trainingSamples"] = len(train_idx)
    metrics["testSamples"] = len(test_idx)
    return state, metrics
