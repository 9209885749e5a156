import random

import pytest

from kaireon_mcp.core.models import epsilon_greedy as eg
from kaireon_mcp.core.models import thompson_bandit as tb
from kaireon_mcp.errors import ValidationError

ARMS = {"arms": {"off-travel": {"alpha": 22, "beta": 80}, "off-cashback": {"alpha": 65, "beta": 38}}}


class ScriptedRng(random.Random):
    """random() returns the scripted values in order."""

    def __init__(self, values):
        super().__init__(0)
        self._values = list(values)

    def random(self):
        return self._values.pop(0)


def test_thompson_draw_is_beta_variate_of_the_arm():
    res = tb.score({}, ARMS, {}, "off-travel", random.Random(42))
    assert res.score == random.Random(42).betavariate(22, 80)
    unseen = tb.score({}, ARMS, {}, "off-new", random.Random(9))
    assert unseen.score == random.Random(9).betavariate(1, 1)


def test_thompson_draws_average_to_posterior_mean():
    rng = random.Random(1)
    draws = [tb.score({}, ARMS, {}, "off-cashback", rng).score for _ in range(4000)]
    assert sum(draws) / len(draws) == pytest.approx(65 / 103, abs=0.01)


def test_thompson_learn():
    s1 = tb.learn({}, ARMS, {}, "off-travel", None, "positive")
    assert s1["arms"]["off-travel"] == {"alpha": 23, "beta": 80}
    s2 = tb.learn({}, s1, {}, "off-new", None, "negative")
    assert s2["arms"]["off-new"] == {"alpha": 1, "beta": 2}
    assert tb.learn({}, s2, {}, "off-travel", None, "neutral") == s2
    assert ARMS["arms"]["off-travel"] == {"alpha": 22, "beta": 80}


def test_thompson_prior_rate_and_errors():
    assert tb.prior({"priorRate": 0.2, "priorStrength": 50}) == (pytest.approx(10), pytest.approx(40))
    with pytest.raises(ValidationError):
        tb.score({}, ARMS, {}, None, random.Random(0))
    with pytest.raises(ValidationError):
        tb.learn({}, ARMS, {}, "off-travel", None, "great")


def test_epsilon_decay_doc_fixture():
    eps = eg.epsilon_t({"epsilon": 0.1, "decayRate": 0.001}, {"totalPulls": 300})
    assert eps == pytest.approx(0.1 / 1.3)
    assert round(eps, 4) == 0.0769
    assert eg.epsilon_t({}, {"epsilon": 0.2, "totalPulls": 0}) == 0.2


STATE = {"arms": {"a": {"pulls": 10, "totalReward": 3}}, "totalPulls": 300}


def test_epsilon_exploit_explore_and_optimism():
    assert eg.score({}, STATE, {}, "a", ScriptedRng([0.5])).score == pytest.approx(0.3)
    assert eg.score({}, STATE, {}, "a", ScriptedRng([0.05, 0.42])).score == 0.42
    assert eg.score({}, STATE, {}, "never-pulled", ScriptedRng([0.5])).score == 1.0


def test_epsilon_one_coin_per_offer_set():
    res = eg.score_offers(
        {},
        STATE | {"arms": STATE["arms"] | {"b": {"pulls": 4, "totalReward": 1}}},
        ["a", "b"],
        ScriptedRng([0.01, 0.7, 0.2]),
    )
    assert (res["a"].score, res["b"].score) == (0.7, 0.2)


def test_epsilon_learn():
    s = eg.learn({}, STATE, {}, "a", None, "positive")
    assert s["arms"]["a"] == {"pulls": 11, "totalReward": 4.0} and s["totalPulls"] == 301
    s = eg.learn({}, s, {}, "b", None, "negative")
    assert s["arms"]["b"] == {"pulls": 1, "totalReward": 0.0} and s["totalPulls"] == 302
    assert eg.learn({}, s, {}, "b", None, "neutral") == s
    assert eg.learn({}, {}, {}, "c", 0.25, "positive")["arms"]["c"]["totalReward"] == 0.25
