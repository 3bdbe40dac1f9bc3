"""Claims as statistical tests that can fail: a stated direction, a paired difference and its 95 % interval.

A paper's finding is a *claim* about the direction of an effect: "dropout lowers the condition number",
"kappa stays above 1.05". This module judges a claim from the values a run measured, one per seed:

- :func:`paired` compares two conditions by the difference paired by seed (the same seed in both, so the
  initialization and the data order cancel), ``d_i = a_i - b_i``;
- :func:`one_sample` compares one condition's values with a reference number, ``d_i = a_i - reference``;
- :func:`ordering` judges an ordering of several conditions by paired tests between neighbours;
- :func:`equivalence` judges a claim that an effect is negligible: its interval inside +-margin.

The mean of ``d`` gets a Student-t confidence interval with n - 1 degrees of freedom (scipy.stats). The
claim **holds** when the interval excludes zero in the paper's direction, **does not hold** when it
excludes zero in the other direction, and is **inconclusive** otherwise (and always with one seed, where
the spread is undefined). A null control (the same statistic where the paper's mechanism is absent, for
example untrained networks) is shown beside the claim; a claim its control also satisfies is not evidence,
and is inconclusive. Quick runs are smoke runs: their claims are computed and shown but not judged.

With no real effect, a two-sided 95 % interval excludes zero 5 % of the time at any n >= 2: half of
those are "holds", half "does not hold" (tested by simulation).
"""
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

HOLDS, DOES_NOT_HOLD, INCONCLUSIVE, NOT_JUDGED = "holds", "does not hold", "inconclusive", "not judged"
VERDICTS = (HOLDS, DOES_NOT_HOLD, INCONCLUSIVE, NOT_JUDGED)
DIRECTIONS = {"greater": ">", "less": "<"}
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Claim:
    """A judged claim: what the paper says, the verdict here, and the numbers that decided it.

    statement: the paper's finding in a sentence (with its citation key); verdict: one of VERDICTS;
    effect: what ``d`` is, e.g. "kappa(s = 0.75) - kappa(s = 0)"; direction: "greater" or "less" (the
    paper's sign of the mean of d); n: number of paired values; mean: mean of d; low, high: its 95 %
    interval (NaN when undefined); test: the test in words; control: the null control's Claim or None;
    parts: the neighbour comparisons of an ordering (empty otherwise).
    """
    statement: str
    verdict: str
    effect: str
    direction: str
    n: int
    mean: float
    low: float
    high: float
    test: str
    control: "Claim | None" = None
    parts: tuple = ()

    def line(self):
        """The claim as one Markdown list item: verdict, statement, n, mean effect, interval and test."""
        text = f"- **{self.verdict}**: {self.statement} {self.evidence()}"
        for part in self.parts:
            text += f"\n    - {part.effect}: {part.evidence()} ({part.verdict})"
        if self.control is not None:
            text += (f"\n    - null control, {self.control.statement}: {self.control.evidence()} "
                     f"({self.control.verdict})")
        return text

    def evidence(self):
        """n, the mean effect, its interval (or why there is none) and the test, in a sentence."""
        if self.parts:
            return f"{self.test}; every step must hold."
        if self.n < 2:
            spread = "spread undefined with one seed"
        elif math.isnan(self.low):
            spread = "interval undefined (non-finite values)"
        else:
            spread = f"95 % CI [{self.low:.4g}, {self.high:.4g}]"
        return (f"n = {self.n}, mean {self.effect} = {self.mean:.4g} ({spread}); {self.test}, "
                f"paper's direction {DIRECTIONS[self.direction]} 0.")

    def as_dict(self):
        """A JSON-able dict of every field (NaN stays NaN; RunFolder.json writes it as null)."""
        return {"statement": self.statement, "verdict": self.verdict, "effect": self.effect,
                "direction": self.direction, "n": self.n, "mean": self.mean, "ci95": [self.low, self.high],
                "test": self.test, "control": None if self.control is None else self.control.as_dict(),
                "parts": [part.as_dict() for part in self.parts]}


