"""Decision rules chosen on dev and applied to a trained model's stored per-example outputs: no retraining.

A trained model turns its outputs into answers by fixed rules: Quora is "duplicate" when the paraphrase logit is
above 0 (probability 0.5), SST is the class with the largest logit, STS is the model's own similarity score. Each
rule here replaces one of them with a choice made on the dev split, never on the held-out test split:

* `quora threshold`: the logit threshold with the best dev accuracy (`best_threshold`, exact over every cut).
* `sst class offsets`: one offset per class added to the logits, with the best dev accuracy (`fit_offsets`,
  coordinate ascent on a grid; class 0's offset stays 0).
* `sts combined`: the similarity scores of the model and of a second configuration, each standardised by its
  own dev mean and standard deviation, averaged; the partner is the stored configuration whose combination has
  the best mean dev r over the model's seeds (`sts_partner`). It is a system of two encoders, not one model.

A fitted rule is judged before it is adopted, on dev alone: `CV_FOLDS`-fold cross-validation over the dev
examples (fit on the other folds, predict the held-out fold) estimates the dev score the rule gives on examples
it was not fitted on (the STS combination fits nothing but the standardisation: its dev score is in-sample, and
its partner was chosen on it). `rules_table` reports that estimate beside the held-out test score, the paired difference
against the default rule on test with its 95% interval (seed by seed, as the paper's claims are), and whether the
rule is adopted (its cross-validated dev score beats the default's). `targets_rows` scores the model with the
adopted rules, for the targets table.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mtbert.analysis import ablations
from mtbert.core.metrics import overall_of, task_metric
from mtbert.core.probability import logit, sigmoid, softmax
from mtbert.analysis.stats import Arm, fmt_ci, paired_difference
from mtbert.core.tasks import OVERALL_TASKS, get_task
from mtbert.errors import MtbertError
from mtbert.results import store
from mtbert.results.result_set import ResultSet
from mtbert.settings import default_seed_first
from mtbert.core.experiments import BEYOND_TABLES
from mtbert.results.predictions import leaderboard_text

CV_FOLDS = 5
CV_SEED = 0
OFFSET_GRID = np.round(np.linspace(-2, 2, 81), 2)
OFFSET_ROUNDS = 3
RULE_TASK = {"quora threshold": "quora", "sst class offsets": "sst", "sts combined": "sts"}


# -- per-example outputs ----------------------------------------------------------------------------------

def scores(name: str, R: ResultSet, seed: int, task: str, split: str) -> pd.DataFrame | None:
    """The stored per-example outputs of one run on `split` (dev, test, test-student), sorted by id; None when
    not stored."""
    f = R.outputs(name, seed, task, split)
    return None if f is None else f.sort_values("id").reset_index(drop=True)


def _logits(f: pd.DataFrame) -> np.ndarray:
    cols = sorted((c for c in f.columns if c.startswith("logit_")), key=lambda c: int(c.split("_")[1]))
    return f[cols].to_numpy(dtype=float)


# -- the rules --------------------------------------------------------------------------------------------

def best_threshold(score, gold) -> float:
    """The threshold t with the best accuracy of `score > t` against binary `gold`, over every cut between two
    distinct scores (and one below, one above them all); among ties, the one nearest 0 (the default rule)."""
    s, g = np.asarray(score, dtype=float), np.asarray(gold).astype(int)
    u = np.unique(s)
    cand = np.concatenate([[u[0] - 1.0], (u[:-1] + u[1:]) / 2, [u[-1] + 1.0]])
    order = np.argsort(s, kind="stable")
    k = np.searchsorted(s[order], cand, side="right")  # how many scores are <= t: predicted 0
    neg_cum = np.concatenate([[0], np.cumsum(1 - g[order])])
    pos_cum = np.concatenate([[0], np.cumsum(g[order])])
    correct = neg_cum[k] + (pos_cum[-1] - pos_cum[k])
    best = np.flatnonzero(correct == correct.max())
    return float(cand[best[np.argmin(np.abs(cand[best]))]])


def fit_offsets(logits, gold) -> np.ndarray:
    """Per-class offsets b (b[0] = 0) maximising the accuracy of argmax(logits + b): coordinate ascent over
    OFFSET_GRID, each class in turn, OFFSET_ROUNDS times; among ties, the middle of the best run of the grid."""
    X, g = np.asarray(logits, dtype=float), np.asarray(gold).astype(int)
    b = np.zeros(X.shape[1])
    for _ in range(OFFSET_ROUNDS):
        for k in range(1, X.shape[1]):
            Xg = np.repeat((X + b)[None], len(OFFSET_GRID), 0)  # grid x examples x classes
            Xg[:, :, k] = X[None, :, k] + OFFSET_GRID[:, None]
            acc = (Xg.argmax(2) == g).mean(1)
            top = np.flatnonzero(acc == acc.max())
            b[k] = OFFSET_GRID[top[len(top) // 2]]
    return b


def _folds(n: int) -> list[np.ndarray]:
    return np.array_split(np.random.default_rng(CV_SEED).permutation(n), CV_FOLDS)


def cross_validated(fit, apply, x, gold, task: str) -> float:
    """The dev metric of a fitted rule on examples it was not fitted on: fit on CV_FOLDS - 1 folds, predict the
    last, for each fold in turn; the metric of the assembled out-of-fold predictions."""
    pred = np.empty(len(gold), dtype=int)
    for held in _folds(len(gold)):
        rest = np.setdiff1d(np.arange(len(gold)), held)
        pred[held] = apply(x[held], fit(x[rest], gold[rest]))
    return task_metric(task, pred, gold)


# -- one configuration's seeds ----------------------------------------------------------------------------

def _quora(frames_dev, frames_test):
    """Per seed (and the seeds' ensemble: mean probability, back to a logit): default and rule predictions."""
    out = {}
    for key, (d, t) in _with_ensemble(frames_dev, frames_test, "quora").items():
        xd, gd = d["x"], d["gold"].astype(int)
        th = best_threshold(xd, gd)
        out[key] = {"param": f"logit > {th:.2f}", "gold": t["gold"].astype(int), "ids": t["ids"],
                    "dev default": task_metric("quora", (xd > 0).astype(int), gd),
                    "dev rule": cross_validated(best_threshold, lambda x, t_: (x > t_).astype(int),
                                                                  xd, gd, "quora"),
                    "test default": (t["x"] > 0).astype(int), "test rule": (t["x"] > th).astype(int)}
    return out


def _sst(frames_dev, frames_test):
    out = {}
    for key, (d, t) in _with_ensemble(frames_dev, frames_test, "sst").items():
        xd, gd = d["x"], d["gold"].astype(int)
        b = fit_offsets(xd, gd)
        out[key] = {"param": "offsets " + " ".join(f"{v:+.2f}" for v in b), "gold": t["gold"].astype(int),
                    "ids": t["ids"], "dev default": task_metric("sst", xd.argmax(1), gd),
                    "dev rule": cross_validated(fit_offsets, lambda x, b_: (x + b_).argmax(1),
                                                                  xd, gd, "sst"),
                    "test default": t["x"].argmax(1), "test rule": (t["x"] + b).argmax(1)}
    return out


def _standardised(dev: np.ndarray, other: np.ndarray) -> np.ndarray:
    return (other - dev.mean()) / dev.std()


def _sts(frames_dev, frames_test, partner_dev, partner_test):
    """The model's STS score and its average with the partner's, both standardised by their dev statistics; its
    "dev rule" is in-sample (nothing is fitted but the standardisation; the partner was chosen on dev)."""
    out = {}
    seeds = sorted(frames_dev)
    for own_fr, mate_fr in ((frames_dev, partner_dev), (frames_test, partner_test)):
        if not np.array_equal(own_fr[seeds[0]]["id"].to_numpy(), mate_fr[seeds[0]]["id"].to_numpy()):
            raise ValueError("sts: the partner configuration was evaluated on other examples; cannot combine them")
    for key in [*seeds, "ensemble"] if len(seeds) > 1 else seeds:
        members = seeds if key == "ensemble" else [key]
        own = {sp: np.mean([_standardised(frames_dev[s]["score"].to_numpy(float), fr[s]["score"].to_numpy(float))
                            for s in members], 0) for sp, fr in (("dev", frames_dev), ("test", frames_test))}
        mate = {sp: np.mean([_standardised(partner_dev[s]["score"].to_numpy(float), fr[s]["score"].to_numpy(float))
                             for s in members], 0) for sp, fr in (("dev", partner_dev), ("test", partner_test))}
        gd = frames_dev[seeds[0]]["gold"].to_numpy(float)
        gt = frames_test[seeds[0]]["gold"].to_numpy(float)
        out[key] = {"param": "", "gold": gt, "ids": frames_test[seeds[0]]["id"].to_numpy(),
                    "dev default": task_metric("sts", own["dev"], gd),
                    "dev rule": task_metric("sts", (own["dev"] + mate["dev"]) / 2, gd),
                    "test default": own["test"], "test rule": (own["test"] + mate["test"]) / 2}
    return out


def _with_ensemble(frames_dev, frames_test, task):
    """{seed or "ensemble": (dev, test)}, each {"x": decision scores, "gold", "ids"}: Quora logits (the ensemble's:
    the logit of the mean probability), SST logits (the ensemble's: log of the mean class probabilities)."""
    def x_of(frames, seeds):
        if task == "quora":
            return logit(np.mean([sigmoid(np.asarray(frames[s]["score"], dtype=float)) for s in seeds], 0))
        return np.log(np.mean([softmax(_logits(frames[s])) for s in seeds], 0))
    seeds = sorted(frames_dev)
    out = {}
    for key in [*seeds, "ensemble"] if len(seeds) > 1 else seeds:
        members = seeds if key == "ensemble" else [key]
        out[key] = tuple({"x": x_of(fr, members) if len(members) > 1 else
                          (fr[key]["score"].to_numpy(float) if task == "quora" else _logits(fr[key])),
                          "gold": fr[seeds[0]]["gold"].to_numpy(), "ids": fr[seeds[0]]["id"].to_numpy()}
                         for fr in (frames_dev, frames_test))
    return out


def _frames(name: str, R: ResultSet, seeds, task: str):
    dev = {s: scores(name, R, s, task, "dev") for s in seeds}
    test = {s: scores(name, R, s, task, "test") for s in seeds}
    if any(f is None for f in (*dev.values(), *test.values())):
        return None, None
    for fr in (dev, test):
        ids = fr[seeds[0]]["id"].to_numpy()
        gold = fr[seeds[0]]["gold"].to_numpy(dtype=float)
        if any(not np.array_equal(f["id"].to_numpy(), ids) for f in fr.values()):
            raise ValueError(f"{name} {task}: the seeds' outputs cover different examples")
        if any(not np.allclose(f["gold"].to_numpy(dtype=float), gold) for f in fr.values()):
            raise ValueError(f"{name} {task}: the seeds' gold labels differ")
    return dev, test


def sts_partner(name: str, R: ResultSet, candidates, seeds=None) -> str | None:
    """Among `candidates` with stored STS outputs for every seed of `name`, the one whose standardised average
    with `name` has the best mean dev Pearson r over those seeds; None when none qualifies."""
    seeds = R.seeds(name) if seeds is None else list(seeds)
    dev, test = _frames(name, R, seeds, "sts")
    if dev is None:
        return None
    best, score = None, -np.inf
    for c in candidates:
        if c == name:
            continue
        pdev, ptest = _frames(c, R, seeds, "sts")
        if pdev is None:
            continue
        r = np.mean([v["dev rule"] for k, v in _sts(dev, test, pdev, ptest).items()
                     if k != "ensemble"])
        if r > score:
            best, score = c, float(r)
    return best


def rule_outputs(name: str, R: ResultSet, partner: str | None, seeds=None) -> dict:
    """{rule: {seed or "ensemble": outputs}} for every rule whose inputs are stored, for the seeds of `name`."""
    seeds = R.seeds(name) if seeds is None else list(seeds)
    out = {}
    for rule, task in RULE_TASK.items():
        dev, test = _frames(name, R, seeds, task)
        if dev is None:
            continue
        if rule == "quora threshold":
            out[rule] = _quora(dev, test)
        elif rule == "sst class offsets":
            out[rule] = _sst(dev, test)
        elif partner is not None:
            pdev, ptest = _frames(partner, R, seeds, task)
            if pdev is not None:
                out[rule] = _sts(dev, test, pdev, ptest)
    return out


def _arm(task, v, which, seed_keys):
    arm = Arm(task, v[seed_keys[0]]["ids"], v[seed_keys[0]]["gold"])
    for k in seed_keys:
        arm.preds[k] = v[k][which]
    return arm


def rules_table(name: str, R: ResultSet, partner: str | None, seeds=None, outputs=None) -> pd.DataFrame:
    """Per rule: each seed, the mean over seeds (with the paired test difference against the default rule and its
    95% interval) and the ensemble; dev default vs cross-validated dev with the rule, test default vs with it.
    `outputs`: rule_outputs(name, R, partner, seeds), when already computed."""
    recs = []
    outputs = rule_outputs(name, R, partner, seeds) if outputs is None else outputs
    for rule, by_key in outputs.items():
        task = RULE_TASK[rule]
        seed_keys = [k for k in by_key if k != "ensemble"]
        how = "in-sample" if rule == "sts combined" else f"{CV_FOLDS}-fold cross-validation"
        for k, v in by_key.items():
            recs.append({"rule": rule, "partner": partner if rule == "sts combined" else "", "seed": str(k), "chosen on dev": v["param"],
                         "dev default": v["dev default"], "dev with rule": v["dev rule"], "dev estimate": how,
                         "test default": task_metric(task, v["test default"], v["gold"]),
                         "test with rule": task_metric(task, v["test rule"], v["gold"]), "difference [95% CI]": ""})
        d = paired_difference(_arm(task, by_key, "test rule", seed_keys), _arm(task, by_key, "test default", seed_keys))
        per_seed = pd.DataFrame(recs[-len(by_key):]).iloc[:len(seed_keys)]
        recs.append({"rule": rule, "partner": partner if rule == "sts combined" else "",
                     "seed": f"mean of {len(seed_keys)}", "chosen on dev": "", "dev estimate": how,
                     **{c: per_seed[c].mean() for c in ("dev default", "dev with rule", "test default",
                                                       "test with rule")},
                     "difference [95% CI]": fmt_ci(d["diff"], d["low"], d["high"])})
    df = pd.DataFrame(recs, columns=["rule", "partner", "seed", "chosen on dev", "dev default", "dev with rule",
                                     "dev estimate", "test default", "test with rule", "difference [95% CI]"])
    if len(df):
        mean_row = df["seed"].str.startswith("mean of")  # a rule is adopted or not as a whole, by its seeds' mean
        df["adopted"] = np.where(~mean_row, "", np.where(df["dev with rule"] > df["dev default"], "yes", "no"))
    return df


def adopted_rules(table: pd.DataFrame) -> list[str]:
    """The rules whose cross-validated dev score, averaged over the seeds, beats the default rule's."""
    means = table[table["seed"].str.startswith("mean of")]
    return [r for r, a in zip(means["rule"], means["adopted"]) if a == "yes"]


def targets_rows(name: str, R: ResultSet, partner: str | None, seeds=None, table=None, outputs=None) -> pd.DataFrame:
    """Held-out test scores of `name` with its adopted rules (per task: the rule's test predictions where adopted,
    else the stored score): each seed, and the ensemble. `table`, `outputs`: rules_table's and rule_outputs'
    answers, when already computed."""
    seeds = R.seeds(name) if seeds is None else list(seeds)
    outs = rule_outputs(name, R, partner, seeds) if outputs is None else outputs
    table = rules_table(name, R, partner, seeds, outs) if table is None else table
    if table.empty:
        return pd.DataFrame(columns=["key", "rules", *OVERALL_TASKS, "overall"])
    adopted = adopted_rules(table)
    keys = [*seeds, "ensemble"] if len(seeds) > 1 else list(seeds)
    recs = []
    for k in keys:
        row = {"key": str(k), "rules": ", ".join(adopted)}
        for t in OVERALL_TASKS:
            rule = next((r for r in adopted if RULE_TASK[r] == t), None)
            if rule is not None:
                row[t] = task_metric(t, outs[rule][k]["test rule"], outs[rule][k]["gold"])
            elif k == "ensemble":
                row[t] = ablations.ensemble(name, R, seeds)[t]
            else:
                row[t] = R.result(name, k)["test"][t]
        row["overall"] = overall_of(row)
        recs.append(row)
    return pd.DataFrame(recs, columns=["key", "rules", *OVERALL_TASKS, "overall"])


# -- the best model ---------------------------------------------------------------------------------------

def best_model_rules(R: ResultSet) -> dict:
    """The rules for the best model on dev (ablations.best_model) over its stored seeds:
    {"name", "partner", "table" (rules_table), "targets" (the targets next to the model with and without its
    adopted rules, held-out test), "message" (why a part is empty)}."""
    name = ablations.best_model(R)
    empty = {"name": name, "partner": None, "table": pd.DataFrame(), "targets": pd.DataFrame()}
    if name is None:
        return {**empty, "message": "No beyond-the-paper row is stored for this profile."}
    seeds = R.seeds(name)
    if scores(name, R, seeds[0], "quora", "dev") is None:
        return {**empty, "message": f"The per-example dev outputs of {name} are not stored (they are written by "
                                    f"`python -m mtbert predict {name}`)."}
    candidates = [n for table in BEYOND_TABLES for n in ablations.rows(table)]
    partner = sts_partner(name, R, candidates, seeds)
    outputs = rule_outputs(name, R, partner, seeds)
    table = rules_table(name, R, partner, seeds, outputs)
    rows = targets_rows(name, R, partner, seeds, table, outputs)
    seed_rows = rows[rows["key"] != "ensemble"]
    recs = [{"row": "target (beyond-the-paper work)", "n": "", **{t: f"≥ {v:.2f}" for t, v in ablations.TARGETS.items()}}]
    stored = pd.DataFrame([R.result(name, s)["test"] for s in seeds])
    recs.append({"row": f"{name}, default rules", "n": len(seeds), **{t: ablations._pm(stored[t]) for t in ablations.TASK_KEYS}})
    rules = rows["rules"].iloc[0] or "none adopted"
    recs.append({"row": f"{name}, rules chosen on dev ({rules})", "n": len(seed_rows),
                 **{t: ablations._pm(seed_rows[t]) for t in ablations.TASK_KEYS}})
    ens = rows[rows["key"] == "ensemble"]
    if len(ens):
        recs.append({"row": f"{name}, ensemble of seeds {', '.join(map(str, default_seed_first(seeds)))}, rules "
                            "chosen on dev",
                     "n": len(seeds), **{t: f"{ens.iloc[0][t]:.3f}" for t in ablations.TASK_KEYS}})
    message = "" if partner else (f"No other stored configuration has STS outputs for seeds "
                                  f"{', '.join(map(str, seeds))}, so the STS combination is not tried.")
    return {"name": name, "partner": partner, "table": table,
            "targets": pd.DataFrame(recs, columns=["row", "n", *ablations.TASK_KEYS]), "message": message}


# -- leaderboard files of the system ----------------------------------------------------------------------

def write_rules_predictions(name: str, R: ResultSet, seeds=None) -> dict:
    """The STS leaderboard files (dev and test-student) of `name`'s seeds combined with its STS partner's (chosen
    on dev, `sts_partner`), in predictions/<profile>/<name>__with_rules/ with a manifest RULES.json. Every member's
    score is standardised by its own dev mean and standard deviation, the members averaged, and the average mapped
    to the 0-5 label range by the least-squares line fitted on dev (clipped to 0-5; Pearson's r does not depend on
    the line). Quora has no test-student file in the data mirror, so its threshold has no leaderboard file."""
    S = R.S
    seeds = R.seeds(name) if seeds is None else list(seeds)
    if not seeds:
        raise MtbertError(f"{name} has no stored seed for profile {S.profile}: train it with "
                          f"`python -m mtbert run {name} --profile {S.profile}`")
    for s in seeds:
        if R.result(name, s) is None:
            raise MtbertError(f"seed {s} of {name} is not stored for profile {S.profile}: train it with "
                              f"`python -m mtbert run {name} --profile {S.profile} --seeds {s} --seeds-all`")
    candidates = [n for table in BEYOND_TABLES for n in ablations.rows(table)]
    partner = sts_partner(name, R, candidates, seeds)
    if partner is None:
        raise MtbertError(f"no configuration other than {name} has stored STS dev and test outputs for seeds "
                          f"{', '.join(map(str, seeds))} (profile {S.profile}): train one with "
                          f"`python -m mtbert run NAME --seeds {' '.join(map(str, seeds))} --seeds-all`")
    z = {"dev": [], "test-student": []}
    gold = ids = None
    for n in (name, partner):
        for s in seeds:
            dev, student = scores(n, R, s, "sts", "dev"), scores(n, R, s, "sts", "test-student")
            if student is None:
                raise MtbertError(f"sts-test-student-scores.csv of {n} seed {s} is not stored under "
                                  f"{S.predictions_dir}: write it with `python -m mtbert predict {n} --seeds {s}`")
            if gold is None:
                gold, ids = dev["gold"].to_numpy(float), {"dev": dev["id"], "test-student": student["id"]}
            for split, f in (("dev", dev), ("test-student", student)):
                if not np.array_equal(f["id"].to_numpy(), ids[split].to_numpy()):
                    raise ValueError(f"sts {split}: {n} seed {s} was scored on other examples than {name}")
            mean, sd = dev["score"].mean(), dev["score"].std(ddof=0)
            z["dev"].append((dev["score"].to_numpy(float) - mean) / sd)
            z["test-student"].append((student["score"].to_numpy(float) - mean) / sd)
    combined = {split: np.mean(v, 0) for split, v in z.items()}
    slope, intercept = np.polyfit(combined["dev"], gold, 1)
    lo, hi = 0.0, get_task("sts").scale
    out = S.predictions_dir / f"{name}__with_rules"
    files = []
    for split, stem in (("dev", "sts-dev-output.csv"), ("test-student", "sts-test-output.csv")):
        pred = np.clip(slope * combined[split] + intercept, lo, hi)
        p = out / stem
        store.write_text(p, leaderboard_text("sts", ids[split], pred))
        files.append(store.recorded_path(p, S))
    result = R.result(name, seeds[0])
    manifest = {"rules_of": name, "profile": S.profile, "seeds": seeds, "sts_partner": partner,
                "how": "STS: mean of the standardised scores of every seed of both configurations (each by its "
                       "own dev mean and standard deviation), mapped to 0-5 by the least-squares line fitted on "
                       f"dev (slope {slope:.4f}, intercept {intercept:.4f}), clipped",
                "dev": {"sts": task_metric("sts", combined["dev"], gold)}, "files": files,
                "encoder": result["encoder"], "data": result["data"]["files"],
                "config_hashes": {n: [R.result(n, s)["config_hash"] for s in seeds]
                                  for n in (name, partner)}}
    store.write_json(out / "RULES.json", manifest)
    return manifest
