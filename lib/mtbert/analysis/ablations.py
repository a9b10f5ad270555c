"""Beyond the paper: the table-B rows against the paper's recipe, a seed ensemble, and the search.

* `beyond_table(R)`: submission 2 (the paper's recipe), each one-change row of table B, the row with all
  changes, and -- where the per-example test outputs of at least two seeds are stored -- the ensemble of a
  configuration's seeds; per task (held-out test) mean ± std over the stored seeds, and n.
* `beyond_table_with_missing(R)`, `differences_table_with_missing(R)`: the table, and the rows left out of it
  because they are not stored (tables.MissingRun: the command that trains each, and its hardware).
* `beyond_figure(R)`: the same numbers as a seaborn point plot (one dot per seed, mean ± std, ensemble marked).
* `ensemble(name, R)`: averages the seeds' held-out test outputs of one configuration (SST class
  probabilities, Quora probabilities, STS scores) and scores the average.
* `search_table(R)`: the stored points of the CPU-scale search (mtbert.training.search) with their dev scores;
  `search_figures(R)`: Optuna's figures of its study (history, parameter importances, parallel coordinates).

Per-example held-out test outputs are read from predictions/<profile>/<run_id>/<prefix>-test-scores.csv, the
format of the *-dev-scores.csv files that training writes (mtbert.results.predictions): columns id, gold, pred, and `logit_0..k` (SST:
class logits) or `score` (Quora: the paraphrase logit; STS: the similarity in [0, 1], prediction 5 * score).
<prefix> is mtbert.results.predictions.PREFIX's (sst, para, sts); a file named after the task (quora-test-scores.csv) is also read.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from mtbert.analysis import stats as st
from mtbert.analysis.claims import Claim, evaluate, paired_overall_difference
from mtbert.core.metrics import overall_of, task_metric
from mtbert.analysis.tables import MissingRun, missing_runs, paper_tables
from mtbert.core.tasks import CFIMDB, OVERALL_TASKS, get_task
from mtbert.errors import MtbertError
from mtbert.inference.ensemble import average_seeds
from mtbert.results.result_set import ResultSet
from mtbert.settings import default_seed_first
from mtbert.core.experiments import BEST_MODEL_SEEDS, BEYOND_TABLES, REGISTRY, epochs_suffix, experiments_for, run_config
from mtbert.results.predictions import PREFIX
from mtbert.training.search import grid, point_id, stored_point

PAPER_RECIPE = "submission2"
BEST_ROWS_PREFIX = "beyond_best"  # the combined rows sort last
TASK_KEYS = (*OVERALL_TASKS, "overall")


class MissingTestScores(MtbertError):
    pass


# -- ensemble -------------------------------------------------------------------------------------------

def ensemble(name: str, R: ResultSet, seeds=None, tasks=OVERALL_TASKS) -> dict:
    """Held-out test metrics of the average of `name`'s seeds (default: every stored seed with test outputs).

    Returns {"sst": acc, "quora": acc, "sts": r, "overall": ..., "seeds": [...], "n": rows per task}."""
    seeds = R.seeds(name) if seeds is None else list(seeds)
    frames = {t: [] for t in tasks}
    used = []
    for s in seeds:
        found = {t: R.outputs(name, s, t) for t in tasks}
        if any(f is None for f in found.values()):
            continue
        used.append(s)
        for t, f in found.items():
            frames[t].append(f)
    if not used:
        raise MissingTestScores(f"no stored per-example test outputs of {name} (seeds {seeds}) under "
                                f"{R.S.predictions_dir}")
    out = {"seeds": used, "n": {}}
    for t in tasks:
        c = average_seeds(t, frames[t])
        out[t] = task_metric(t, c["pred"], c["gold"])
        out["n"][t] = len(c)
    if all(t in out for t in OVERALL_TASKS):
        out["overall"] = overall_of(out)
    return out


# -- table and figure -----------------------------------------------------------------------------------

def recipe(table: str = "B") -> str:
    """The paper's recipe a table compares against: submission 2, or its n-epoch twin for table B<n>."""
    return PAPER_RECIPE + epochs_suffix(table)


