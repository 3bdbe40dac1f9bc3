"""Claims as tests: known effects give their verdicts, no effect gives a decisive verdict about 5 % of the
time at n = 2, 3 and 5, and the interval is Student t with n - 1 degrees of freedom."""
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from minidl.experiments import stats


def test_known_effect_no_effect_and_opposite_effect():
    rng = np.random.default_rng(0)
    base = rng.normal(size=10)
    noise = 0.1 * rng.normal(size=10)
    assert stats.paired("up", base + 1 + noise, base, "greater").verdict == stats.HOLDS
    assert stats.paired("up", base - 1 + noise, base, "greater").verdict == stats.DOES_NOT_HOLD
    assert stats.paired("down", base - 1 + noise, base, "less").verdict == stats.HOLDS
    assert stats.paired("up", base + noise, base, "greater").verdict == stats.INCONCLUSIVE


def test_interval_is_student_t_with_n_minus_one_degrees_of_freedom():
    d = np.array([0.2, 1.0, 0.6])
    n, mean, low, high = stats.interval(d)
    half = scipy_stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
    assert (n, mean) == (3, pytest.approx(d.mean()))
    assert (low, high) == (pytest.approx(d.mean() - half), pytest.approx(d.mean() + half))
    assert stats.paired("up", d, np.zeros(3), "greater").verdict == stats.INCONCLUSIVE   # 2 x SE would hold


@pytest.mark.parametrize("n", [2, 3, 5])
def test_false_positive_rate_without_an_effect_is_about_five_percent(n):
    rng = np.random.default_rng(n)
    trials = 4000
    verdicts = [stats.paired("up", rng.normal(size=n), rng.normal(size=n), "greater").verdict
                for _ in range(trials)]
    holds = verdicts.count(stats.HOLDS) / trials
    decisive = (verdicts.count(stats.HOLDS) + verdicts.count(stats.DOES_NOT_HOLD)) / trials
    assert abs(decisive - 0.05) < 0.015 and abs(holds - 0.025) < 0.01


def test_one_seed_has_no_spread_and_no_verdict():
    claim = stats.paired("up", [5.0], [1.0], "greater")
    assert claim.verdict == stats.INCONCLUSIVE and math.isnan(claim.low)
    assert "spread undefined" in claim.line() and "n = 1" in claim.line()


def test_edge_values():
    assert stats.paired("up", [2.0, 2.0], [1.0, 1.0], "greater").verdict == stats.HOLDS     # zero spread
    assert stats.paired("up", [1.0, 1.0], [1.0, 1.0], "greater").verdict == stats.INCONCLUSIVE
    claim = stats.paired("up", [np.nan, 3.0, 4.0], [0.0, 0.0, 0.0], "greater")
    assert claim.verdict == stats.INCONCLUSIVE and "non-finite" in claim.line()
    assert stats.paired("up", [np.inf, 3.0], [0.0, 0.0], "greater").verdict == stats.INCONCLUSIVE
    with pytest.raises(ValueError, match="paired: a and b"):
        stats.paired("up", [1.0, 2.0], [1.0], "greater")
    with pytest.raises(ValueError, match="interval: expected a non-empty"):
        stats.paired("up", [], [], "greater")
    with pytest.raises(ValueError, match="direction must be"):
        stats.paired("up", [1.0], [1.0], "up")
    with pytest.raises(ValueError, match="reference must be a finite"):
        stats.one_sample("up", [1.0], "greater", math.nan)


def test_one_sample_against_a_reference():
    assert stats.one_sample("k > 1.05", [1.2, 1.3, 1.25, 1.22], "greater", 1.05).verdict == stats.HOLDS
    assert stats.one_sample("k < 1.6", [1.2, 1.3, 1.25, 1.22], "less", 1.6).verdict == stats.HOLDS
    assert stats.one_sample("k < 1.6", [8.1, 8.3, 8.2], "less", 1.6).verdict == stats.DOES_NOT_HOLD


def test_ordering_by_neighbours():
    rng = np.random.default_rng(1)
    base = rng.normal(size=8)
    noise = lambda: 0.05 * rng.normal(size=8)  # noqa: E731
    ordered = [("a", base + 2 + noise()), ("b", base + 1 + noise()), ("c", base + noise())]
    claim = stats.ordering("a > b > c", ordered, "greater")
    assert claim.verdict == stats.HOLDS and len(claim.parts) == 2 and claim.n == 8
    assert "a > b > c" in claim.line() and "a - b" in claim.line()
    swapped = [ordered[0], ordered[2], ordered[1]]
    assert stats.ordering("a > c > b", swapped, "greater").verdict == stats.DOES_NOT_HOLD
    tied = [("a", base + noise()), ("b", base + noise())]
    assert stats.ordering("a > b", tied, "greater").verdict == stats.INCONCLUSIVE
    with pytest.raises(ValueError, match="at least two"):
        stats.ordering("a", ordered[:1], "greater")


def test_a_claim_its_null_control_also_satisfies_is_not_evidence():
    up = ([2.0, 2.1, 2.2], [1.0, 1.0, 1.1])
    control = stats.paired("untrained", *up, "greater")
    claim = stats.paired("trained", *up, "greater", control=control)
    assert claim.verdict == stats.INCONCLUSIVE and "null control, untrained" in claim.line()
    flat = stats.paired("untrained", [1.0, 1.2, 0.9], [1.0, 1.1, 1.0], "greater")
    assert stats.paired("trained", *up, "greater", control=flat).verdict == stats.HOLDS


def test_smoke_runs_are_not_judged():
    claim = stats.paired("up", [2.0, 2.1, 2.2], [1.0, 1.0, 1.1], "greater", smoke=True)
    assert claim.verdict == stats.NOT_JUDGED and "n = 3" in claim.line()
    assert stats.summary_line([claim]) == "1 claim(s), not judged (smoke run)."
    assert claim.as_dict()["verdict"] == stats.NOT_JUDGED


@pytest.mark.parametrize("n", [5, 10])
def test_an_ordering_of_equal_conditions_rarely_does_not_hold(n):
    rng = np.random.default_rng(n)
    trials = 4000
    verdicts = [stats.ordering("a > b > c > d", [(name, rng.normal(size=n)) for name in "abcd"],
                               "greater").verdict for _ in range(trials)]
    assert verdicts.count(stats.DOES_NOT_HOLD) / trials < 0.03  # Bonferroni over 3 steps: at most 2.5 %
    assert verdicts.count(stats.HOLDS) / trials < 0.005         # all three steps holding by chance


def test_a_reversed_step_must_pass_the_bonferroni_level():
    up = np.array([0.0, 0.1, -0.1, 0.05, -0.05])
    # c - b: mean -0.2, t = -3.04 with 4 degrees of freedom: beyond 95 % (2.78), within 97.5 % (3.50)
    barely = ("b", up + 0.2), ("c", up + np.array([0.17, -0.17, 0.12, -0.12, 0.0]))
    claim = stats.ordering("a < b < c", [("a", up - 5)] + list(barely), "less")
    reversed_step = claim.parts[1]
    assert reversed_step.verdict == stats.DOES_NOT_HOLD and claim.verdict == stats.INCONCLUSIVE
    assert "Bonferroni over 2" in claim.line()
