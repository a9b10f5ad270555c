"""Statistics (mtbert.analysis.stats): bootstrap intervals cover the truth, paired comparisons see a real difference and
not a fake one, the fallbacks without per-example outputs agree with the bootstrap, and the verdict rules."""
import math

import numpy as np
import pandas as pd
import pytest

from mtbert.analysis import stats as st


def arm(task, gold, *preds):
    a = st.Arm(task, np.arange(len(gold)), np.asarray(gold))
    for s, p in enumerate(preds):
        a.preds[s] = np.asarray(p)
    return a


@pytest.fixture
def rng():
    return np.random.default_rng(1)


def test_accuracy_interval_is_close_to_wilson(rng):
    gold = rng.integers(0, 2, 800)
    pred = np.where(rng.random(800) < 0.7, gold, 1 - gold)  # about 70% correct
    ci = st.metric_ci(arm("quora", gold, pred))
    wilson = st.summary_ci(st.Summary("quora", [ci["value"]], 800))
    assert ci["low"] < ci["value"] < ci["high"]
    assert abs(ci["low"] - wilson["low"]) < 0.01 and abs(ci["high"] - wilson["high"]) < 0.01
    assert ci["method"] == "bootstrap" and "Wilson" in wilson["method"]


def test_pearson_interval_is_close_to_fisher(rng):
    gold = rng.uniform(0, 5, 600)
    pred = gold + rng.normal(0, 2.0, 600)
    ci = st.metric_ci(arm("sts", gold, pred))
    fz = st.summary_ci(st.Summary("sts", [ci["value"]], 600))
    assert ci["low"] < ci["value"] < ci["high"]
    assert abs(ci["low"] - fz["low"]) < 0.03 and abs(ci["high"] - fz["high"]) < 0.03


def test_paired_difference_sees_a_real_gain_and_no_fake_one(rng):
    gold = rng.integers(0, 2, 1000)
    base = np.where(rng.random(1000) < 0.70, gold, 1 - gold)
    better = np.where(rng.random(1000) < 0.5, gold, base)  # fixes about half of base's errors
    d = st.paired_difference(arm("quora", gold, better), arm("quora", gold, base))
    assert d["low"] > 0 and d["p"] < 0.01 and st.verdict_better(d["low"], d["high"]) == "holds"
    same = st.paired_difference(arm("quora", gold, base), arm("quora", gold, base.copy()))
    assert same["diff"] == 0 and same["low"] <= 0 <= same["high"] and same["p"] > 0.5
    assert st.verdict_better(same["low"], same["high"]) == "cannot be decided"
    worse = st.paired_difference(arm("quora", gold, base), arm("quora", gold, better))
    assert st.verdict_better(worse["low"], worse["high"]) == "does not hold"


def test_seeds_are_combined(rng):
    gold = rng.uniform(0, 5, 300)
    seeds = [gold + rng.normal(0, s, 300) for s in (1.0, 1.5, 2.0)]
    a = arm("sts", gold, *seeds)
    assert a.metric_at() == pytest.approx(np.mean([np.corrcoef(p, gold)[0, 1] for p in seeds]))
    b = arm("sts", gold, *(p + rng.normal(0, 3, 300) for p in seeds))  # noisier
    d = st.paired_difference(a, b)
    assert d["diff"] > 0 and d["low"] > 0
    c = arm("sts", gold, seeds[0])  # one seed against three: seed-averaged permutation
    assert 0 <= st.paired_difference(c, b)["p"] <= 1


def test_paired_needs_the_same_examples():
    a = arm("quora", [0, 1, 1], [0, 1, 0])
    b = st.Arm("quora", np.array([5, 6, 7]), np.array([0, 1, 1]), {0: np.array([0, 1, 1])})
    with pytest.raises(ValueError, match="same examples"):
        st.paired_difference(a, b)


def test_arm_from_frames_aligns_by_id():
    f1 = pd.DataFrame({"id": ["b", "a", "c"], "gold": [1, 0, 1], "pred": [1, 1, 1]})
    f2 = pd.DataFrame({"id": ["a", "b", "c"], "gold": [0, 1, 1], "pred": [0, 1, 0]})
    a = st.arm_from_frames("quora", {1: f1, 2: f2})
    assert list(a.ids) == ["a", "b", "c"] and list(a.preds[1]) == [1, 1, 1] and list(a.preds[2]) == [0, 1, 0]
    with pytest.raises(ValueError, match="other examples"):
        st.arm_from_frames("quora", {1: f1, 2: f2.iloc[:2]})


def test_unpaired_difference_matches_the_normal_approximation():
    d = st.unpaired_difference(st.Summary("quora", [0.80], 2000), st.Summary("quora", [0.75], 2000))
    se = math.sqrt(0.8 * 0.2 / 2000 + 0.75 * 0.25 / 2000)
    assert d["diff"] == pytest.approx(0.05) and d["low"] == pytest.approx(0.05 - 1.959964 * se, rel=1e-4)
    assert d["p"] < 0.001
    r = st.unpaired_difference(st.Summary("sts", [0.80], 800), st.Summary("sts", [0.79], 800))
    assert r["low"] < 0 < r["high"] and r["p"] > 0.05


@pytest.mark.parametrize("low,high,better,near", [
    (0.01, 0.05, "holds", "holds"), (-0.04, 0.03, "cannot be decided", "holds"),
    (-0.2, -0.1, "does not hold", "does not hold"), (0.02, 0.08, "holds", "cannot be decided"),
    (float("nan"), float("nan"), "cannot be decided", "cannot be decided")])
def test_verdict_rules(low, high, better, near):
    assert st.verdict_better(low, high) == better
    assert st.verdict_near(low, high) == near


def test_formatting():
    assert st.fmt_ci(0.5, 0.4, 0.6) == "0.500 [0.400, 0.600]"
    assert st.fmt_ci(0.5, float("nan"), float("nan")) == "0.500 (no interval)"
    assert st.fmt_p(0.0001) == "< 0.001" and st.fmt_p(0.0312) == "0.031" and st.fmt_p(float("nan")) == "-"


def test_pearson_permutation_ignores_each_arms_scale(rng):
    """Two STS heads on different scales (a sigmoid squashes, a ReLU does not) and a small, consistent gain: the
    interval and the permutation test agree (swapping unstandardised scores gave p = 0.28 here)."""
    gold = rng.uniform(0, 5, 600)
    e = rng.normal(0, 1.2, 600)
    good = gold + e                                                    # scale 0-5
    weak = 2.5 + 0.2 * (gold + e + rng.normal(0, 0.5, 600) - 2.5)      # squashed around 2.5, a little noisier
    d = st.paired_difference(arm("sts", gold, good), arm("sts", gold, weak))
    assert 0 < d["low"] and d["diff"] < 0.06 and d["p"] < 0.01