def rows(table: str = "B") -> list[str]:
    """The configurations compared: the paper's recipe, each one-change row, then the all-changes rows
    (table "B": the profile's epochs; "B1", "B2": one, two epochs)."""
    if table not in BEYOND_TABLES:
        raise ValueError(f"unknown beyond-the-paper table {table!r}; valid: {', '.join(BEYOND_TABLES)}")
    b = [n for n in experiments_for(table) if n != recipe(table)]
    return [recipe(table)] + [n for n in b if not n.startswith(BEST_ROWS_PREFIX)] + [n for n in b if n.startswith(BEST_ROWS_PREFIX)]


def long_scores(R: ResultSet, split: str = "test", with_ensemble: bool = True, table: str = "B") -> pd.DataFrame:
    """One row per (configuration, seed, task) with the stored score; ensembles (seed = 'ensemble') of the
    configurations whose test outputs of two or more seeds are stored."""
    recs = []
    for name in rows(table):
        seeds = R.seeds(name)
        for s in seeds:
            r = R.result(name, s)
            for t in TASK_KEYS:
                if t in r.get(split, {}):
                    recs.append({"configuration": name, "seed": str(s), "task": t, "score": r[split][t]})
        if with_ensemble and split == "test" and len(seeds) >= 2:
            try:
                e = ensemble(name, R, seeds)
            except MissingTestScores:
                continue
            if len(e["seeds"]) >= 2:
                recs += [{"configuration": name, "seed": "ensemble", "task": t, "score": e[t]}
                         for t in TASK_KEYS if t in e]
    return pd.DataFrame(recs, columns=["configuration", "seed", "task", "score"])


def _pm(v: pd.Series) -> str:
    if len(v) == 0:
        return ""
    std = v.std(ddof=1) if len(v) > 1 else math.nan
    return f"{v.mean():.3f}" if math.isnan(std) else f"{v.mean():.3f} ± {std:.3f}"


def beyond_table(R: ResultSet, split: str = "test", table: str = "B") -> pd.DataFrame:
    """Per stored configuration (and its ensemble): each task's mean ± std over stored seeds, and n seeds; the
    configurations not stored are left out (beyond_table_with_missing names them)."""
    df = long_scores(R, split, table=table)
    out = []
    for name in rows(table):
        for kind in ("seeds", "ensemble"):
            d = df[(df["configuration"] == name) & ((df["seed"] == "ensemble") == (kind == "ensemble"))]
            if d.empty:
                continue
            row = {"configuration": name + (" (ensemble)" if kind == "ensemble" else ""),
                   "n": int(d["seed"].nunique()) if kind == "seeds" else
                   len(ensemble(name, R)["seeds"])}
            for t in TASK_KEYS:
                row[t] = _pm(d[d["task"] == t]["score"])
            out.append(row)
    return pd.DataFrame(out, columns=["configuration", "n", *TASK_KEYS])


def dev_curves(R: ResultSet, table: str = "B2") -> pd.DataFrame:
    """Each stored run of a table, epoch by epoch: its dev scores, seconds (training + dev evaluation), the CPU
    threads it trained on (blank for runs stored before epochs recorded them), and the epoch whose checkpoint the
    run kept (its best_epoch); what says whether more epochs would help."""
    recs = []
    for name in rows(table):
        for s in default_seed_first(R.seeds(name)):
            r = R.result(name, s)
            for h in r["history"]:
                recs.append({"configuration": name, "seed": s, "epoch": h["epoch"],
                             **{f"dev {t}": h["dev"][t] for t in TASK_KEYS if t in h["dev"]},
                             "epoch s (train + dev)": round(h["seconds"]),
                             "threads": h.get("threads", pd.NA), "kept": "best" if h["epoch"] == r["best_epoch"] else ""})
    return pd.DataFrame(recs, columns=["configuration", "seed", "epoch", *(f"dev {t}" for t in TASK_KEYS),
                                       "epoch s (train + dev)", "threads", "kept"])


def table_seeds(R: ResultSet, table: str = "B") -> list[int]:
    """The seeds a missing row of `table` is asked for: the settings' seeds and those of the table's paper recipe,
    so that the row compares with the recipe seed for seed."""
    return default_seed_first(set(R.S.seeds) | set(R.seeds(recipe(table))))


