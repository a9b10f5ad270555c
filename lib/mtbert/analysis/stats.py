"""Statistics over stored per-example outputs (scipy.stats): a 95% bootstrap confidence interval for every
metric, and paired comparisons of two arms over the same examples, combined over seeds.

An *arm* is one experiment on one split and task, with one or more seeds: per example, the gold label and each
seed's prediction (`Arm.gold`, `Arm.preds[seed]`, rows aligned by example id). Its metric is the mean over seeds
of the task metric (its spec's: accuracy, or Pearson's r for STS). Resampling picks examples, and every seed of every arm is
resampled with the same examples, so seed and example variation are both in the interval.

Where a run's per-example outputs are not stored (the GPU runs of the full profile kept them only for the
submissions), `Summary` falls back to intervals from the metric and the number of examples alone: Wilson's
interval for an accuracy (scipy.stats.binomtest) and Fisher's z for a Pearson r; comparisons are then unpaired.
Every result says which method it used.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from mtbert.core.tasks import get_task

N_RESAMPLES = 2000
CONFIDENCE = 0.95
RNG_SEED = 0  # resampling is seeded: the same stored results give the same intervals


@dataclass
class Arm:
    """One experiment on one task and split: gold labels and one prediction vector per seed."""
    task: str
    ids: np.ndarray
    gold: np.ndarray
    preds: dict = field(default_factory=dict)  # seed -> predictions aligned with ids

    @property
    def seeds(self) -> list:
        return sorted(self.preds)

    def matrix(self) -> np.ndarray:
        """seeds x examples: correctness (accuracy tasks) or predictions (STS)."""
        P = np.stack([np.asarray(self.preds[s], dtype=float) for s in self.seeds])
        return P if _correlation(self.task) else (P == np.asarray(self.gold, dtype=float)).astype(float)

    def metric_at(self, idx=None):
        """Mean over seeds of the task metric on examples idx; idx may be a batch of index vectors (..., n), then
        the result has shape (...)."""
        return metric_of(self.task, np.asarray(self.gold, dtype=float), self.matrix(), idx)

    def per_seed(self) -> list[float]:
        return [_metric(self.task, self.gold, self.preds[s]) for s in self.seeds]


def _correlation(task: str) -> bool:
    """Whether the task's metric is Pearson's r (else an accuracy), by its spec."""
    return get_task(task).metric == "pearson"


def _metric(task: str, gold, pred) -> float:
    if _correlation(task):
        if np.std(pred) == 0 or np.std(gold) == 0:
            return 0.0
        return float(np.corrcoef(pred, gold)[0, 1])
    return float(np.mean(np.asarray(pred) == np.asarray(gold)))


def metric_of(task: str, gold: np.ndarray, M: np.ndarray, idx=None):
    """The mean over seeds of the metric, vectorised over a batch of index vectors. M is seeds x examples as in
    Arm.matrix (correctness, or STS predictions)."""
    if idx is None:
        idx = np.arange(M.shape[1])
    idx = np.asarray(idx, dtype=int)
    if not _correlation(task):
        return M.mean(0)[idx].mean(-1)
    g = gold[idx]
    g = g - g.mean(-1, keepdims=True)
    out = 0.0
    for P in M:
        q = P[idx]
        q = q - q.mean(-1, keepdims=True)
        den = np.sqrt((g * g).sum(-1) * (q * q).sum(-1))
        out = out + np.where(den > 0, (g * q).sum(-1) / np.where(den > 0, den, 1), 0.0)
    return out / len(M)


def arm_from_frames(task: str, frames: dict) -> Arm:
    """An Arm from per-seed DataFrames with columns id, gold, pred (rows matched by id)."""
    seeds = sorted(frames)
    base = frames[seeds[0]].sort_values("id").reset_index(drop=True)
    arm = Arm(task, base["id"].to_numpy(), base["gold"].to_numpy())
    for s in seeds:
        f = frames[s].sort_values("id").reset_index(drop=True)
        if not np.array_equal(f["id"].to_numpy(), arm.ids):
            raise ValueError(f"{task}: seed {s} was evaluated on other examples than seed {seeds[0]}")
        arm.preds[s] = f["pred"].to_numpy()
    return arm


def bootstrap_ci(statistic, sizes) -> tuple[float, float, np.ndarray]:
    """Percentile bootstrap (scipy.stats.bootstrap) over the examples of one or more samples, each resampled on
    its own; `statistic(*index_batches)` gets index arrays of shape (..., n_k) and returns shape (...).
    Returns (low, high, bootstrap distribution)."""
    data = tuple(np.arange(n) for n in sizes)
    res = stats.bootstrap(data, lambda *ix, axis=-1: statistic(*ix), vectorized=True, paired=False,
                          n_resamples=N_RESAMPLES, batch=100, confidence_level=CONFIDENCE, method="percentile",
                          random_state=np.random.default_rng(RNG_SEED))
    return float(res.confidence_interval.low), float(res.confidence_interval.high), res.bootstrap_distribution


def metric_ci(arm: Arm) -> dict:
    """The arm's metric (mean over seeds) with its 95% bootstrap interval over examples."""
    lo, hi, _ = bootstrap_ci(arm.metric_at, [len(arm.ids)])
    return {"value": float(arm.metric_at()), "low": lo, "high": hi, "n_examples": len(arm.ids),
            "n_seeds": len(arm.preds), "method": "bootstrap"}


