"""The paper's claims, each tested on our stored runs: our two numbers with 95% intervals, the difference of the
two arms with its interval and p-value, and a verdict by the rule in `stats.VERDICT_RULE`.

Each arm reads every stored seed of its experiment. With per-example outputs stored (every run since the
per-example files were added, e.g. the quick profile), intervals come from the bootstrap over examples and
comparisons are paired; without them (the GPU runs of the full profile, except the submissions' dev outputs)
from the metric and the number of examples alone, unpaired (`stats.Summary`). The `method` column says which.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from mtbert.analysis import stats as st
from mtbert.data import datasets as D
from mtbert.core.tasks import OVERALL_TASKS, get_task
from mtbert.results.result_set import ResultSet


def task_name(key: str) -> str:
    """What a reader sees for a claim's task: the spec's display name, or "overall"."""
    return key if key == "overall" else get_task(key).display


@dataclass(frozen=True)
class Claim:
    key: str
    source: str          # where the paper makes it
    text: str
    kind: str            # "better" | "near_chance" | "dominates" | "curves"
    task: str
    split: str
    a: str = ""          # experiment of the arm claimed better (or the only arm)
    b: str = ""          # experiment of the arm it is compared with
    paper_a: float = float("nan")
    paper_b: float = float("nan")
    term: str = ""       # "dominates": the task whose term of the overall score is claimed the largest


CLAIMS = [
    Claim("t1_sst", "Table 1", "Fine-tuning beats a frozen encoder (pretrain) on SST", "better", "sst", "dev",
          "t1_sst_finetune", "t1_sst_pretrain", 0.521, 0.400),
    Claim("t1_cfimdb", "Table 1", "Fine-tuning beats a frozen encoder (pretrain) on CFIMDB", "better", "cfimdb",
          "dev", "t1_cfimdb_finetune", "t1_cfimdb_pretrain", 0.967, 0.796),
    Claim("t2_quora", "Table 2", "The SST-only multitask model is near chance on Quora (majority rate)",
          "near_chance", "quora", "dev", "mt_sst_only", paper_a=0.393),
    Claim("t2_sts", "Table 2", "The SST-only multitask model is near chance on STS (r = 0)", "near_chance", "sts",
          "dev", "mt_sst_only", paper_a=0.120),
    Claim("t3_cos", "Table 3", "Cosine similarity (+ sigmoid) lifts STS over the baseline head", "better", "sts",
          "dev", "mt_sst_only_cos_sigmoid", "mt_sst_only", 0.446, 0.120),
    Claim("t3_data", "Table 3", "STS training data lifts the cosine + sigmoid head", "better", "sts", "dev",
          "mt_all_sts_cos_sigmoid", "mt_sst_only_cos_sigmoid", 0.473, 0.446),
    Claim("t3_relu", "Table 3", "Once trained, cosine + ReLU beats cosine + sigmoid on STS", "better", "sts", "dev",
          "submission1", "mt_all_sts_cos_sigmoid", 0.532, 0.473),
    Claim("t4_data", "Table 4", "Quora training data lifts paraphrase accuracy", "better", "quora", "dev",
          "mt_all_baseline", "mt_sst_only", 0.825, 0.393),
    Claim("t4_cos", "Table 4", "The cosine feature lifts paraphrase accuracy further", "better", "quora", "dev",
          "mt_all_para_cos", "mt_all_baseline", 0.841, 0.825),
    Claim("t5", "Table 5", "Submission 2 (cosine on paraphrase too) beats submission 1 overall", "better",
          "overall", "test", "submission2", "submission1", 0.702, 0.683),
    Claim("s6_sts_curve", "§6", "With cosine on paraphrase too, the STS dev curve is smoother (fewer and smaller "
          "drops between epochs) than without", "curves", "sts", "dev", "submission2", "submission1"),
    Claim("s6_quora_curve", "§6", "With cosine on paraphrase too, the Quora dev curve is smoother than without",
          "curves", "quora", "dev", "submission2", "submission1"),
    Claim("s6_dominates", "§6", "Paraphrase accuracy is the largest term of the overall score (submission 2)",
          "dominates", "overall", "test", "submission2", paper_a=0.839, paper_b=(0.498 + 1) / 2, term="quora"),
]


# -- loading arms -----------------------------------------------------------------------------------------

def _frame(r: dict, task: str, split: str, R: ResultSet):
    p = (r.get("predictions") or {}).get(task, {}).get(f"{split}_scores")
    return R.recorded_frame(p, text_ids=True) if p else None


def arm(name: str, task: str, split: str, R: ResultSet):
    """An st.Arm (per-example outputs of every stored seed) or, when any seed lacks them, an st.Summary."""
    rs = R.results(name)
    if not rs:
        return None
    frames = {r["seed"]: _frame(r, task, split, R) for r in rs}
    if all(f is not None for f in frames.values()):
        return st.arm_from_frames(task, frames)
    n = rs[0]["data"]["sizes"][split][task]
    return st.Summary(task, [float(r[split][task]) for r in rs], int(n))


def _summary(a) -> st.Summary:
    if isinstance(a, st.Summary):
        return a
    return st.Summary(a.task, a.per_seed(), len(a.ids))


def _ci(a) -> dict:
    return st.metric_ci(a) if isinstance(a, st.Arm) else st.summary_ci(a)


# -- the overall score: three tasks resampled independently ----------------------------------------------

def _overall(arms: dict, idx: dict | None = None) -> float:
    m = {t: arms[t].metric_at(None if idx is None else idx[t]) for t in OVERALL_TASKS}
    return sum(get_task(t).unit_score(m[t]) for t in OVERALL_TASKS) / len(OVERALL_TASKS)


def _boot_multi(statistic, sizes: dict) -> tuple[float, float, np.ndarray]:
    """Bootstrap over the examples of several tasks at once (each resampled on its own; stats.bootstrap_ci);
    `statistic` gets {task: index batch}. Returns the interval and the bootstrap distribution."""
    tasks = list(sizes)
    return st.bootstrap_ci(lambda *ix: statistic(dict(zip(tasks, ix))), [sizes[t] for t in tasks])


def _p_from_boot(dist: np.ndarray) -> float:
    """Two-sided p-value of 'difference = 0' from a bootstrap distribution of the difference."""
    dist = np.asarray(dist)
    return float(min(1.0, 2 * min(np.mean(dist <= 0), np.mean(dist >= 0))))


def _overall_arms(name: str, split: str, R: ResultSet):
    arms = {t: arm(name, t, split, R) for t in OVERALL_TASKS}
    if any(a is None for a in arms.values()):
        return None
    return arms


def _overall_summary(arms: dict) -> tuple[float, float]:
    """(overall, standard error) from the per-task metrics and sizes alone (normal approximation)."""
    s = {t: _summary(a) for t, a in arms.items()}
    var = 0.0
    for t in OVERALL_TASKS:
        var += _unit_variance(s[t])
    value = sum(get_task(t).unit_score(s[t].value) for t in OVERALL_TASKS) / len(OVERALL_TASKS)
    return value, math.sqrt(var) / len(OVERALL_TASKS)


def _unit_variance(s: st.Summary) -> float:
    """Sampling variance of a task's term of the overall score: p(1 - p) / n for an accuracy; for Pearson's r,
    (1 - r^2)^2 / (n - 1), divided by 4 as the term is (r + 1) / 2."""
    if get_task(s.task).metric == "pearson":
        return ((1 - s.value ** 2) ** 2 / max(s.n - 1, 1)) / 4
    return s.value * (1 - s.value) / s.n


# -- evaluating a claim ------------------------------------------------------------------------------------

def _row(c: Claim, ours=(None, None), diff=None, verdict="cannot be decided", note="", n_seeds="") -> dict:
    """One row of the claims table: our two numbers (`ours`: the claim's arm and the other arm), the difference
    with its interval and p, the verdict; "-" for what a claim cannot give."""
    ours_a, ours_b = ours
    d = diff or {}
    return {
        "claim": c.text, "source": c.source, "task": task_name(c.task), "split": c.split,
        "paper": _paper(c),
        "ours": ours_a if ours_a is not None else "-",
        "ours (other arm)": ours_b if ours_b is not None else "-",
        "difference [95% CI]": st.fmt_ci(d.get("diff"), d.get("low"), d.get("high")) if d else "-",
        "p": st.fmt_p(d.get("p")) if d else "-",
        "seeds": n_seeds, "method": d.get("method", note), "verdict": verdict, "key": c.key,
        "diff": d.get("diff", float("nan")), "low": d.get("low", float("nan")), "high": d.get("high", float("nan")),
    }


def _paper(c: Claim) -> str:
    if c.kind == "curves":
        return "described, no numbers"
    if math.isnan(c.paper_b):
        return f"{c.paper_a:.3f}"
    return f"{c.paper_a:.3f} vs {c.paper_b:.3f}"


def _fmt(ci: dict) -> str:
    return st.fmt_ci(ci["value"], ci["low"], ci["high"])


def evaluate(c: Claim, R: ResultSet) -> dict:
    if c.kind == "better" and c.task == "overall":
        return _better_overall(c, R)
    if c.kind == "better":
        A, B = arm(c.a, c.task, c.split, R), arm(c.b, c.task, c.split, R)
        if A is None or B is None:
            return _row(c, note="not run")
        if isinstance(A, st.Arm) and isinstance(B, st.Arm) and np.array_equal(A.ids, B.ids):
            d = st.paired_difference(A, B)
        else:
            d = st.unpaired_difference(_summary(A), _summary(B))
        return _row(c, (_fmt(_ci(A)), _fmt(_ci(B))), d, st.verdict_better(d["low"], d["high"]),
                    n_seeds=f"{_nseeds(A)} / {_nseeds(B)}")
    if c.kind == "near_chance":
        A = arm(c.a, c.task, c.split, R)
        if A is None:
            return _row(c, note="not run")
        chance = _chance(A, c, R)
        if isinstance(A, st.Arm):
            d = st.difference_to_constant(A, chance)
        else:
            ci = st.summary_ci(A)
            d = {"diff": ci["value"] - chance, "low": ci["low"] - chance, "high": ci["high"] - chance,
                 "p": float("nan"), "method": ci["method"]}
        row = _row(c, (_fmt(_ci(A)), f"chance {chance:.3f}"), d, st.verdict_near(d["low"], d["high"]),
                   n_seeds=str(_nseeds(A)))
        return row
    if c.kind == "dominates":
        return _dominates(c, R)
    if c.kind == "curves":
        return _curves(c, R)
    raise ValueError(f"unknown claim kind {c.kind!r}")


def _nseeds(a) -> int:
    return len(a.preds) if isinstance(a, st.Arm) else len(a.values)


def _chance(A, c: Claim, R: ResultSet) -> float:
    """The task spec's chance level on the arm's gold labels (without per-example outputs: the split's file)."""
    spec = get_task(c.task)
    if spec.chance == "zero":
        return spec.chance_level(None)
    g = np.asarray(A.gold) if isinstance(A, st.Arm) else D.load(c.task, c.split, R.S.data_dir).labels
    return spec.chance_level(g)


def paired_overall_difference(A: dict, B: dict, what: str = "overall") -> dict:
    """overall(A) - overall(B) of two arms per task ({task: st.Arm}, the same examples): a 95% paired bootstrap
    with the three tasks resampled independently, a p-value from its distribution, and each arm's own interval."""
    sizes = {t: len(A[t].ids) for t in OVERALL_TASKS}
    for t in OVERALL_TASKS:
        if not np.array_equal(A[t].ids, B[t].ids):
            raise ValueError(f"{what}: the two arms were tested on other {t} examples")
    lo, hi, dist = _boot_multi(lambda ix: _overall(A, ix) - _overall(B, ix), sizes)
    la, ha, _ = _boot_multi(lambda ix: _overall(A, ix), sizes)
    lb, hb, _ = _boot_multi(lambda ix: _overall(B, ix), sizes)
    va, vb = float(_overall(A)), float(_overall(B))
    return {"diff": va - vb, "low": lo, "high": hi, "p": _p_from_boot(dist), "a": va, "a_ci": (la, ha),
            "b": vb, "b_ci": (lb, hb), "method": "paired bootstrap (tasks resampled independently)"}


def _better_overall(c: Claim, R: ResultSet) -> dict:
    A, B = _overall_arms(c.a, c.split, R), _overall_arms(c.b, c.split, R)
    if A is None or B is None:
        return _row(c, note="not run")
    first = OVERALL_TASKS[0]
    seeds = f"{_nseeds(A[first])} / {_nseeds(B[first])}"
    if all(isinstance(x, st.Arm) for x in [*A.values(), *B.values()]):
        d = paired_overall_difference(A, B, c.key)
        return _row(c, (st.fmt_ci(d["a"], *d["a_ci"]), st.fmt_ci(d["b"], *d["b_ci"])), d,
                    st.verdict_better(d["low"], d["high"]), n_seeds=seeds)
    (va, sa), (vb, sb) = _overall_summary(A), _overall_summary(B)
    q = sps.norm.ppf(0.5 + st.CONFIDENCE / 2)
    se = math.hypot(sa, sb)
    d = {"diff": va - vb, "low": va - vb - q * se, "high": va - vb + q * se,
         "p": float(2 * sps.norm.sf(abs(va - vb) / se)), "method": "unpaired (no per-example outputs stored)"}
    return _row(c, (st.fmt_ci(va, va - q * sa, va + q * sa), st.fmt_ci(vb, vb - q * sb, vb + q * sb)), d,
                st.verdict_better(d["low"], d["high"]), n_seeds=seeds)


def _terms(m: dict) -> dict:
    """The overall score's terms by name: "SST", "Quora", "STS (r+1)/2"."""
    return {get_task(t).display + (" (r+1)/2" if get_task(t).metric == "pearson" else ""): get_task(t).unit_score(m[t])
            for t in OVERALL_TASKS}


def _dominates(c: Claim, R: ResultSet) -> dict:
    A = _overall_arms(c.a, c.split, R)
    if A is None:
        return _row(c, note="not run")

    term, others = c.term, [t for t in OVERALL_TASKS if t != c.term]
    unit = {t: get_task(t).unit_score for t in OVERALL_TASKS}

    def stat(ix=None):
        m = {t: unit[t](A[t].metric_at(None if ix is None else ix[t])) for t in OVERALL_TASKS}
        largest_other = m[others[0]]
        for t in others[1:]:
            largest_other = np.maximum(largest_other, m[t])
        return m[term] - largest_other
    if all(isinstance(x, st.Arm) for x in A.values()):
        lo, hi, dist = _boot_multi(stat, {t: len(A[t].ids) for t in OVERALL_TASKS})
        d = {"diff": float(stat()), "low": lo, "high": hi, "p": _p_from_boot(dist), "method": "bootstrap"}
    else:
        s = {t: _summary(a) for t, a in A.items()}
        other = max(others, key=lambda t: (unit[t](s[t].value), -others.index(t)))  # ties: the first
        if get_task(term).metric == get_task(other).metric == "accuracy":
            d = st.unpaired_difference(s[term], s[other])
        else:  # an accuracy vs (r + 1) / 2: normal approximation of both
            q = sps.norm.ppf(0.5 + st.CONFIDENCE / 2)
            se = math.sqrt(_unit_variance(s[term]) + _unit_variance(s[other]))
            diff = unit[term](s[term].value) - unit[other](s[other].value)
            d = {"diff": diff, "low": diff - q * se, "high": diff + q * se,
                 "p": float(2 * sps.norm.sf(abs(diff) / se)), "method": "unpaired (no per-example outputs stored)"}
    m = {t: float(A[t].metric_at()) if isinstance(A[t], st.Arm) else A[t].value for t in OVERALL_TASKS}
    terms = ", ".join(f"{k} {v:.3f}" for k, v in _terms(m).items())
    return _row(c, (terms, "-"), d, st.verdict_better(d["low"], d["high"]), n_seeds=str(_nseeds(A[OVERALL_TASKS[0]])))


def roughness(history: list, task: str) -> float:
    """How erratic a dev curve is: the summed size of its drops from one epoch to the next."""
    v = [h["dev"][task] for h in history if task in h.get("dev", {})]
    return float(sum(max(0.0, a - b) for a, b in zip(v, v[1:])))


def _curves(c: Claim, R: ResultSet) -> dict:
    ra = [roughness(r["history"], c.task) for r in R.results(c.a)]
    rb = [roughness(r["history"], c.task) for r in R.results(c.b)]
    if not ra or not rb:
        return _row(c, note="not run")
    epochs = min(len(r["history"]) for r in R.results(c.a) + R.results(c.b))
    ours_a, ours_b = f"total drop {np.mean(ra):.3f} (n={len(ra)})", f"total drop {np.mean(rb):.3f} (n={len(rb)})"
    if epochs < 3:
        return _row(c, (ours_a, ours_b), verdict="cannot be decided",
                    note=f"{epochs} epochs: too few points for a curve", n_seeds=f"{len(ra)} / {len(rb)}")
    diff = float(np.mean(rb) - np.mean(ra))  # positive: submission 2 drops less
    if len(ra) >= 2 and len(rb) >= 2:
        res = sps.permutation_test((rb, ra), lambda x, y: np.mean(x) - np.mean(y), permutation_type="independent",
                                   vectorized=False, alternative="two-sided", n_resamples=st.N_RESAMPLES,
                                   random_state=np.random.default_rng(st.RNG_SEED))
        boot = sps.bootstrap((np.asarray(rb), np.asarray(ra)), lambda x, y: np.mean(x) - np.mean(y),
                             vectorized=False, paired=False, n_resamples=st.N_RESAMPLES, method="percentile",
                             random_state=np.random.default_rng(st.RNG_SEED))
        d = {"diff": diff, "low": float(boot.confidence_interval.low), "high": float(boot.confidence_interval.high),
             "p": float(res.pvalue), "method": "over seeds: bootstrap + permutation test"}
        verdict = st.verdict_better(d["low"], d["high"]) if res.pvalue < 0.05 else "cannot be decided"
        return _row(c, (ours_a, ours_b), d, verdict, n_seeds=f"{len(ra)} / {len(rb)}")
    return _row(c, (ours_a, ours_b), {"diff": diff, "low": float("nan"), "high": float("nan"), "p": float("nan"),
                                    "method": "an arm has one seed: no interval"},
                "cannot be decided", n_seeds=f"{len(ra)} / {len(rb)}")


def claims_table(R: ResultSet) -> pd.DataFrame:
    """One row per claim of the paper (see CLAIMS), with our verdict."""
    return pd.DataFrame([evaluate(c, R) for c in CLAIMS])


def display_columns(df: pd.DataFrame) -> pd.DataFrame:
    cols = ["source", "claim", "paper", "ours", "ours (other arm)", "difference [95% CI]", "p", "seeds", "verdict"]
    return df[cols]


def metric_interval(name: str, key: str, split: str, R: ResultSet) -> dict:
    """Our number for one table cell (mean over every stored seed) with its 95% interval: bootstrap over
    examples when per-example outputs are stored, else from the metric and n (see `stats`)."""
    nan = float("nan")
    if key == "overall":
        A = _overall_arms(name, split, R)
        if A is None:
            return {"value": nan, "low": nan, "high": nan, "method": "not run"}
        if all(isinstance(x, st.Arm) for x in A.values()):
            lo, hi, _ = _boot_multi(lambda ix: _overall(A, ix), {t: len(A[t].ids) for t in OVERALL_TASKS})
            return {"value": float(_overall(A)), "low": lo, "high": hi, "method": "bootstrap"}
        v, se = _overall_summary(A)
        q = sps.norm.ppf(0.5 + st.CONFIDENCE / 2)
        return {"value": v, "low": v - q * se, "high": v + q * se, "method": "normal approximation (no per-example outputs stored)"}
    a = arm(name, key, split, R)
    if a is None:
        return {"value": nan, "low": nan, "high": nan, "method": "not run"}
    return _ci(a)
