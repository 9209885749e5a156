"""The worker's analyses: K-Means with silhouette selection, frequency binning, TF-IDF terms.

Pure functions over the rows a job carries, so they are testable without a server.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.cluster import DBSCAN, KMeans
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from kaireon_mcp.core.ai.heuristics import BANDS, band_rates

__all__ = ["frequency_bins", "segment_clusters", "tfidf_terms"]

RANDOM_STATE = 42
MAX_SILHOUETTE_SAMPLE = 2000


def _matrix(rows: Sequence[dict[str, Any]]) -> tuple[np.ndarray, list[str]]:
    """Numeric columns present in every row (rows with gaps are dropped)."""
    names = sorted(
        {k for r in rows for k, v in r.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    )
    kept = [r for r in rows if all(isinstance(r.get(n), int | float) and math.isfinite(r[n]) for n in names)]
    return np.array([[float(r[n]) for n in names] for r in kept], dtype=float), names


def _best_k(data: np.ndarray, low: int, high: int) -> tuple[int, np.ndarray, float]:
    best: tuple[int, np.ndarray, float] | None = None
    sample = min(len(data), MAX_SILHOUETTE_SAMPLE)
    for k in range(low, high + 1):
        labels = KMeans(n_clusters=k, n_init=3, random_state=RANDOM_STATE).fit_predict(data)
        if len(set(labels)) < 2:
            continue
        score = float(silhouette_score(data, labels, sample_size=sample, random_state=RANDOM_STATE))
        if best is None or score > best[2]:
            best = (k, labels, score)
    if best is None:
        raise ValueError("the data has too little variation to cluster")
    return best


def _describe(raw: np.ndarray, labels: np.ndarray, names: list[str], label: int) -> dict[str, Any]:
    members = raw[labels == label]
    means, overall = members.mean(axis=0), raw.mean(axis=0)
    spread = raw.std(axis=0) + 1e-9
    order = np.argsort(-np.abs((means - overall) / spread))[:3]
    rules, traits = [], []
    for i in order:
        low, high = float(members[:, i].min()), float(members[:, i].max())
        rules += [
            {"field": names[i], "operator": "gte", "value": low},
            {"field": names[i], "operator": "lte", "value": high},
        ]
        traits.append(f"{names[i]} average {means[i]:.1f} vs population {overall[i]:.1f}")
    return {
        "name": f"Cluster {label + 1}",
        "description": f"{len(members)} rows clustered on {', '.join(names[i] for i in order)}.",
        "size": int(len(members)),
        "percentage": round(100 * len(members) / len(raw)),
        "filterRules": rules,
        "characteristics": traits,
        "suggestedUse": "Target with offers tuned to this cluster's distinguishing features.",
    }


def segment_clusters(rows: Sequence[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any]:
    """K-Means over z-scored numeric features, K by silhouette in [minClusters, maxClusters]."""
    raw, names = _matrix(rows)
    seg = settings.get("segmentation", {})
    if len(raw) < 3 or not names:
        return {"results": [], "warnings": ["Not enough numeric rows to cluster"]}
    data = StandardScaler().fit_transform(raw)
    if seg.get("algorithm") == "dbscan":
        labels = DBSCAN().fit_predict(data)
        results = [_describe(raw, labels, names, int(x)) for x in sorted(set(labels)) if x >= 0]
        noise = int((labels < 0).sum())
        return {"results": results, "algorithm": "dbscan", "noise": noise}
    low = max(2, int(seg.get("minClusters", 2)))
    high = min(int(seg.get("maxClusters", 8)), len(raw) - 1)
    k, labels, score = _best_k(data, low, max(low, high))
    return {
        "results": [_describe(raw, labels, names, c) for c in range(k)],
        "algorithm": "kmeans",
        "k": k,
        "silhouette": round(score, 4),
    }


def frequency_bins(rows: Sequence[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any]:
    """Conversion rate per weekly-contact band and its correlation with contact count."""
    weeks = [(int(r.get("contacts", 0)), bool(r.get("converted"))) for r in rows]
    rates = band_rates(weeks)
    contacts = np.array([c for c, _ in weeks], dtype=float)
    converted = np.array([float(v) for _, v in weeks])
    corr = (
        float(np.corrcoef(contacts, converted)[0, 1])
        if len(weeks) > 1 and contacts.std() and converted.std()
        else 0.0
    )
    return {
        "frequencyBands": [
            {"contactsPerWeek": b, "samples": rates[b][0], "conversionRate": round(rates[b][1], 4)}
            for b in BANDS
            if b in rates
        ],
        "correlation": round(corr, 4),
        "samples": len(weeks),
    }


def tfidf_terms(rows: Sequence[dict[str, Any]], settings: dict[str, Any], top: int = 10) -> dict[str, Any]:
    """Terms that distinguish above-median-CTR creatives from the rest."""
    texts = [str(r.get("text") or r.get("name") or "") for r in rows]
    if len([t for t in texts if t.strip()]) < 2:
        return {"results": [], "warnings": ["Not enough creative text to analyze"]}
    ctr = np.array(
        [(r.get("clicks", 0) or 0) / max(r.get("impressions", 0) or 0, 1) for r in rows], dtype=float
    )
    vectorizer = TfidfVectorizer(stop_words="english", max_features=500)
    matrix = vectorizer.fit_transform(texts).toarray()
    terms = vectorizer.get_feature_names_out()
    high = ctr > np.median(ctr)
    if high.all() or not high.any():
        weights = matrix.mean(axis=0)
    else:
        weights = matrix[high].mean(axis=0) - matrix[~high].mean(axis=0)
    order = np.argsort(-weights)[:top]
    return {
        "results": [{"term": str(terms[i]), "weight": round(float(weights[i]), 4)} for i in order],
        "medianCtr": round(float(np.median(ctr)), 6),
    }