def _aligned(a: Arm, b: Arm):
    if a.task != b.task:
        raise ValueError(f"cannot compare {a.task} with {b.task}")
    if not np.array_equal(a.ids, b.ids):
        raise ValueError("the two arms were not evaluated on the same examples; a paired comparison needs them")


def paired_difference(a: Arm, b: Arm) -> dict:
    """metric(a) - metric(b) over the same examples: a 95% paired-bootstrap interval (the same resampled examples
    for both arms and every seed), and a two-sided p-value from a paired permutation test
    (scipy.stats.permutation_test: per example, the two arms' outputs are swapped -- STS scores standardised per
    arm and seed first, as r does not depend on an arm's scale; with unequal numbers of seeds, their
    seed-averaged outputs)."""
    _aligned(a, b)
    n = len(a.ids)
    lo, hi, _ = bootstrap_ci(lambda i: a.metric_at(i) - b.metric_at(i), [n])
    gold = np.asarray(a.gold, dtype=float)
    MA, MB = a.matrix(), b.matrix()
    if _correlation(a.task):  # Pearson's r ignores each arm's scale, a swap must not: standardise every seed's scores
        MA, MB = (_standardise(M) for M in (MA, MB))
    if MA.shape != MB.shape:
        MA, MB = MA.mean(0, keepdims=True), MB.mean(0, keepdims=True)
    pool = np.concatenate([MA, MB], axis=1)  # seeds x 2n: example i of arm a at i, of arm b at n + i
    gpool = np.concatenate([gold, gold])

    def stat(x, y, axis=-1):
        return metric_of(a.task, gpool, pool, x) - metric_of(a.task, gpool, pool, y)
    res = stats.permutation_test((np.arange(n), np.arange(n) + n), stat, permutation_type="samples",
                                 vectorized=True, n_resamples=N_RESAMPLES, batch=100, alternative="two-sided",
                                 random_state=np.random.default_rng(RNG_SEED))
    return {"diff": float(a.metric_at() - b.metric_at()), "low": lo, "high": hi, "p": float(res.pvalue),
            "n_examples": n, "method": "paired bootstrap + permutation test"}


def _standardise(M: np.ndarray) -> np.ndarray:
    sd = M.std(1, keepdims=True)
    return (M - M.mean(1, keepdims=True)) / np.where(sd > 0, sd, 1)


def difference_to_constant(a: Arm, constant: float) -> dict:
    """metric(a) - constant (e.g. a chance level), with the bootstrap interval of the metric shifted."""
    ci = metric_ci(a)
    return {"diff": ci["value"] - constant, "low": ci["low"] - constant, "high": ci["high"] - constant,
            "p": float("nan"), "n_examples": ci["n_examples"], "method": "bootstrap"}