def interval(differences, confidence=CONFIDENCE):
    """Mean of ``differences`` and its Student-t interval (df = n - 1): (n, mean, low, high).

    The interval is (NaN, NaN) for n = 1 or any non-finite value; with zero spread it is [mean, mean].

    Raises:
        ValueError: when there are no values, or they are not one-dimensional real numbers.
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 1 or d.size == 0:
        raise ValueError(f"interval: expected a non-empty 1-d sequence of numbers, got shape {d.shape}")
    n, mean = d.size, float(d.mean())
    if n < 2 or not np.isfinite(d).all():
        return n, mean, math.nan, math.nan
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, n - 1) * d.std(ddof=1) / math.sqrt(n))
    return n, mean, mean - half, mean + half


def verdict(direction, low, high):
    """holds / does not hold / inconclusive from an interval and the paper's direction ("greater"/"less")."""
    _check_direction("verdict", direction)
    if math.isnan(low) or math.isnan(high):
        return INCONCLUSIVE
    above, below = low > 0, high < 0
    if not (above or below):
        return INCONCLUSIVE
    return HOLDS if above == (direction == "greater") else DOES_NOT_HOLD


def paired(statement, a, b, direction, effect="a - b", smoke=False, control=None):
    """A claim that condition a exceeds (direction "greater") or falls below ("less") condition b.

    Args:
        statement: the paper's finding in a sentence, with its citation key.
        a, b: one value per seed for each condition, in the same seed order (paired by position).
        direction: "greater" when the paper says a > b, "less" when a < b.
        effect: the difference in words, e.g. "kappa(dropout 0.5) - kappa(no dropout)".
        smoke: a quick run; the verdict is NOT_JUDGED.
        control: the null control's Claim (for example from :func:`paired` on untrained networks).

    Raises:
        ValueError: when a and b differ in length or are empty, or direction is not "greater"/"less".
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired: a and b must hold one value per seed each, got shapes {a.shape} and "
                         f"{b.shape}")
    return _claim(statement, a - b, direction, effect, "paired Student t over seeds", smoke, control)


def one_sample(statement, values, direction, reference, effect="value - reference", smoke=False,
               control=None):
    """A claim that a quantity exceeds ("greater") or falls below ("less") a reference number.

    ``values`` holds one value per seed; the test is on ``values - reference``. See :func:`paired`.

    Raises:
        ValueError: as :func:`paired`; also when reference is not a finite number.
    """
    if not math.isfinite(float(reference)):
        raise ValueError(f"one_sample: reference must be a finite number, got {reference!r}")
    d = np.asarray(values, dtype=np.float64) - float(reference)
    return _claim(statement, d, direction, effect, f"one-sample Student t against {reference:g}", smoke,
                  control)


def ordering(statement, conditions, direction, smoke=False, control=None):
    """A claim that conditions are ordered: each one's values exceed ("greater") or fall below ("less")
    the next one's, judged by a paired test between each pair of neighbours [Dworakowski 2019, tables 1-2].

    Holds when every neighbour comparison holds (each at 95 %: all k - 1 holding by chance is rarer
    still), does not hold when a step is reversed beyond chance, inconclusive otherwise. "Reversed"
    uses the Bonferroni level over the k - 1 steps, 1 - 0.05 / (k - 1): any one of several steps
    reversing by chance is k - 1 times likelier than one step doing so, and without the correction an
    ordering of 4 equal conditions "does not hold" 7 % of the time instead of at most 2.5 %.

    Args:
        conditions: a list of (name, values per seed), in the paper's order.

    Raises:
        ValueError: with fewer than two conditions, or as :func:`paired`.
    """
    if len(conditions) < 2:
        raise ValueError(f"ordering: expected at least two conditions, got {len(conditions)}")
    pairs = list(zip(conditions, conditions[1:]))
    parts = tuple(paired(f"{first} vs {second}", a, b, direction, effect=f"{first} - {second}", smoke=smoke)
                  for (first, a), (second, b) in pairs)
    strict = 1 - (1 - CONFIDENCE) / len(pairs)

    def reversed_beyond_chance(a, b):
        _, _, low, high = interval(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), strict)
        return verdict(direction, low, high) == DOES_NOT_HOLD
    if smoke:
        result = NOT_JUDGED
    elif any(reversed_beyond_chance(a, b) for (_, a), (_, b) in pairs):
        result = DOES_NOT_HOLD
    elif all(part.verdict == HOLDS for part in parts):
        result = HOLDS
    else:
        result = INCONCLUSIVE
    result = _discount(result, control)
    names = f" {DIRECTIONS[direction]} ".join(name for name, _ in conditions)
    test = f"paired Student t between {len(parts)} neighbour pairs"
    if len(parts) > 1:
        test += f" (a reversed step counts at {100 * strict:.3g} %, Bonferroni over {len(parts)})"
    return Claim(statement, result, names, direction, min(part.n for part in parts), math.nan, math.nan,
                 math.nan, test, control, parts)


@dataclass(frozen=True)
class Equivalence(Claim):
    """A claim that an effect is negligible: its 95 % interval lies within +-margin.

    Holds when the whole interval is inside (-margin, margin), does not hold when it lies wholly outside
    [-margin, margin] (an effect larger than negligible), inconclusive otherwise. An interval that holds
    zero means no effect was detected, which alone does not show the effect is negligible.
    """
    margin: float = math.nan

    def evidence(self):
        if self.n < 2 or math.isnan(self.low):
            return (f"n = {self.n}, mean {self.effect} = {self.mean:.4g} (interval undefined); {self.test}, "
                    f"negligible within +-{self.margin:.4g}.")
        detected = "an effect detected" if self.low > 0 or self.high < 0 else "no effect detected"
        return (f"n = {self.n}, mean {self.effect} = {self.mean:.4g}, {detected}, 95 % CI "
                f"[{self.low:.4g}, {self.high:.4g}]; {self.test}, negligible within +-{self.margin:.4g}.")

    def as_dict(self):
        return dict(super().as_dict(), margin=self.margin)


def equivalence(statement, a, b, margin, effect="a - b", smoke=False):
    """An :class:`Equivalence` claim on the differences a - b paired by seed, with a margin.

    Raises:
        ValueError: when a and b differ in shape or margin is not a positive finite number.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"equivalence: a and b must hold one value per seed each, got shapes {a.shape} and "
                         f"{b.shape}")
    if not (math.isfinite(margin) and margin > 0):
        raise ValueError(f"equivalence: margin must be a positive finite number, got {margin!r}")
    n, mean, low, high = interval(a - b)
    if smoke:
        verdict = NOT_JUDGED
    elif math.isnan(low):
        verdict = INCONCLUSIVE
    elif -margin < low and high < margin:
        verdict = HOLDS
    elif low > margin or high < -margin:
        verdict = DOES_NOT_HOLD
    else:
        verdict = INCONCLUSIVE
    return Equivalence(statement, verdict, effect, "greater", n, mean, low, high,
                       f"paired Student t over seeds (df = {n - 1})", margin=margin)


def _claim(statement, d, direction, effect, test, smoke, control):
    _check_direction("claim", direction)
    n, mean, low, high = interval(d)
    result = NOT_JUDGED if smoke else _discount(verdict(direction, low, high), control)
    return Claim(statement, result, effect, direction, n, mean, low, high, f"{test} (df = {n - 1})",
                 control)


def _discount(result, control):
    """A claim that holds while its null control holds too is not evidence: inconclusive."""
    if result == HOLDS and control is not None and control.verdict == HOLDS:
        return INCONCLUSIVE
    return result


def _check_direction(function, direction):
    if direction not in DIRECTIONS:
        raise ValueError(f"{function}: direction must be 'greater' or 'less', got {direction!r}")


def summary_line(claims):
    """'k of n hold, j do not, i inconclusive' (or that nothing was judged) for a list of Claims."""
    counts = {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
    if counts[NOT_JUDGED] == len(claims):
        return f"{len(claims)} claim(s), not judged (smoke run)."
    return (f"{counts[HOLDS]} of {len(claims)} hold, {counts[DOES_NOT_HOLD]} do not, "
            f"{counts[INCONCLUSIVE]} inconclusive.")
