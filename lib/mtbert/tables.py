"""Results -> pandas DataFrames: every paper table with our number next to the paper's.

Pure functions over stored results (``mtbert.train.load_result``): nothing here trains. A run that has
not been stored gives NaN in the ``ours`` column, which the notebooks' checks turn into a failure.
"""
from __future__ import annotations

import io
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import store
from .data import repo_root
from .experiments import DEFAULT_SEED, PAPER_ROWS, REGISTRY, experiments_for, run_config

# A copy of ../shared/paper/paper_tables.csv, used when that file is not next to the repository.
PAPER_TABLES_CSV = """\
table,section,task,dataset,metric,split,variant,score
1,4.2,sentiment,SST,accuracy,dev,pretrain (frozen encoder),0.399521
1,4.2,sentiment,SST,accuracy,dev,finetune,0.521
1,4.2,sentiment,CFIMDB,accuracy,dev,pretrain (frozen encoder),0.796
1,4.2,sentiment,CFIMDB,accuracy,dev,finetune,0.967
2,4.3,sentiment,SST,accuracy,dev,multitask baseline (trained on SST only),0.527
2,4.3,paraphrase,Quora,accuracy,dev,multitask baseline (trained on SST only),0.393
2,4.3,similarity,STS,pearson,dev,multitask baseline (trained on SST only),0.120
3,5.4,similarity,STS,pearson,dev,baseline,0.120
3,5.4,similarity,STS,pearson,dev,cosine + sigmoid,0.446
3,5.4,similarity,STS,pearson,dev,cosine + sigmoid + train data,0.473
3,5.4,similarity,STS,pearson,dev,cosine + relu + train data,0.532
4,5.4,paraphrase,Quora,accuracy,dev,baseline,0.393
4,5.4,paraphrase,Quora,accuracy,dev,baseline + train data,0.825
4,5.4,paraphrase,Quora,accuracy,dev,baseline + train data + cosine,0.841
5,5.4,sentiment,SST,accuracy,test,submission 1 (no cosine on paraphrase),0.500
5,5.4,paraphrase,Quora,accuracy,test,submission 1 (no cosine on paraphrase),0.824
5,5.4,similarity,STS,pearson,test,submission 1 (no cosine on paraphrase),0.452
5,5.4,overall,all,overall,test,submission 1 (no cosine on paraphrase),0.683
5,5.4,sentiment,SST,accuracy,test,submission 2 (all best settings),0.517
5,5.4,paraphrase,Quora,accuracy,test,submission 2 (all best settings),0.839
5,5.4,similarity,STS,pearson,test,submission 2 (all best settings),0.498
5,5.4,overall,all,overall,test,submission 2 (all best settings),0.702
"""

TABLE_TITLES = {
    "1": "Table 1: base BERT on the sentiment tasks (dev accuracy)",
    "2": "Table 2: multitask baseline fine-tuned on SST only (dev)",
    "3": "Table 3: STS variants (dev Pearson)",
    "4": "Table 4: Quora variants (dev accuracy)",
    "5": "Table 5: the two submissions (held-out test)",
}
# the three "+ train data" experiments of notebook 03 (multitask fine-tuning on all three tasks)
FINETUNE_EXPERIMENTS = ("mt_all_baseline", "mt_all_sts_cos_sigmoid", "mt_all_para_cos")
SUBMISSIONS = ("submission1", "submission2")
METRIC_RANGE = {"accuracy": (0.0, 1.0), "pearson": (-1.0, 1.0), "overall": (0.0, 1.0)}
TASK_METRIC = {"sst": "accuracy", "cfimdb": "accuracy", "quora": "accuracy", "sts": "pearson",
               "overall": "overall", "aggregate": "overall"}


# -- paper ---------------------------------------------------------------------------------------------

def paper_tables_path() -> Path | None:
    p = Path(os.environ.get("MTBERT_PAPER_TABLES", repo_root().parent / "shared" / "paper" / "paper_tables.csv"))
    return p if p.is_file() else None


def paper_tables() -> pd.DataFrame:
    """Every row of the paper's tables (the shared CSV when present, else the copy above)."""
    p = paper_tables_path()
    src = p.read_text() if p else PAPER_TABLES_CSV
    df = pd.read_csv(io.StringIO(src), dtype={"table": str, "section": str})
    return df


def paper_rows(table: str) -> pd.DataFrame:
    df = paper_tables()
    return df[df["table"] == str(table)].reset_index(drop=True)


# -- results -------------------------------------------------------------------------------------------

def _load(name, profile, seed=None, encoder=None, results_root=None):
    from .train import load_result
    enc = None if encoder in (None, "default") else encoder
    return load_result(name, profile, seed=seed, encoder=enc, results_root=results_root)


def stored_seeds(name: str, profile: str, encoder=None, results_root=None) -> list[int]:
    """Seeds with a stored (config-matching) result of `name` in the results dir."""
    d = store.results_dir(profile, results_root)
    seeds = set()
    if d.is_dir():
        for p in d.glob(f"{name}*.json"):
            m = re.fullmatch(re.escape(name) + r"(?:__seed(\d+))?(?:__.*)?\.json", p.name)
            if m:
                seeds.add(int(m.group(1)) if m.group(1) else DEFAULT_SEED)
    return sorted(s for s in seeds if _load(name, profile, s, encoder, results_root) is not None)


