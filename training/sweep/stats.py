"""How sure a sweep's numbers are: intervals, significance tests and the verdict of a comparison.

Pure numpy and the standard library (no scipy): the report runs wherever the zoo does.

A test accuracy measured on n examples is a binomial proportion; a test loss (MSE, nats, bits) is a mean
over evaluation examples; a variant trained with several seeds is a sample of training outcomes. Each has
its own interval, and a comparison of two variants is only a finding when the difference is larger than
that noise:

    wilson(k, n)                    95% score interval of a proportion (Wilson, 1927)
    clopper_pearson(k, n)           exact interval, for small n
    bootstrap_ratio(loss, count)    percentile bootstrap of sum(loss)/sum(count) over examples
    mean_interval(values, floor_se) mean ± t(0.975, n-1) s/sqrt(n) over seeds
    binomial_test(k, n, p0)         exact two-sided test against a chance rate
    two_proportions / fisher_exact / mcnemar / welch / paired_z   tests between two results

`Measure` is one run's test number with its sampling error, `Result` one variant (its seeds together),
and `compare(a, b)` the verdict the report writes: "beat" only when p < 0.05 (the test is named),
"tie" otherwise, "both at chance" (no ranking) when neither result differs from chance, "below chance",
"not converged in this budget" when the run that lost or tied was still improving, "degenerate" when a
run's number is not a learned solution (`training.core.rules`; the row's fields: `training.sweep.results`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Sequence

import numpy as np

from training.core import rules
from training.core.rules import LN2

ALPHA = 0.05
Z95 = 1.959963984540054  # the 0.975 quantile of the standard normal
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261125  # fixed: a rebuilt report gives the same intervals


# ------------------------------------------------------------------------------ distributions
def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), by its continued fraction (modified Lentz)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x > (a + 1.0) / (a + b + 2.0):  # the fraction converges fast only below the mean: use the symmetry
        return 1.0 - betainc(b, a, 1.0 - x)
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 10_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),                # even step
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):   # odd step
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < eps:
            break
    return math.exp(log_front) * f / a


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with `df` degrees of freedom (df = inf: the normal)."""
    if not math.isfinite(t):
        return 0.0
    if df == math.inf or df > 1e7:
        return 2.0 * normal_sf(abs(t))
    return betainc(df / 2.0, 0.5, df / (df + t * t))


@functools.lru_cache(maxsize=256)
def t_quantile(q: float, df: float) -> float:
    """The q-quantile of Student's t (q > 0.5), by bisection of its tail."""
    if df == math.inf or df > 1e7:
        return _normal_quantile(q)
    target = 2.0 * (1.0 - q)
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, df) > target:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if t_two_sided_p(mid, df) > target else (lo, mid)
    return 0.5 * (lo + hi)


def _normal_quantile(q: float) -> float:
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if normal_sf(mid) > 1.0 - q else (lo, mid)
    return 0.5 * (lo + hi)


def binomial_pmf(n: int, p: float) -> np.ndarray:
    """P(X = k) for k = 0..n, X ~ Binomial(n, p), built in log space (stable for n in the millions)."""
    k = np.arange(n + 1, dtype=float)
    if p <= 0.0 or p >= 1.0:
        out = np.zeros(n + 1)
        out[0 if p <= 0.0 else n] = 1.0
        return out
    log_ratio = np.log((n - k[:-1]) / (k[:-1] + 1.0)) + math.log(p) - math.log1p(-p)
    log_pmf = np.concatenate([[n * math.log1p(-p)], n * math.log1p(-p) + np.cumsum(log_ratio)])
    return np.exp(log_pmf - log_pmf.max()) / np.exp(log_pmf - log_pmf.max()).sum()


def binomial_test(k: int, n: int, p0: float) -> float:
    """Exact two-sided p-value of k successes in n trials against rate p0: the probability of every
    outcome no more likely than the one observed (as R's binom.test)."""
    pmf = binomial_pmf(n, p0)
    return float(min(1.0, pmf[pmf <= pmf[k] * (1.0 + 1e-7)].sum()))


