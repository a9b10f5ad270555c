"""Decision rules chosen on dev (mtbert.analysis.decision_rules): exact thresholds, offsets that never lose on
the examples they were fitted on, cross-validation that does not see the held-out fold, and the rules table on
stored outputs of fake runs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtbert.analysis import decision_rules
from mtbert.core.metrics import accuracy, pearson
from mtbert.data import identity as datahash
from mtbert.errors import MtbertError
from mtbert.results import store
from mtbert.core.experiments import run_config
from mtbert.results.result_set import ResultSet

SEEDS = [11711, 1, 2]


def brute_force_accuracy(score, gold, t):
    return accuracy((np.asarray(score) > t).astype(int), gold)


def test_best_threshold_is_the_best_cut_and_the_nearest_to_zero_among_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(5, 60))
        score = np.round(rng.normal(size=n), 1)  # rounded: many tied scores
        gold = rng.integers(0, 2, n)
        t = decision_rules.best_threshold(score, gold)
        grid = np.concatenate([np.unique(score) - 1e-6, np.unique(score) + 1e-6, [-10, 10]])
        best = max(brute_force_accuracy(score, gold, g) for g in grid)
        assert brute_force_accuracy(score, gold, t) == pytest.approx(best)
    # every cut between 0.5 and 1.5 is perfect here; the tie closest to 0 is the midpoint 1.0 between the scores
    assert decision_rules.best_threshold([-1.0, 0.5, 1.5, 2.0], [0, 0, 1, 1]) == pytest.approx(1.0)
    assert decision_rules.best_threshold([-1.0, 1.0], [0, 1]) == pytest.approx(0.0)


def test_best_threshold_recovers_a_shifted_decision_boundary():
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 2, 4000)
    score = np.where(gold == 1, 1.0, -1.0) + rng.normal(scale=0.8, size=4000) + 1.5  # every logit 1.5 too high
    t = decision_rules.best_threshold(score, gold)
    assert 1.2 < t < 1.8
    assert brute_force_accuracy(score, gold, t) > brute_force_accuracy(score, gold, 0.0) + 0.1


def test_offsets_never_lose_on_their_own_examples_and_leave_class_zero_alone():
    rng = np.random.default_rng(2)
    X, gold = rng.normal(size=(300, 5)), rng.integers(0, 5, 300)
    X[:, 3] += 1.0  # a class the model over-predicts
    b = decision_rules.fit_offsets(X, gold)
    assert b[0] == 0 and b.shape == (5,)
    assert accuracy((X + b).argmax(1), gold) >= accuracy(X.argmax(1), gold)


def test_cross_validation_predicts_each_fold_with_a_rule_fitted_without_it():
    rng = np.random.default_rng(3)
    score, gold = rng.normal(size=200), rng.integers(0, 2, 200)
    seen = []

    def fit(x, g):
        seen.append(len(x))
        return 0.0
    cv = decision_rules.cross_validated(fit, lambda x, t: (x > t).astype(int), score, gold, "quora")
    assert cv == pytest.approx(brute_force_accuracy(score, gold, 0.0))  # a rule that fits nothing = the default
    assert len(seen) == decision_rules.CV_FOLDS and all(n == 200 - 200 // decision_rules.CV_FOLDS for n in seen)
    # a rule that memorises labels scores perfectly in-sample but at chance out of fold
    memo = decision_rules.cross_validated(lambda x, g: dict(zip(x, g)), lambda x, m: np.array([m.get(v, 0) for v in x]),
                             score, gold, "quora")
    assert memo < 0.7


def _store_runs(S, name, seeds, outputs):
    """Stored results and per-example dev and test outputs (<prefix>-<split>-scores.csv) for each seed."""
    for s in seeds:
        cfg = run_config(name, S.profile, s)
        test = {"sst": 0.5, "quora": 0.5, "sts": 0.5, "overall": 0.5}
        store.write_json(store.result_path(cfg, S), {"run_id": cfg.run_id, "config_hash": cfg.hash(),
                                                     "data": {"files": datahash.current(cfg, S.data_dir)},
                                                     "config": cfg.to_dict(), "encoder": {"name": "default"},
                                                     "dev": test, "test": test})
        d = S.predictions_dir / cfg.run_id
        d.mkdir(parents=True, exist_ok=True)
        for (prefix, split), df in outputs[s].items():
            df.to_csv(d / f"{prefix}-{split}-scores.csv", index=False)


def _fake_outputs(rng, n, sts_signal, quora_shift):
    """One seed's outputs: the same examples and gold labels for every seed, the seed's own noise."""
    out = {}
    for split in ("dev", "test"):
        ids = [f"{split}{i}" for i in range(n)]
        g = np.random.default_rng(len(split))
        g_sst, g_q, g_s = g.integers(0, 5, n), g.integers(0, 2, n), g.uniform(0, 5, n)
        logits = rng.normal(size=(n, 5)) + 2 * np.eye(5)[g_sst]
        q = np.where(g_q == 1, 1.0, -1.0) + rng.normal(scale=0.8, size=n) + quora_shift
        s = sts_signal * g_s / 5 + rng.normal(scale=0.2, size=n)
        out[("sst", split)] = pd.DataFrame({"id": ids, "gold": g_sst, "pred": logits.argmax(1),
                                            **{f"logit_{k}": logits[:, k] for k in range(5)}})
        out[("para", split)] = pd.DataFrame({"id": ids, "gold": g_q, "pred": (q > 0).astype(int), "score": q})
        out[("sts", split)] = pd.DataFrame({"id": ids, "gold": g_s, "pred": 5 * s, "score": s})
    return out


def test_rules_table_adopts_a_threshold_that_helps_on_dev_and_pairs_sts_with_the_better_partner(tmp_path, S):
    n = 600
    base = {s: _fake_outputs(np.random.default_rng(s), n, 1.0, 1.5) for s in SEEDS}
    _store_runs(S, "beyond_best_2epoch", SEEDS, base)
    partners = {}
    for name, signal in (("beyond_best_cosent_1epoch", 1.0), ("beyond_mean_1epoch", 0.0)):  # informative, noise
        partners[name] = {}
        for s in SEEDS:
            rng = np.random.default_rng(100 + s)
            o = {}
            for split in ("dev", "test"):  # the same examples and gold as the model's, another model's noise
                f = base[s][("sts", split)].copy()
                f["score"] = signal * f["gold"] / 5 + rng.normal(scale=0.2, size=n)
                o[("sts", split)] = f
            partners[name][s] = o
        _store_runs(S, name, SEEDS, partners[name])

    partner = decision_rules.sts_partner("beyond_best_2epoch", ResultSet.load(S), ["beyond_mean_1epoch", "beyond_best_cosent_1epoch",
                                                      "beyond_best_2epoch", "beyond_warmup_1epoch"])
    assert partner == "beyond_best_cosent_1epoch"
    t = decision_rules.rules_table("beyond_best_2epoch", ResultSet.load(S), partner)
    assert set(t["rule"]) == set(decision_rules.RULE_TASK) and set(t["seed"]) == {*map(str, SEEDS), "ensemble", "mean of 3"}
    q = t[(t["rule"] == "quora threshold") & (t["seed"] == "mean of 3")].iloc[0]
    assert q["adopted"] == "yes" and q["test with rule"] > q["test default"]
    low = float(q["difference [95% CI]"].split("[")[1].split(",")[0])
    assert low > 0
    s = t[(t["rule"] == "sts combined") & (t["seed"] == "1")].iloc[0]
    own = base[1][("sts", "test")]
    mate = partners[partner][1][("sts", "test")]
    z = lambda f, split_f: (f["score"] - split_f["score"].mean()) / split_f["score"].std(ddof=0)
    expected = pearson((z(own, base[1][("sts", "dev")]) + z(mate, partners[partner][1][("sts", "dev")])) / 2,
                       own["gold"])
    assert s["test with rule"] == pytest.approx(expected) and s["partner"] == partner

    rows = decision_rules.targets_rows("beyond_best_2epoch", ResultSet.load(S), partner)
    assert list(rows["key"]) == [*map(str, sorted(SEEDS)), "ensemble"]
    adopted = decision_rules.adopted_rules(t)
    assert "quora threshold" in adopted
    r1 = rows[rows["key"] == "1"].iloc[0]
    assert r1["quora"] == pytest.approx(t[(t["rule"] == "quora threshold") & (t["seed"] == "1")]["test with rule"].iloc[0])
    if "sst class offsets" not in adopted:
        assert r1["sst"] == 0.5  # the stored score, untouched


def test_no_rule_without_stored_outputs(tmp_path, S):
    assert decision_rules.rules_table("beyond_best_2epoch", ResultSet.load(S), None, seeds=[1]).empty
    assert decision_rules.sts_partner("beyond_best_2epoch", ResultSet.load(S), ["beyond_mean_1epoch"], seeds=[1]) is None
    assert decision_rules.targets_rows("beyond_best_2epoch", ResultSet.load(S), None, seeds=[1]).empty


def test_the_systems_sts_leaderboard_files_follow_the_combination_chosen_on_dev(tmp_path, S, settings_for):
    n, seeds = 300, [11711, 1]
    rng = np.random.default_rng(5)
    g = np.random.default_rng(9)
    gold = {"dev": g.uniform(0, 5, n), "test": g.uniform(0, 5, n)}
    student_truth = g.uniform(0, 5, n)
    for name, noise in (("beyond_best_2epoch", 0.3), ("beyond_best_cosent_1epoch", 0.3), ("beyond_mean_1epoch", 3.0)):
        outputs = {}
        for s in seeds:
            o = {}
            for split in ("dev", "test"):
                sc = gold[split] / 5 + rng.normal(scale=noise, size=n)
                o[("sts", split)] = pd.DataFrame({"id": [f"{split}{i}" for i in range(n)], "gold": gold[split],
                                                  "pred": 5 * sc, "score": sc})
            sc = student_truth / 5 + rng.normal(scale=noise, size=n)
            o[("sts", "test-student")] = pd.DataFrame({"id": [f"s{i}" for i in range(n)], "pred": 5 * sc, "score": sc})
            outputs[s] = o
        _store_runs(S, name, seeds, outputs)
    m = decision_rules.write_rules_predictions("beyond_best_2epoch", ResultSet.load(S), seeds)
    assert m["sts_partner"] == "beyond_best_cosent_1epoch" and m["seeds"] == seeds
    out = S.predictions_dir / "beyond_best_2epoch__with_rules"
    assert (out / "RULES.json").exists() and len(m["files"]) == 2
    test_out = pd.read_csv(out / "sts-test-output.csv", sep=",", skiprows=1, header=None, names=["id", "pred"])
    assert len(test_out) == n and test_out["pred"].between(0, 5).all()
    truth = dict(zip([f"s{i}" for i in range(n)], student_truth))
    assert pearson(test_out["pred"], test_out["id"].str.strip().map(truth)) > 0.8  # four members of noise 0.3 averaged: r near 0.9
    with pytest.raises(MtbertError, match="seed 2 of beyond_best_2epoch is not stored"):
        decision_rules.write_rules_predictions("beyond_best_2epoch", ResultSet.load(S), [11711, 1, 2])
    alone = settings_for(tmp_path / "alone")
    _store_runs(alone, "beyond_best_2epoch", seeds, outputs)  # no other configuration stored
    with pytest.raises(MtbertError, match="no configuration other than"):
        decision_rules.write_rules_predictions("beyond_best_2epoch", ResultSet.load(alone), seeds)