def submission_seeds(profile: str, seeds=None, encoder=None, results_root=None) -> list[int]:
    """The seeds given plus every seed both submissions have stored results for."""
    found = set.intersection(*(set(stored_seeds(n, profile, encoder, results_root)) for n in SUBMISSIONS))
    return sorted(set(int(s) for s in (seeds or [DEFAULT_SEED])) | found)


def _value(result, split, key):
    if result is None:
        return float("nan")
    v = result.get(split, {}).get(key)
    return float("nan") if v is None else float(v)


def _rows(table: str, profile: str, seeds=None, encoder=None, results_root=None) -> pd.DataFrame:
    out = []
    for _, row in paper_rows(table).iterrows():
        name, key = PAPER_ROWS[(row["table"], row["dataset"], row["variant"])]
        run_seeds = [DEFAULT_SEED]
        if name in SUBMISSIONS and table == "5":  # the seeds asked for plus every seed stored for this run
            run_seeds = sorted(set(seeds or [DEFAULT_SEED]) | set(stored_seeds(name, profile, encoder, results_root)))
        vals = [_value(_load(name, profile, s, encoder, results_root), row["split"], key) for s in run_seeds]
        got = [v for v in vals if not math.isnan(v)]
        mean = float(np.mean(got)) if got else float("nan")
        std = float(np.std(got, ddof=1)) if len(got) > 1 else float("nan")
        out.append({"table": row["table"], "dataset": row["dataset"], "metric": row["metric"],
                    "split": row["split"], "variant": row["variant"], "experiment": name,
                    "paper": float(row["score"]), "ours": mean, "diff": mean - float(row["score"]),
                    "std": std, "n_seeds": len(got)})
    return pd.DataFrame(out)


def table1(profile: str, encoder=None, results_root=None) -> pd.DataFrame:
    """Table 1: SST / CFIMDB dev accuracy, frozen encoder (pretrain) vs fine-tuned."""
    return _rows("1", profile, None, encoder, results_root).drop(columns=["std", "n_seeds"])


def table2(profile: str, encoder=None, results_root=None) -> pd.DataFrame:
    """Table 2: multitask baseline trained on SST only, dev scores on all three tasks."""
    return _rows("2", profile, None, encoder, results_root).drop(columns=["std", "n_seeds"])


def table3(profile: str, encoder=None, results_root=None) -> pd.DataFrame:
    """Table 3: STS dev Pearson of the four STS variants."""
    return _rows("3", profile, None, encoder, results_root).drop(columns=["std", "n_seeds"])


def table4(profile: str, encoder=None, results_root=None) -> pd.DataFrame:
    """Table 4: Quora dev accuracy of the three paraphrase variants."""
    return _rows("4", profile, None, encoder, results_root).drop(columns=["std", "n_seeds"])


def table5(profile: str, seeds=None, encoder=None, results_root=None) -> pd.DataFrame:
    """Table 5: the submissions on the held-out test split (SST, Quora, STS, overall); mean ± std over
    `seeds` and every other seed stored for that submission (n_seeds says how many)."""
    df = _rows("5", profile, seeds or [DEFAULT_SEED], encoder, results_root)
    df["ours (mean ± std)"] = [_pm(m, s) for m, s in zip(df["ours"], df["std"])]
    return df


def _pm(mean, std) -> str:
    if math.isnan(mean):
        return "missing"
    return f"{mean:.3f}" if math.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def paper_comparison(profile: str, seeds=None, encoder=None, results_root=None) -> pd.DataFrame:
    """EVERY row of paper_tables.csv with our number and the difference (table 5 averaged over seeds)."""
    parts = [table1(profile, encoder, results_root), table2(profile, encoder, results_root),
             table3(profile, encoder, results_root), table4(profile, encoder, results_root),
             table5(profile, seeds, encoder, results_root)]
    df = pd.concat(parts, ignore_index=True)
    cols = ["table", "dataset", "metric", "split", "variant", "experiment", "paper", "ours", "diff", "std",
            "n_seeds"]
    df["n_seeds"] = df["n_seeds"].astype("Int64")  # blank (not NaN) for tables 1-4
    return df[cols]


def finetune_table(profile: str, encoder=None, results_root=None) -> pd.DataFrame:
    """The "+ train data" rows of tables 3 and 4 (notebook 03), next to the paper's numbers."""
    df = pd.concat([table3(profile, encoder, results_root), table4(profile, encoder, results_root)],
                   ignore_index=True)
    return df[df["experiment"].isin(FINETUNE_EXPERIMENTS)].reset_index(drop=True)