# ------------------------------------------------------------------------------------- intervals
def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of k successes in n trials: never outside [0, 1], sensible at 0 and n."""
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def clopper_pearson(k: int, n: int, alpha: float = ALPHA) -> tuple[float, float]:
    """Exact (conservative) interval: the rates p under which k is not in either alpha/2 tail."""
    def beta_quantile(q, a, b):
        lo, hi = 0.0, 1.0
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if betainc(a, b, mid) < q else (lo, mid)
        return 0.5 * (lo + hi)

    low = 0.0 if k == 0 else beta_quantile(alpha / 2, k, n - k + 1)
    high = 1.0 if k == n else beta_quantile(1 - alpha / 2, k + 1, n - k)
    return (low, high)


def ratio_se(y: np.ndarray, c: np.ndarray) -> float:
    """Standard error of sum(y)/sum(c) over n independent examples (delta method)."""
    y, c = np.asarray(y, float), np.asarray(c, float)
    n = len(y)
    if n < 2:
        return math.nan
    residual = (y - y.sum() / c.sum() * c) / c.mean()
    return float(residual.std(ddof=1) / math.sqrt(n))


def bootstrap_ratio(y, c=None, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                    transform=None) -> tuple[float, float, float]:
    """Percentile bootstrap 95% interval of sum(y)/sum(c), resampling examples.

    `y[i]` is example i's summed loss, `c[i]` its scored positions (all ones: a plain mean), so a long
    sequence weighs by its tokens while its tokens are resampled together (they are not independent).
    `transform` maps the ratio to the reported metric (nats -> bits, -> perplexity).
    Returns (value, low, high)."""
    y = np.asarray(y, float)
    c = np.ones_like(y) if c is None else np.asarray(c, float)
    f = transform or (lambda v: v)
    value = f(y.sum() / c.sum())
    n = len(y)
    if n < 2:
        return (value, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    stats = []
    chunk = max(1, 2_000_000 // n)
    for start in range(0, resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, resamples - start), n))
        stats.append(y[idx].sum(axis=1) / c[idx].sum(axis=1))
    boot = f(np.concatenate(stats))
    low, high = np.quantile(boot, [ALPHA / 2, 1 - ALPHA / 2])
    return (value, float(low), float(high))


def mean_interval(values: Sequence[float], floor_se: Sequence[float] | None = None) -> dict:
    """Mean ± 95% t-interval over seeds.

    The standard deviation over seeds is floored by the root mean square of the runs' own standard
    errors: three seeds that all score exactly 1.0 on a finite test set do not give a zero-width
    interval, because each of them could have scored differently on other test examples.

    Returns {"mean", "low", "high", "sd", "se", "df", "n"}."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], float)
    n = len(v)
    if n == 0:
        return {"mean": None, "low": None, "high": None, "sd": None, "se": None, "df": 0, "n": 0}
    sd = float(v.std(ddof=1)) if n > 1 else math.nan
    floors = [s for s in (floor_se or []) if s is not None and math.isfinite(s)]
    if floors:
        floor = math.sqrt(float(np.mean(np.square(floors))))
        sd = floor if not math.isfinite(sd) else max(sd, floor)
    if n < 2:
        return {"mean": float(v[0]), "low": None, "high": None, "sd": None, "se": None, "df": 0, "n": 1}
    se = sd / math.sqrt(n)
    half = t_quantile(1 - ALPHA / 2, n - 1) * se
    return {"mean": float(v.mean()), "low": float(v.mean() - half), "high": float(v.mean() + half), "sd": sd,
            "se": se, "df": n - 1, "n": n}


# ------------------------------------------------------------------------------------------ tests
@dataclasses.dataclass
class Test:
    """A two-sided test of "a and b differ": its name in words, p-value, and the difference a - b with
    its 95% interval."""

    name: str
    p: float
    difference: float
    low: float | None = None
    high: float | None = None

    def words(self) -> str:
        return f"{self.name}, {p_words(self.p)}"