def beyond_table_with_missing(R: ResultSet, split: str = "test", table: str = "B") -> tuple[pd.DataFrame, list[MissingRun]]:
    """beyond_table, and its rows that are not stored, each with the command that trains it and its hardware."""
    return beyond_table(R, split, table), missing_runs(rows(table), R, table_seeds(R, table))


def differences_table_with_missing(R: ResultSet, table: str = "B1", split: str = "test") -> tuple[pd.DataFrame, list[MissingRun]]:
    """differences_table, and the rows it cannot compare because they (or the paper recipe) are not stored."""
    return differences_table(R, table, split), missing_runs(rows(table), R, table_seeds(R, table))


def beyond_figure(R: ResultSet, split: str = "test", path=None, table: str = "B"):
    """Seaborn point plot, one panel per task: a dot per seed, the mean ± std, the ensemble as a star."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    df = long_scores(R, split, table=table)
    order = rows(table)
    fig, axes = plt.subplots(1, len(TASK_KEYS), figsize=(4 * len(TASK_KEYS), 0.35 * len(order) + 1.5),
                             sharey=True)
    for ax, t in zip(axes, TASK_KEYS):
        d = df[df["task"] == t]
        seeds, ens = d[d["seed"] != "ensemble"], d[d["seed"] == "ensemble"]
        if not seeds.empty:
            sns.stripplot(data=seeds, x="score", y="configuration", order=order, ax=ax, color="0.6", size=4, jitter=False)
            sns.pointplot(data=seeds, x="score", y="configuration", order=order, ax=ax, errorbar="sd",
                          linestyle="none", color="C0", markers="D")
        if not ens.empty:
            ax.scatter(ens["score"], [order.index(c) for c in ens["configuration"]], marker="*", s=120,
                       color="C3", zorder=5)
        ref = seeds[seeds["configuration"] == order[0]]["score"]
        if not ref.empty:  # the paper's recipe, as a reference line through every row
            ax.axvline(ref.mean(), color="0.4", linestyle="--", linewidth=0.8, zorder=0)
        ax.set_title(f"{t} ({split})")
        ax.set_xlabel("score" if t == "overall" else get_task(t).metric_name)
        ax.grid(axis="x", alpha=0.3)
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], marker="o", color="0.6", linestyle="none", markersize=4, label="one seed"),
               Line2D([], [], marker="D", color="C0", label="mean ± sd over seeds"),
               Line2D([], [], marker="*", color="C3", linestyle="none", markersize=11, label="ensemble of the seeds"),
               Line2D([], [], color="0.4", linestyle="--", linewidth=0.8, label=f"{order[0]} (the paper's recipe)")]
    fig.tight_layout()
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False)  # outside the data
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight", metadata={"Software": None})
    return fig


def search_table(R: ResultSet) -> pd.DataFrame:
    """The stored points of the CPU-scale search: their fields, dev (and held-out test) scores, wall time."""
    out = []
    for p in grid():
        r = stored_point(p, R.S)
        if r is None:
            continue
        steps = sum(h["steps"] for h in r["history"])
        train_s = sum(h["seconds"] for h in r["history"])
        out.append({"point": point_id(p), **{f"dev {t}": r["dev"][t] for t in TASK_KEYS},
                    **{f"test {t}": r["test"][t] for t in TASK_KEYS}, "steps": steps,
                    "epoch s (train + dev)": train_s, "wall s": r["wall_time_s"]})
    return pd.DataFrame(out)


def search_study(R: ResultSet):
    """The stored points of the search's factorial grid as an in-memory Optuna study (one completed trial per
    results/search/<point>.json), for the figures: it neither reads nor writes the SQLite study of a running
    search, and it is the same for everyone who has the JSON files."""
    import optuna
    from mtbert.training import search as X
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", study_name="recipe (stored points)")
    X.import_stored(study, R.S, X.scale_for())
    return study


def _ties_by_name():
    import optuna

    class TiesByName(optuna.importance.PedAnovaImportanceEvaluator):
        """PED-ANOVA with equal importances ordered by name: optuna lists parameters in set order, which differs
        from one process to the next, so tied bars swapped places at each render."""
        def evaluate(self, study, params=None, *, target=None):
            res = super().evaluate(study, params=params, target=target)
            return dict(sorted(res.items(), key=lambda kv: (-round(kv[1], 12), kv[0])))
    return TiesByName()


def search_figures(R: ResultSet, study=None) -> dict:
    """Optuna's matplotlib figures of the search: optimisation history, parameter importances (PED-ANOVA) and
    parallel coordinates; {name: figure}. With too few trials (or all values equal) importances are undefined:
    that panel then says so instead of failing."""
    import warnings
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm
    study = search_study(R) if study is None else study
    n = len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE])
    figs = {}
    # optuna's plots switch matplotlib to its own style; rc_context keeps that to these figures
    with warnings.catch_warnings(), plt.rc_context():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)  # e.g. one trial: a parallel axis with equal limits
        if n == 0:
            fig, ax = plt.subplots(figsize=(6, 2))
            ax.axis("off")
            ax.text(0.5, 0.5, "no stored point of the search yet", ha="center", va="center")
            return {"search_history": fig}
        figs["search_history"] = ovm.plot_optimization_history(study, target_name="dev overall").figure
        try:
            ax = ovm.plot_param_importances(study, evaluator=_ties_by_name(), target_name="dev overall")
        except (RuntimeError, ValueError, ZeroDivisionError) as e:
            fig, ax = plt.subplots(figsize=(6, 2))
            ax.axis("off")
            ax.text(0.5, 0.5, f"parameter importances undefined with {n} trial(s) ({type(e).__name__})",
                    ha="center", va="center", wrap=True)
        figs["search_importances"] = ax.figure
        figs["search_parallel"] = ovm.plot_parallel_coordinate(study, target_name="dev overall").figure
        for fig in figs.values():
            fig.set_size_inches(8, 4.5)
            fig.tight_layout()
    return figs


# -- against the targets ------------------------------------------------------------------------------------

# The targets for the best model (held-out test split, mean of BEST_MODEL_SEEDS seeds, default rules, full data,
# chosen on dev): SST at the paper's bert-base, the other tasks where the best model stands, the overall score past
# it (the numbers behind them: the report's targets table).
TARGETS = {"sst": 0.52, "quora": 0.83, "sts": 0.84, "overall": 0.76}


def ensembles(R: ResultSet) -> dict:
    """{configuration: ENSEMBLE.json} of the seed ensembles written by `python -m mtbert predict --ensemble`."""
    return R.ensembles()




def best_configuration(R: ResultSet, tables=BEYOND_TABLES, seeds_needed: int = 1) -> str | None:
    """The stored beyond-the-paper row (of `tables`: B, B1, B2 by default) with the highest mean dev overall score;
    selected on dev, never on the held-out test split. With `seeds_needed`, only the rows with at least that many
    stored seeds compete, as long as one has them: the maximum of noisy means favours the rows with fewest seeds."""
    devs = {name: [R.result(name, s)["dev"]["overall"] for s in R.seeds(name)]
            for table in tables for name in rows(table)[1:]}
    devs = {name: d for name, d in devs.items() if d}
    if any(len(d) >= seeds_needed for d in devs.values()):
        devs = {name: d for name, d in devs.items() if len(d) >= seeds_needed}
    return max(devs, key=lambda name: np.mean(devs[name]), default=None)


def best_model(R: ResultSet) -> str | None:
    """The best model: the best configuration on dev of all tables among those with BEST_MODEL_SEEDS seeds."""
    return best_configuration(R, seeds_needed=BEST_MODEL_SEEDS)


def targets_table(R: ResultSet) -> pd.DataFrame:
    """The paper's bert-base test scores (submission 2, leaderboard test), the targets set for the
    beyond-the-paper work, then per table (B, B1, B2) the paper's recipe as we ran it and the table's best row
    (selected on dev), with its seed ensemble where stored; the best of all is marked "best on dev". Held-out
    test, per task."""
    pt = paper_tables()
    pt = pt[(pt["table"].astype(str) == "5") & pt["variant"].str.startswith("submission 2")]
    key = {**{get_task(t).display: t for t in OVERALL_TASKS}, "all": "overall"}
    recs = [{"row": "paper, submission 2 (bert-base, leaderboard test)", "n": "",
             **{key[d]: f"{v:.3f}" for d, v in zip(pt["dataset"], pt["score"])}},
            {"row": "target (beyond-the-paper work)", "n": "", **{t: f"≥ {v:.2f}" for t, v in TARGETS.items()}}]
    best = best_model(R)
    listed = []  # (name, label): per table (the profile's epochs, then B1, B2), its recipe and its best row on dev
    for table in BEYOND_TABLES:
        listed.append((recipe(table), "paper recipe, ours"))
        top = best_configuration(R, (table,))
        if top is not None:
            listed.append((top, "best on dev" if top == best else f"best of table {table} on dev"))
        if best != top and best in rows(table):  # a row with fewer seeds leads the table on dev
            listed.append((best, f"best on dev with {BEST_MODEL_SEEDS} seeds"))
    ens_all = ensembles(R)
    for name, what in listed:
        seeds = R.seeds(name)
        if not seeds:
            continue
        results = [R.result(name, s) for s in seeds]
        tests = pd.DataFrame([r["test"] for r in results])
        ep = results[0]["config"]["epochs"]
        recs.append({"row": f"{name} ({what}, {ep} epoch{'s' * (ep > 1)})", "n": len(seeds),
                     **{t: _pm(tests[t]) for t in TASK_KEYS if t in tests}})
        ens = ens_all.get(name) if what.startswith("best") else None
        if ens is not None:
            recs.append({"row": f"{name}, ensemble of seeds {', '.join(map(str, ens['seeds']))}",
                         "n": len(ens["seeds"]), **{t: f"{ens['test'][t]:.3f}" for t in TASK_KEYS}})
    return pd.DataFrame(recs, columns=["row", "n", *TASK_KEYS])


def cfimdb_transfer_table(R: ResultSet) -> pd.DataFrame:
    """CFIMDB predicted by the SST head of the ensembled runs (no CFIMDB training) against the paper's
    CFIMDB fine-tuning (t1_cfimdb_finetune), held-out test and dev accuracy."""
    recs = []
    t = CFIMDB.name
    r = R.result(f"t1_{t}_finetune")
    if r is not None:
        recs.append({"model": f"t1_{t}_finetune (trained on CFIMDB)", "dev": r["dev"][t], "test": r["test"][t]})
    for name, m in ensembles(R).items():
        if t in m["test"]:
            recs.append({"model": f"{name}, SST head, ensemble of {len(m['seeds'])} seeds (no CFIMDB training)",
                         "dev": m["dev"][t], "test": m["test"][t]})
    return pd.DataFrame(recs, columns=["model", "dev", "test"])


def differences_table(R: ResultSet, table: str = "B1", split: str = "test") -> pd.DataFrame:
    """Each stored row of a table against the table's paper recipe, per task: the difference with its 95%
    interval, p and verdict, computed as the claims of the paper are (claims.evaluate: paired bootstrap and
    permutation test over the same examples where per-example outputs are stored, the overall score with its
    three tasks resampled independently)."""
    base = recipe(table)
    if not R.seeds(base):
        return pd.DataFrame(columns=["configuration", "task", "n", "ours", "difference [95% CI]", "p", "verdict"])
    recs = []
    for name in rows(table)[1:]:
        if not R.seeds(name):
            continue
        for t in TASK_KEYS:
            c = Claim(f"{name}:{t}", f"table {table}", f"{name} beats {base}", "better", t, split, name, base)
            r = evaluate(c, R)
            recs.append({"configuration": name, "task": r["task"], "n": r["seeds"], "ours": r["ours"],
                         "difference [95% CI]": r["difference [95% CI]"], "p": r["p"], "verdict": r["verdict"],
                         "method": r["method"]})
    return pd.DataFrame(recs)


def differences_wide(df: pd.DataFrame) -> pd.DataFrame:
    """differences_table as one row per configuration: each task's difference [95% CI], marked + (better than
    the paper recipe), - (worse) or ~ (cannot be decided)."""
    if df.empty:
        return df
    mark = {"holds": "+", "does not hold": "-"}
    d = df.assign(cell=[f"{v} {mark.get(k, '~')}" for v, k in zip(df["difference [95% CI]"], df["verdict"])])
    w = d.pivot(index="configuration", columns="task", values="cell")
    order = list(dict.fromkeys(df["configuration"]))
    return w.loc[order, [c for c in ("SST", "Quora", "STS", "overall") if c in w.columns]].reset_index()


# -- SST phrases: each phrase row against its twin trained on the sentences ----------------------------------

PHRASE_KNOBS = ("sst_train_units", "sst_phrase_budget", "sst_phrase_min_words", "sst_phrase_stage")


def phrase_rows() -> list[str]:
    """Every experiment that trains SST on the treebank's phrases, every epoch or in a phrase stage before the
    others (tables P, B, B1, B2), in registry order."""
    return [n for n, e in REGISTRY.items()
            if dict(e.beyond).get("sst_train_units") == "phrases" or dict(e.beyond).get("sst_phrase_stage", 0) > 0]


def _config_key(name: str, profile: str) -> str:
    """A run config as text, without its experiment name and the SST phrase knobs."""
    d = run_config(name, profile).to_dict()
    return json.dumps({k: v for k, v in d.items() if k not in ("experiment", *PHRASE_KNOBS)}, sort_keys=True,
                      default=str)


def sentence_twins(profile: str) -> dict[str, str | None]:
    """{phrase row: the first experiment whose configuration is the row's with SST trained on its sentences, or
    None}, every configuration resolved once."""
    phrases = phrase_rows()
    by_config: dict[str, str] = {}
    for n in REGISTRY:
        if n not in phrases:
            by_config.setdefault(_config_key(n, profile), n)
    return {n: by_config.get(_config_key(n, profile)) for n in phrases}


def sentence_twin(name: str, profile: str) -> str | None:
    """The experiment whose configuration is `name`'s with SST trained on its sentences (None if there is none)."""
    return sentence_twins(profile).get(name)


