"""Model types that need an external runtime: ``external_endpoint``, ``neural_cf``, ``onnx_imported``.

Core logic makes no network calls and ships no inference runtime, so these types
are listed in the registry with ``runnable=False`` and their scorer fails loudly
instead of returning a made-up score. The transport layer may wrap a real client.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from kaireon_mcp.core.models.base import ScoreFn, ScoreResult
from kaireon_mcp.errors import ValidationError

UNRUNNABLE_TYPES = ("external_endpoint", "neural_cf", "onnx_imported")


def make_scorer(model_type: str) -> ScoreFn:
    """A scorer that always raises ``ValidationError`` naming the model type."""

    def score(
        config: Mapping[str, Any],
        state: Mapping[str, Any],
        features: Mapping[str, Any],
        offer_id: str | None = None,
        rng: random.Random | None = None,
    ) -> ScoreResult:
        raise ValidationError(
            f"{model_type} model cannot run without external service", field="modelType", modelType=model_type
        )

    return score