P_FLOOR = 1e-6  # below this a p-value is printed as "p < 1e-6": its digits say nothing a reader can use


def p_words(p: float) -> str:
    """A p-value as the report prints it: "p = 0.03", "p = 2e-5", "p < 1e-6" (below `P_FLOOR`)."""
    if p is not None and math.isfinite(p) and p < P_FLOOR:
        return f"p < {P_FLOOR:.0e}".replace("e-0", "e-")
    return f"p = {format_p(p)}"


def format_p(p: float) -> str:
    """The number of a p-value ("0.03", "0.0042", "2e-5"); "<1e-6" below `P_FLOOR` (`p_words` says "p < 1e-6")."""
    if p is None or not math.isfinite(p):
        return "unknown"
    if p < P_FLOOR:
        return f"<{P_FLOOR:.0e}".replace("e-0", "e-")
    if p < 1e-4:
        return f"{p:.0e}".replace("e-0", "e-")
    if p < 0.01:
        return f"{p:.4f}"
    return f"{p:.2f}" if p < 0.995 else "1.0"


def two_proportions(k1: int, n1: int, k2: int, n2: int) -> Test:
    """Two independent proportions: the pooled two-proportion z-test, or Fisher's exact test when an
    expected count is below 5 (the normal approximation is poor there)."""
    pooled = (k1 + k2) / (n1 + n2)
    expected = [n * q for n in (n1, n2) for q in (pooled, 1 - pooled)]
    p1, p2 = k1 / n1, k2 / n2
    se_diff = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    low, high = p1 - p2 - Z95 * se_diff, p1 - p2 + Z95 * se_diff
    if min(expected) < 5:
        return Test("Fisher's exact test", fisher_exact(k1, n1, k2, n2), p1 - p2, low, high)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p = 1.0 if se == 0 else 2 * normal_sf(abs(p1 - p2) / se)
    return Test("two-proportion z-test", p, p1 - p2, low, high)


def fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    """Fisher's exact two-sided p-value for the 2x2 table [[k1, n1-k1], [k2, n2-k2]]."""
    total_k = k1 + k2
    lo, hi = max(0, total_k - n2), min(n1, total_k)

    def log_p(x):  # hypergeometric: x successes in the first row given the margins
        return (_log_choose(n1, x) + _log_choose(n2, total_k - x) - _log_choose(n1 + n2, total_k))

    logs = np.array([log_p(x) for x in range(lo, hi + 1)])
    observed = log_p(k1)
    return float(min(1.0, np.exp(logs[logs <= observed + 1e-7]).sum()))


