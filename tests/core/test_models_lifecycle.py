import itertools

import pytest

from kaireon_mcp.core.models.lifecycle import REGISTRY_STATUSES, check_rollback_guard, check_transition
from kaireon_mcp.errors import ValidationError

ALLOWED = {
    ("draft", "shadow"),
    ("draft", "challenger"),
    ("draft", "archived"),
    ("shadow", "challenger"),
    ("shadow", "champion"),
    ("shadow", "archived"),
    ("shadow", "draft"),
    ("challenger", "champion"),
    ("challenger", "shadow"),
    ("challenger", "archived"),
    ("challenger", "draft"),
    ("champion", "challenger"),
    ("champion", "shadow"),
    ("champion", "archived"),
    ("archived", "draft"),
}


@pytest.mark.parametrize("src,dst", list(itertools.product(REGISTRY_STATUSES, repeat=2)))
def test_transition_table(src, dst):
    if (src, dst) in ALLOWED:
        check_transition(src, dst)
    else:
        with pytest.raises(ValidationError) as exc:
            check_transition(src, dst)
        assert exc.value.message == f"invalid_transition: {src} -> {dst}"


def test_draft_to_champion_message():
    with pytest.raises(ValidationError, match=r"^invalid_transition: draft -> champion$"):
        check_transition("draft", "champion")


def test_auc_drop_relative():
    assert check_rollback_guard({"auc": 0.81}, {"auc": 0.85}) == []  # 4.7 % drop
    with pytest.raises(ValidationError, match="rollback_guard") as exc:
        check_rollback_guard({"auc": 0.80}, {"auc": 0.85})  # 5.9 % drop
    assert exc.value.extra["breaches"][0]["value"] == pytest.approx(0.05 / 0.85)


def test_psi_error_rate_and_overrides():
    breaches = check_rollback_guard(
        {"auc": 0.9, "scoringErrorRate": 0.03},
        {"auc": 0.8},
        feature_psi={"age": 0.3, "income": 0.1},
        bypass=True,
    )
    assert [b["check"] for b in breaches] == ["psi:age", "error_rate"]
    assert check_rollback_guard({"featurePsi": {"age": 0.3}}, thresholds={"maxPsi": 0.5}) == []
    # training errorRate (1 - accuracy) is not the operational error rate
    assert check_rollback_guard({"errorRate": 0.2}) == []
    with pytest.raises(ValidationError):
        check_rollback_guard({}, thresholds={"maxLatency": 1})