def scores_table(names, profile: str, split: str = "dev", seed=None, encoder=None,
                 results_root=None) -> pd.DataFrame:
    """One row per experiment: its `split` scores on every task it evaluates (wide), best epoch, wall time."""
    rows = []
    for n in names:
        r = _load(n, profile, seed, encoder, results_root)
        row = {"experiment": n, "description": REGISTRY[n].description}
        if r is not None:
            row.update({k: v for k, v in r.get(split, {}).items()})
            row.update({"best_epoch": r["best_epoch"], "wall_time_s": r["wall_time_s"]})
        rows.append(row)
    return pd.DataFrame(rows)


def extension_table(profile: str, seeds=None, encoder=None, results_root=None) -> pd.DataFrame:
    """Beyond the paper: submission 2 next to its variants (table "X" of the registry: mean pooling,
    layer-wise learning-rate decay), dev and held-out test (no paper numbers)."""
    rows = []
    variants = [("submission2", "submission 2 ([CLS] pooling, no lr decay)")]
    variants += [(n, REGISTRY[n].description) for n in experiments_for("X")]
    for n, label in variants:
        r = _load(n, profile, None, encoder, results_root)
        for split in ("dev", "test"):
            for key in ("sst", "quora", "sts", "overall"):
                rows.append({"variant": label, "experiment": n, "split": split, "dataset": key,
                             "metric": TASK_METRIC[key], "ours": _value(r, split, key)})
    return pd.DataFrame(rows)


def curves(result: dict) -> pd.DataFrame:
    """Long per-epoch history: epoch, task, kind (train|dev), metric, loss (train rows only)."""
    rows = []
    for h in result.get("history", []):
        for kind in ("train", "dev"):
            for task, v in h.get(kind, {}).items():
                if task in ("overall", "aggregate"):
                    continue
                loss = h.get("train_loss", {}).get(task) if kind == "train" else None
                rows.append({"epoch": h["epoch"], "task": task, "kind": kind, "metric": float(v),
                             "loss": float("nan") if loss is None else float(loss)})
    return pd.DataFrame(rows, columns=["epoch", "task", "kind", "metric", "loss"])


def runs_table(profile: str, seeds=None, encoder=None, results_root=None) -> pd.DataFrame:
    """Every run of the profile (submissions once per seed): device, epochs, best epoch, wall time."""
    rows = []
    for n in REGISTRY:
        for s in (submission_seeds(profile, seeds, encoder, results_root) if n in SUBMISSIONS else [DEFAULT_SEED]):
            r = _load(n, profile, s, encoder, results_root)
            env = (r or {}).get("environment", {})
            rows.append({"run_id": r["run_id"] if r else n, "experiment": n, "seed": s,
                         "tables": ",".join(REGISTRY[n].tables),
                         "device": env.get("gpu") or env.get("device", "-"),
                         "epochs": r["config"]["epochs"] if r else None,
                         "best_epoch": r["best_epoch"] if r else None,
                         "wall_time_s": r["wall_time_s"] if r else float("nan"),
                         "stored": r is not None})
    return pd.DataFrame(rows)


# -- checks and output ----------------------------------------------------------------------------------

def check_table(df: pd.DataFrame, table: str) -> None:
    """Assert `df` has every row of paper table `table` with an in-range number of ours."""
    want = paper_rows(table)
    have = set(zip(df["dataset"], df["variant"]))
    missing = [(d, v) for d, v in zip(want["dataset"], want["variant"]) if (d, v) not in have]
    assert not missing, f"table {table} is missing rows: {missing}"
    for _, r in df.iterrows():
        lo, hi = METRIC_RANGE[r["metric"]]
        assert lo <= r["ours"] <= hi, f"table {table}, {r['dataset']} / {r['variant']}: ours = {r['ours']} " \
                                      f"is not in [{lo}, {hi}] (missing result?)"


def output_root() -> Path:
    """Where tables and figures go: $MTBERT_REPORT_DIR when set (tests, CI), else the repository."""
    d = os.environ.get("MTBERT_REPORT_DIR")
    return Path(d) if d else repo_root() / "report"


def tables_dir() -> Path:
    return output_root() / "tables"


def _markdown(df: pd.DataFrame) -> str:
    try:
        import tabulate  # noqa: F401
        return df.to_markdown(index=False)
    except ImportError:
        def cell(v):
            if v is pd.NA:
                return ""
            if isinstance(v, float):
                return "" if math.isnan(v) else f"{v:.3f}"
            return str(v).replace("|", "\\|")
        lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
        lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
        return "\n".join(lines)


def save_table(df: pd.DataFrame, name: str, out_dir=None) -> dict:
    """Write <tables dir>/<name>.csv and .md; returns the two paths."""
    d = Path(out_dir) if out_dir else tables_dir()
    d.mkdir(parents=True, exist_ok=True)
    csv_p, md_p = d / f"{name}.csv", d / f"{name}.md"
    df.to_csv(csv_p, index=False)
    md_p.write_text(_markdown(df) + "\n")
    return {"csv": csv_p, "md": md_p}


def show(df: pd.DataFrame, digits: int = 3):
    """For display in notebooks: floats to `digits` places, NaN as '-', no index column."""
    return df.style.format(precision=digits, na_rep="-").hide(axis="index")