def phrase_pairs(R: ResultSet) -> list[tuple[str, str]]:
    """(sentence twin, phrase row) of every phrase row that has a twin."""
    return [(twin, n) for n, twin in sentence_twins(R.S.profile).items() if twin is not None]


def phrase_table(R: ResultSet, split: str = "test") -> pd.DataFrame:
    """Each stored phrase row and its sentence twin: what SST trained on, seeds, each task's mean ± std."""
    out = []
    for pair in phrase_pairs(R):
        for name in pair:
            seeds = R.seeds(name)
            if not seeds:
                continue
            rs = [R.result(name, s) for s in seeds]
            row = {"configuration": name, "SST trained on": _sst_trained_on(rs[0]["data"]), "n": len(seeds)}
            for t in TASK_KEYS:
                row[t] = _pm(pd.Series([r[split][t] for r in rs if t in r[split]], dtype=float))
            out.append(row)
    return pd.DataFrame(list({r["configuration"]: r for r in out}.values()),
                        columns=["configuration", "SST trained on", "n", *TASK_KEYS])


def _sst_trained_on(data: dict) -> str:
    """What SST trained on, from a result's data record: sentences, phrases (how many per epoch), a phrase stage."""
    units = data.get("train_units", {}).get("sst")
    trained = "sentences" if units is None else (
        f"{units['phrases']:,} phrases of {units['rows']:,} rows: "
        + ("all every epoch" if units["budget"] is None else
           f"per epoch its {units['sentences']:,} sentences + {units['sentences'] * units['budget']:,.0f} others"))
    stage = data.get("phrase_stage", {}).get("sst")
    if stage is None:
        return trained
    epochs = f"{stage['epochs']} epoch{'s' * (stage['epochs'] > 1)}"
    return f"first {epochs} of SST alone on all {stage['phrases']:,} phrases of {stage['rows']:,} rows, then {trained}"