# -- without per-example outputs -------------------------------------------------------------------------

@dataclass
class Summary:
    """What a result JSON alone gives: the metric of each seed and the number of examples."""
    task: str
    values: list
    n: int

    @property
    def value(self) -> float:
        return float(np.mean(self.values))


def summary_ci(s: Summary) -> dict:
    """Wilson interval (accuracy) or Fisher-z interval (Pearson r) from the metric and n alone."""
    v = s.value
    if _correlation(s.task):
        z, se = math.atanh(max(min(v, 0.999999), -0.999999)), 1 / math.sqrt(max(s.n - 3, 1))
        q = stats.norm.ppf(0.5 + CONFIDENCE / 2)
        lo, hi = math.tanh(z - q * se), math.tanh(z + q * se)
        method = "Fisher z (no per-example outputs stored)"
    else:
        k = int(round(v * s.n))
        ci = stats.binomtest(k, s.n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
        lo, hi = float(ci.low), float(ci.high)
        method = "Wilson (no per-example outputs stored)"
    return {"value": v, "low": lo, "high": hi, "n_examples": s.n, "n_seeds": len(s.values), "method": method}


def unpaired_difference(a: Summary, b: Summary) -> dict:
    """metric(a) - metric(b) treating the arms as independent samples (conservative when they share examples)."""
    q = stats.norm.ppf(0.5 + CONFIDENCE / 2)
    if _correlation(a.task):
        za, zb = (math.atanh(max(min(x.value, 0.999999), -0.999999)) for x in (a, b))
        se = math.sqrt(1 / max(a.n - 3, 1) + 1 / max(b.n - 3, 1))
        zstat = (za - zb) / se
        d = a.value - b.value
        # interval of r_a - r_b by Zou's (2007) method on the Fisher-z intervals
        la, ua = (math.tanh(za - q / math.sqrt(a.n - 3)), math.tanh(za + q / math.sqrt(a.n - 3)))
        lb, ub = (math.tanh(zb - q / math.sqrt(b.n - 3)), math.tanh(zb + q / math.sqrt(b.n - 3)))
        lo = d - math.sqrt((a.value - la) ** 2 + (ub - b.value) ** 2)
        hi = d + math.sqrt((ua - a.value) ** 2 + (b.value - lb) ** 2)
    else:
        pa, pb = a.value, b.value
        d = pa - pb
        se = math.sqrt(pa * (1 - pa) / a.n + pb * (1 - pb) / b.n) or 1e-12
        zstat = d / se
        lo, hi = d - q * se, d + q * se
    p = float(2 * stats.norm.sf(abs(zstat)))
    return {"diff": d, "low": lo, "high": hi, "p": p, "n_examples": min(a.n, b.n),
            "method": "unpaired (no per-example outputs stored)"}


# -- verdicts --------------------------------------------------------------------------------------------

VERDICT_RULE = (
    "A claim that one arm beats another **holds** when the 95% interval of our difference (arm minus the other) "
    "lies entirely above 0, **does not hold** when it lies entirely below 0 (the opposite is true), and **cannot be "
    "decided** at our sample size when it contains 0. A claim that a score is *near chance* holds when the 95% "
    "interval of (score - chance level) lies inside ±{margin}, does not hold when it lies entirely outside, and "
    "cannot be decided otherwise.")
NEAR_MARGIN = 0.05


def verdict_better(low: float, high: float) -> str:
    if any(map(math.isnan, (low, high))):
        return "cannot be decided"
    if low > 0:
        return "holds"
    if high < 0:
        return "does not hold"
    return "cannot be decided"


def verdict_near(low: float, high: float, margin: float = NEAR_MARGIN) -> str:
    if any(map(math.isnan, (low, high))):
        return "cannot be decided"
    if -margin <= low and high <= margin:
        return "holds"
    if low > margin or high < -margin:
        return "does not hold"
    return "cannot be decided"


def fmt_ci(value, low, high, digits=3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return f"{value:.{digits}f} (no interval)"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def fmt_p(p) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
