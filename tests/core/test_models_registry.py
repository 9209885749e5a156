import pytest

from kaireon_mcp.core.models import MODEL_TYPES, get_model_spec, get_scorer, scorecard
from kaireon_mcp.errors import ValidationError

ALL = {
    "scorecard",
    "bayesian",
    "logistic_regression",
    "gradient_boosted",
    "thompson_bandit",
    "epsilon_greedy",
    "online_learner",
    "neural_cf",
    "external_endpoint",
    "onnx_imported",
}


def test_registry_lists_all_ten_types():
    assert set(MODEL_TYPES) == ALL
    assert {t for t, s in MODEL_TYPES.items() if not s.runnable} == {
        "neural_cf",
        "external_endpoint",
        "onnx_imported",
    }
    assert {t for t, s in MODEL_TYPES.items() if s.online} == {
        "bayesian",
        "thompson_bandit",
        "epsilon_greedy",
        "online_learner",
    }
    assert {t for t, s in MODEL_TYPES.items() if s.trainable} == {
        "bayesian",
        "logistic_regression",
        "gradient_boosted",
    }
    assert get_scorer("scorecard") is scorecard.score


@pytest.mark.parametrize("model_type", ["neural_cf", "external_endpoint", "onnx_imported"])
def test_unrunnable_types_raise(model_type):
    with pytest.raises(ValidationError, match="cannot run without external service") as exc:
        get_scorer(model_type)({}, {}, {"a": 1})
    assert exc.value.field == "modelType"


def test_unknown_type():
    with pytest.raises(ValidationError):
        get_model_spec("random_forest")


def test_score_result_wire_shape():
    res = get_scorer("scorecard")(
        {"rules": [{"field": "a", "operator": "eq", "value": 1, "points": 10}]}, {}, {"a": 1}
    )
    assert res.to_dict() == {
        "score": pytest.approx(1 / (1 + 2.718281828459045**-1)),
        "rawScore": 60.0,
        "explanations": [{"field": "a", "contribution": 10.0, "value": 1}],
        "confidence": None,
    }