def phrase_differences_table(R: ResultSet, split: str = "test") -> pd.DataFrame:
    """Each stored phrase row against its sentence twin, per task it evaluates: the difference with its 95%
    interval, p and verdict (claims.evaluate: paired over the same examples and seeds where outputs are stored)."""
    recs = []
    for twin, name in phrase_pairs(R):
        if not (R.seeds(name) and R.seeds(twin)):
            continue
        tasks = [t for t in OVERALL_TASKS if t in run_config(name, R.S.profile).eval_tasks]
        for t in tasks + (["overall"] if len(tasks) == len(OVERALL_TASKS) else []):
            c = Claim(f"{name}:{t}", "SST phrases", f"{name} beats {twin}", "better", t, split, name, twin)
            r = evaluate(c, R)
            recs.append({"configuration": name, "against": twin, "task": r["task"], "n": r["seeds"],
                         "ours": r["ours"], "difference [95% CI]": r["difference [95% CI]"], "p": r["p"],
                         "verdict": r["verdict"], "method": r["method"]})
    return pd.DataFrame(recs)


def phrase_table_with_missing(R: ResultSet, split: str = "test") -> tuple[pd.DataFrame, list[MissingRun]]:
    """phrase_table, and the phrase rows and twins not stored, each with the command that trains it."""
    names = [n for pair in phrase_pairs(R) for n in pair]
    return phrase_table(R, split), missing_runs(names, R, default_seed_first(set(R.S.seeds)))