def _log_choose(n, k):
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def mcnemar(correct_a, correct_b) -> Test:
    """Paired accuracies on the same examples: the exact McNemar test (a binomial test at 1/2 on the
    examples that exactly one of the two got right)."""
    a = np.asarray(correct_a, bool)
    b = np.asarray(correct_b, bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = len(a)
    diff = (only_a - only_b) / n
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else binomial_test(only_a, discordant, 0.5)
    se = math.sqrt(max(discordant / n - diff * diff, 0.0) / n)
    return Test(f"exact McNemar test on the {n} shared test examples", p, diff, diff - Z95 * se, diff + Z95 * se)


def welch(mean_a, var_a, df_a, mean_b, var_b, df_b, what="Welch's t-test") -> Test:
    """Difference of two means whose squared standard errors are `var_*`, each with `df_*` degrees of
    freedom (inf for a standard error estimated from many examples): Welch–Satterthwaite."""
    var = var_a + var_b
    diff = mean_a - mean_b
    if var <= 0:
        return Test(what, 1.0 if diff == 0 else 0.0, diff, diff, diff)
    denominator = sum(v * v / d for v, d in ((var_a, df_a), (var_b, df_b)) if d and math.isfinite(d))
    df = var * var / denominator if denominator > 0 else math.inf
    half = t_quantile(1 - ALPHA / 2, df) * math.sqrt(var)
    return Test(what, t_two_sided_p(diff / math.sqrt(var), df), diff, diff - half, diff + half)


def paired_z(residual_a, residual_b, mean_a, mean_b, what) -> Test:
    """Paired difference over shared examples: z on the per-example differences of the two runs'
    linearized contributions (see `ratio_se`)."""
    d = np.asarray(residual_a, float) - np.asarray(residual_b, float)
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan
    diff = mean_a - mean_b
    if not se > 0:
        return Test(what, 1.0 if diff == 0 else 0.0, diff, diff, diff)
    return Test(what, 2 * normal_sf(abs(diff) / se), diff, diff - Z95 * se, diff + Z95 * se)


# ----------------------------------------------------------------------------- one run, one variant


def _to_metric(metric):
    """Map from the per-example quantity (nats, squared error, fraction correct) to the metric."""
    if metric == "bits_per_char":
        return lambda v: np.asarray(v) / LN2 if np.ndim(v) else v / LN2
    if metric == "perplexity":
        return np.exp
    return None


@dataclasses.dataclass
class Measure:
    """One run's test number and its sampling error over the test set.

    Args:
        value: the metric as reported.
        low, high: its 95% interval within the run (None: not computable from what the run stored).
        se: standard error on the scale tests use (proportion; nats or squared error for losses).
        scale_value: the value on that scale (nats for bits/char and perplexity, else `value`).
        method: "wilson", "clopper-pearson", "bootstrap over N examples" or None.
        n: evaluation examples; tokens: scored positions; correct: correct predictions (accuracy).
        residuals: per-example linearized contributions on the test scale (for paired tests).
        correct_each: per-example correctness, when one position per example (McNemar).
        eval_set: identity of the test set (equal: the same examples in the same order).
    """

    value: float | None
    low: float | None = None
    high: float | None = None
    se: float | None = None
    scale_value: float | None = None
    method: str | None = None
    n: int | None = None
    tokens: int | None = None
    correct: int | None = None
    residuals: np.ndarray | None = None
    correct_each: np.ndarray | None = None
    eval_set: str | None = None

    @property
    def interval_known(self) -> bool:
        return self.low is not None and self.high is not None


def measure(metric: str, value, *, n=None, tokens=None, correct=None, examples=None, eval_set=None) -> Measure:
    """The sampling error of one run's test metric from what it stored.

    Args:
        metric: "accuracy", "mse", "nll", "bits_per_char" or "perplexity".
        value: the test metric the run reported.
        n, tokens, correct: evaluation examples, scored positions, correct predictions (accuracy).
        examples: per-example arrays {"loss": (n,), "count": (n,), "correct": (n,)} (test_examples.npz).
    """
    value = _finite(value)
    m = Measure(value, n=n, tokens=tokens, correct=correct, eval_set=eval_set, scale_value=value)
    if value is None:
        return m
    if examples is not None and "count" in examples:
        count = np.asarray(examples["count"], float)
        m.n, m.tokens = len(count), int(count.sum())
        per_example = examples.get("correct") if metric == "accuracy" else examples.get("loss")
        if per_example is None:
            return m
        y = np.asarray(per_example, float)
        ratio = y.sum() / count.sum()
        m.scale_value = float(ratio)
        if metric == "accuracy":
            m.correct = int(round(y.sum()))
            if np.all(count == 1):
                m.correct_each = y.astype(bool)
        m.residuals = (y - ratio * count) / count.mean()
        m.se = ratio_se(y, count)
        if metric == "accuracy" and np.all(count == 1):
            m.low, m.high = _proportion_interval(m.correct, m.n)
            m.method = "wilson" if m.n >= 30 else "clopper-pearson"
        else:
            _, m.low, m.high = bootstrap_ratio(y, count, transform=_to_metric(metric))
            m.method = f"bootstrap over {m.n} examples"
        return m
    if metric == "accuracy" and correct is not None and (tokens or n):
        trials = int(tokens or n)
        m.tokens = trials
        m.low, m.high = _proportion_interval(int(correct), trials)
        m.method = "wilson" if trials >= 30 else "clopper-pearson"
        p = correct / trials
        m.se = math.sqrt(max(p * (1 - p), 0.25 / trials) / trials)  # floor: a 0 or n count still has noise
    return m


def _proportion_interval(k, n):
    return wilson(k, n) if n >= 30 else clopper_pearson(k, n)


def _finite(v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


@dataclasses.dataclass
class Result:
    """One variant on one task: its seeds' measures and flags, as the report compares them.

    Args:
        label: the variant's name in the text.
        metric: primary metric; chance: its value for a prediction that ignores the input (None: none).
        measures: one `Measure` per seed that has a finite test value and is not degenerate.
        degenerate: True/False/None (unknown) over the seeds; degenerate_reason in words.
        still_falling: True when some kept seed's loss was still falling at the end, None when unknown.
        missing: seeds with no test value (failed, diverged, interrupted); reasons in words.
        seeds: planned seeds; set_aside: the measures of degenerate seeds (shown, never compared).
    """

    label: str
    metric: str
    measures: list
    chance: float | None = None
    degenerate: bool | None = None
    degenerate_reason: str | None = None
    still_falling: bool | None = None
    missing: list = dataclasses.field(default_factory=list)
    seeds: int = 1
    set_aside: list = dataclasses.field(default_factory=list)  # measures of the degenerate seeds

    @property
    def higher_is_better(self) -> bool:
        return rules.higher_is_better(self.metric)

    @property
    def summary(self) -> dict:
        """{"value", "low", "high", "n", "method"}: the mean over seeds with its t-interval, or the single
        run's value with its interval over the test set."""
        ms = self.measures
        if not ms:
            return {"value": None, "low": None, "high": None, "n": 0, "method": None}
        if len(ms) == 1:
            m = ms[0]
            return {"value": m.value, "low": m.low, "high": m.high, "n": 1, "method": m.method}
        floor = [_se_on_metric_scale(m, self.metric) for m in ms]
        s = mean_interval([m.value for m in ms], floor if all(f is not None for f in floor) else None)
        # the interval lies within the metric's range: an accuracy within [0, 1], a loss, MSE, bits or
        # perplexity at or above 0 (three seeds that disagree give a t-interval far wider than that range)
        low, high = s["low"], s["high"]
        if low is not None:
            low = max(low, 0.0)
            high = min(high, 1.0) if self.metric == "accuracy" else high
        return {"value": s["mean"], "low": low, "high": high, "n": s["n"],
                "method": f"95% t-interval over {s['n']} seeds, within the metric's range"}


def _se_on_metric_scale(m: Measure, metric: str):
    if m.se is None or not math.isfinite(m.se):
        return None
    if metric == "bits_per_char":
        return m.se / LN2
    if metric == "perplexity" and m.value is not None:
        return m.se * m.value  # d exp(x) = exp(x) dx
    return m.se


# ------------------------------------------------------------------------------------- chance
def chance_position(result: Result) -> str | None:
    """"above" (better than chance), "at", "below" (worse, significantly), "mixed" (seeds disagree), or
    None when it cannot be decided (no chance value or no sampling error).

    One seed: the exact binomial test against the chance rate (accuracy), else z on the run's standard
    error. Several seeds: each seed is tested; when they agree that is the answer, when they disagree
    "mixed"; when a seed cannot be tested the t-interval over seeds decides."""
    if result.chance is None or not result.measures:
        return None
    per_seed = [_seed_position(m, result.chance, result.higher_is_better, result.metric) for m in result.measures]
    if len(per_seed) == 1:
        return per_seed[0]
    if None not in per_seed:
        same = set(per_seed)
        return per_seed[0] if len(same) == 1 else "mixed"  # e.g. one seed solved, two stayed at chance
    s = result.summary
    if s["low"] is None:
        return None
    if s["low"] <= result.chance <= s["high"]:
        return "at"
    better = s["low"] > result.chance if result.higher_is_better else s["high"] < result.chance
    return "above" if better else "below"


def _seed_position(m: Measure, chance, higher_is_better, metric) -> str | None:
    if m.value is None:
        return None
    if metric == "accuracy" and m.correct is not None and m.tokens and m.residuals is None:
        p = binomial_test(int(m.correct), int(m.tokens), chance)
    elif metric == "accuracy" and m.correct is not None and m.correct_each is not None:
        p = binomial_test(int(m.correct), len(m.correct_each), chance)
    else:
        se = _se_on_metric_scale(m, metric)
        if se is None:
            return None
        p = 1.0 if se == 0 and m.value == chance else 2 * normal_sf(abs(m.value - chance) / se) if se > 0 else 0.0
    if p >= ALPHA:
        return "at"
    better = m.value > chance if higher_is_better else m.value < chance
    return "above" if better else "below"


def chance_interval(chance: float, trials: int) -> tuple[float, float]:
    """The 95% range of accuracies a predictor that ignores the input scores on `trials` examples."""
    pmf = binomial_pmf(int(trials), chance)
    cdf = np.cumsum(pmf)
    return (float(np.searchsorted(cdf, ALPHA / 2) / trials), float(np.searchsorted(cdf, 1 - ALPHA / 2) / trials))


# -------------------------------------------------------------------------------------- compare
@dataclasses.dataclass
class Verdict:
    """The outcome of comparing two variants.

    kind: "beat", "tie", "both at chance", "below chance", "not converged", "degenerate", "no result",
    "untested" (no sampling error known: an old sweep's loss). winner/loser: labels when kind is "beat"
    (or "not converged" with a significant difference). text: one sentence for the report.
    """

    kind: str
    text: str
    test: Test | None = None
    winner: str | None = None
    loser: str | None = None


def compare(a: Result, b: Result, where: str = "") -> Verdict:
    """The verdict on "does a do better than b?" (see the module docstring for the order of the rules)."""
    where = f" {where}" if where else ""
    degenerate = [r for r in (a, b) if r.degenerate]
    if degenerate:
        reasons = "; ".join(f"{r.label}: {r.degenerate_reason or 'flagged degenerate'}" for r in degenerate)
        return Verdict("degenerate", f"No comparison of {a.label} and {b.label}{where}: "
                                     f"{'both are' if len(degenerate) == 2 else 'one is'} degenerate ({reasons}), "
                                     "so the number is not a learned solution.")
    empty = [r for r in (a, b) if not r.measures]
    if empty:
        names = " and ".join(r.label for r in empty)
        return Verdict("no result", f"No comparison of {a.label} and {b.label}{where}: {names} "
                                    f"{'have' if len(empty) == 2 else 'has'} no finite test value.")
    pa, pb = chance_position(a), chance_position(b)
    va, vb = a.summary["value"], b.summary["value"]
    if pa == "at" and pb == "at":
        return Verdict("both at chance", f"{a.label} ({_num(va)}) and {b.label} ({_num(vb)}) are both at chance "
                                         f"({_num(a.chance)}){where}: neither learned the task, so they are not "
                                         "ranked.")
    below = [r for r, p in ((a, pa), (b, pb)) if p == "below"]
    if below:
        worse = "below" if a.higher_is_better else "worse than"
        names = " and ".join(f"{r.label} ({_num(r.summary['value'])})" for r in below)
        return Verdict("below chance", f"{names} {'are' if len(below) == 2 else 'is'} significantly {worse} chance "
                                       f"({_num(a.chance)}){where}: something other than learning decides it "
                                       "(a collapsed or saturated output), so it is not ranked.")
    test = significance(a, b)
    if test is None:
        return Verdict("untested", f"{a.label} ({_num(va)}) against {b.label} ({_num(vb)}){where}: the sweep holds "
                                   "no per-example evaluation data, so the difference cannot be tested.")
    better_a = (test.difference > 0) == a.higher_is_better
    if test.p < ALPHA:
        winner, loser = (a, b) if better_a else (b, a)
        text = (f"{winner.label} ({_num(winner.summary['value'])}) beat {loser.label} "
                f"({_num(loser.summary['value'])}){where} ({test.words()}).")
        kind = "beat"
    else:
        winner = loser = None
        text = (f"{a.label} ({_num(va)}) and {b.label} ({_num(vb)}) tie{where}: the difference "
                f"{_num(test.difference, signed=True)} (95% CI {_num(test.low, signed=True)} to "
                f"{_num(test.high, signed=True)}) is within the noise ({test.words()}).")
        kind = "tie"
    unfinished = [r for r in ((loser,) if loser else (a, b)) if r is not None and r.still_falling]
    if unfinished:
        names = " and ".join(r.label for r in unfinished)
        text += (f" Not converged in this budget: the loss of {names} was still falling at the end, so more "
                 "steps could change this.")
        return Verdict("not converged", text, test, winner and winner.label, loser and loser.label)
    return Verdict(kind, text, test, winner and winner.label, loser and loser.label)


def significance(a: Result, b: Result) -> Test | None:
    """The test that fits the data: one seed each -> McNemar (paired accuracies), two-proportion z or
    Fisher (unpaired accuracies), paired z over shared examples or Welch z (losses); several seeds ->
    Welch's t-test over the seeds, variances floored by the runs' own standard errors. None when neither
    side's sampling error is known."""
    ma, mb = a.measures, b.measures
    if len(ma) == 1 and len(mb) == 1:
        x, y = ma[0], mb[0]
        shared = x.eval_set is not None and x.eval_set == y.eval_set
        if a.metric == "accuracy" and x.correct_each is not None and y.correct_each is not None and shared \
                and len(x.correct_each) == len(y.correct_each):
            return mcnemar(x.correct_each, y.correct_each)
        if a.metric == "accuracy" and x.residuals is None and y.residuals is None and None not in (
                x.correct, y.correct, x.tokens, y.tokens):
            return two_proportions(int(x.correct), int(x.tokens), int(y.correct), int(y.tokens))
        if x.se is None or y.se is None:
            return None
        if shared and x.residuals is not None and y.residuals is not None and len(x.residuals) == len(y.residuals):
            test = paired_z(x.residuals, y.residuals, x.scale_value, y.scale_value,
                            f"paired z-test on the {len(x.residuals)} shared test examples")
        else:
            test = welch(x.scale_value, x.se ** 2, math.inf, y.scale_value, y.se ** 2, math.inf,
                         "z-test on the two runs' standard errors")
        return _rescale(test, a.metric, x.value, y.value)
    parts = []
    for r in (a, b):
        values = [m.value for m in r.measures]
        floors = [_se_on_metric_scale(m, r.metric) for m in r.measures]
        floors = floors if all(f is not None for f in floors) else None
        if len(values) == 1:
            se = floors[0] if floors else None
            if se is None:
                return None
            parts.append((values[0], se * se, math.inf))
        else:
            s = mean_interval(values, floors)
            parts.append((s["mean"], s["se"] ** 2, s["df"]))
    (m1, v1, d1), (m2, v2, d2) = parts
    return welch(m1, v1, d1, m2, v2, d2, f"Welch's t-test over seeds ({len(ma)} vs {len(mb)})")


def _rescale(test: Test, metric, value_a, value_b) -> Test:
    """Tests of bits/char and perplexity run on nats (the same ordering); report the difference in the
    metric's own unit."""
    if metric not in ("bits_per_char", "perplexity"):
        return test
    factor = (1 / LN2) if metric == "bits_per_char" else None
    if factor:
        return Test(test.name, test.p, test.difference * factor, test.low * factor, test.high * factor)
    return Test(test.name, test.p, value_a - value_b, None, None)


def _num(v, signed=False) -> str:
    if v is None:
        return "unknown"
    text = f"{v:+.3g}" if signed else f"{v:.3g}"
    return text
