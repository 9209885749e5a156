"""Feature encoding shared by the linear and tree models.

Encoded column names are the field name for numeric predictors and
``"field=value"`` for one-hot categoricals, so a model state keyed by these names is
self-describing: scoring needs no separate schema, and hand-written weights such as
``{"segment=Gold": 0.4}`` work too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kaireon_mcp.core.models.base import to_number


@dataclass(frozen=True)
class Schema:
    """Which predictors are numeric and which categorical values got a column."""

    numeric: tuple[str, ...]
    categorical: tuple[tuple[str, tuple[str, ...]], ...]

    def columns(self) -> list[str]:
        cols = list(self.numeric)
        for field_name, values in self.categorical:
            cols.extend(f"{field_name}={v}" for v in values)
        return cols

    def to_dict(self) -> dict[str, Any]:
        return {"numeric": list(self.numeric), "categorical": {f: list(v) for f, v in self.categorical}}


def category_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def infer_schema(rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> Schema:
    """A field is numeric when every non-null value parses as a number (bools count as 0/1)."""
    numeric: list[str] = []
    categorical: list[tuple[str, tuple[str, ...]]] = []
    for field_name in fields:
        values = [r.get(field_name) for r in rows if r.get(field_name) is not None]
        if all(to_number(v) is not None for v in values):
            numeric.append(field_name)
        else:
            seen = sorted({category_text(v) for v in values})
            categorical.append((field_name, tuple(seen)))
    return Schema(tuple(numeric), tuple(categorical))


def column_means(rows: Sequence[Mapping[str, Any]], numeric: Sequence[str]) -> dict[str, float]:
    """Training means, used to impute a numeric feature missing at score time."""
    out: dict[str, float] = {}
    for field_name in numeric:
        nums = [n for n in (to_number(r.get(field_name)) for r in rows) if n is not None]
        out[field_name] = sum(nums) / len(nums) if nums else 0.0
    return out


def source_field(column: str, features: Mapping[str, Any]) -> str:
    """The feature a column reads: itself, or the part before ``=`` for one-hot columns."""
    if column in features or "=" not in column:
        return column
    return column.split("=", 1)[0]


def column_value(column: str, features: Mapping[str, Any], imputation: Mapping[str, float]) -> float:
    """Numeric value of one encoded column (one-hot → 0/1; missing numeric → imputed mean or 0)."""
    if column in features and features[column] is not None:
        num = to_number(features[column])
        if num is not None:
            return num
    if "=" in column and column not in features:
        field_name, wanted = column.split("=", 1)
        actual = features.get(field_name)
        return 1.0 if actual is not None and category_text(actual) == wanted else 0.0
    return float(imputation.get(column, 0.0))


def encode(
    columns: Sequence[str], features: Mapping[str, Any], imputation: Mapping[str, float]
) -> list[float]:
    return [column_value(c, features, imputation) for c in columns]