# -- the phrase budget screened at CPU scale (scripts/screen_phrases.sh) -------------------------------------

SCREEN_REFERENCE = "sentences"
SCREEN_FOLDER = "screen_phrases"  # <store>/results/screen_phrases/<point>.json


def screen_points(R: ResultSet) -> dict[str, dict]:
    """{point: stored result} of the phrase screen (<store>/results/screen_phrases/<point>.json) trained in the
    settings' profile, the sentence reference first."""
    found = {k: r for k, r in R.folder_records(SCREEN_FOLDER).items() if r.get("profile") == R.S.profile}
    return dict(sorted(found.items(), key=lambda kv: kv[0] != SCREEN_REFERENCE))


def _screen_arm(R: ResultSet, point: str, task: str, split: str):
    f = R.folder_frame(SCREEN_FOLDER, point, f"{PREFIX[task]}-{split}-scores.csv")
    return st.arm_from_frames(task, {0: f}) if f is not None else None


def phrase_screen_table(R: ResultSet, split: str = "dev") -> pd.DataFrame:
    """Each point of the phrase screen: what SST trained on, steps and wall time, the `split` score per task, and
    each task's and the overall score's paired difference from the sentence reference [95% CI] on the same
    examples (dev chooses; test is recorded)."""
    points = screen_points(R)
    ref = {t: _screen_arm(R, SCREEN_REFERENCE, t, split) for t in OVERALL_TASKS} if SCREEN_REFERENCE in points else {}
    recs = []
    for point, r in points.items():
        units = r["data"].get("train_units", {}).get("sst")
        row = {"point": point, "SST examples per epoch": _examples_per_epoch(r, units),
               "steps": sum(h["steps"] for h in r["history"]), "wall s": round(r["wall_time_s"])}
        arms = {t: _screen_arm(R, point, t, split) for t in OVERALL_TASKS}
        for t in TASK_KEYS:
            row[t] = f"{r[split][t]:.3f}"
        if point != SCREEN_REFERENCE and ref and all(a is not None for a in [*arms.values(), *ref.values()]):
            for t in OVERALL_TASKS:
                d = st.paired_difference(arms[t], ref[t])
                row[f"{t} vs sentences"] = st.fmt_ci(d["diff"], d["low"], d["high"])
            d = paired_overall_difference(arms, ref, point)
            row["overall vs sentences"] = st.fmt_ci(d["diff"], d["low"], d["high"])
        recs.append(row)
    return pd.DataFrame(recs)


def _examples_per_epoch(r: dict, units: dict | None) -> str:
    rows = r["data"]["sizes"]["train"]["sst"]
    if units is None:
        return f"{rows:,} sentences"
    if units["budget"] is None:
        return f"all {units['phrases']:,} phrases"
    extra = min(units["phrases"] - units["sentences"], round(units["budget"] * units["sentences"]))
    return f"{units['sentences']:,} sentences + {extra:,} phrases (of {units['phrases']:,})"
