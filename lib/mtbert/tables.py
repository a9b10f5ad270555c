"""Results -> pandas DataFrames: every paper table with our number next to the paper's.

Pure functions over the results store (``mtbert.store``): nothing here trains. A run that has not been
stored gives NaN in the ``ours`` column, which the notebooks' checks turn into a failure. The paper's numbers
are read from ``paper_tables.csv`` beside this module (a copy of ``shared/paper/paper_tables.csv``).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from . import store
from .experiments import FINETUNE_EXPERIMENTS, PAPER_ROWS, REGISTRY, SUBMISSIONS, experiments_for
from .settings import DEFAULT_SEED, Settings

PAPER_TABLES = Path(__file__).with_name("paper_tables.csv")

TABLE_TITLES = {
    "1": "Table 1: base BERT on the sentiment tasks (dev accuracy)",
    "2": "Table 2: multitask baseline fine-tuned on SST only (dev)",
    "3": "Table 3: STS variants (dev Pearson)",
    "4": "Table 4: Quora variants (dev accuracy)",
    "5": "Table 5: the two submissions (held-out test)",
}
METRIC_RANGE = {"accuracy": (0.0, 1.0), "pearson": (-1.0, 1.0), "overall": (0.0, 1.0)}
TASK_METRIC = {"sst": "accuracy", "cfimdb": "accuracy", "quora": "accuracy", "sts": "pearson",
               "overall": "overall", "aggregate": "overall"}


# -- paper ---------------------------------------------------------------------------------------------

def paper_tables() -> pd.DataFrame:
    """Every row of the paper's tables."""
    return pd.read_csv(PAPER_TABLES, dtype={"table": str, "section": str})


def paper_rows(table: str) -> pd.DataFrame:
    df = paper_tables()
    return df[df["table"] == str(table)].reset_index(drop=True)


# -- results -------------------------------------------------------------------------------------------

def submission_seeds(S: Settings) -> list[int]:
    """The seeds of the settings plus every seed both submissions have stored results for."""
    found = set.intersection(*(set(store.stored_seeds(n, S)) for n in SUBMISSIONS))
    return sorted(set(S.seeds) | found)


def _value(result, split, key):
    if result is None:
        return float("nan")
    v = result.get(split, {}).get(key)
    return float("nan") if v is None else float(v)


def paper_table(table: str, S: Settings) -> pd.DataFrame:
    """One paper table ("1".."5"): each paper row with our number, the difference, and, over seeds, the std
    and the number of seeds (table 5: the settings' seeds plus every seed stored for the submission; other
    tables: the default seed)."""
    table = str(table)
    out = []
    for _, row in paper_rows(table).iterrows():
        name, key = PAPER_ROWS[(row["table"], row["dataset"], row["variant"])]
        run_seeds = [DEFAULT_SEED]
        if name in SUBMISSIONS and table == "5":
            run_seeds = sorted(set(S.seeds) | set(store.stored_seeds(name, S)))
        vals = [_value(store.load_result(name, S, s), row["split"], key) for s in run_seeds]
        got = [v for v in vals if not math.isnan(v)]
        mean = float(np.mean(got)) if got else float("nan")
        std = float(np.std(got, ddof=1)) if len(got) > 1 else float("nan")
        out.append({"table": row["table"], "dataset": row["dataset"], "metric": row["metric"],
                    "split": row["split"], "variant": row["variant"], "experiment": name,
                    "paper": float(row["score"]), "ours": mean, "diff": mean - float(row["score"]),
                    "std": std, "n_seeds": len(got)})
    df = pd.DataFrame(out)
    if table == "5":
        df["ours (mean ± std)"] = [_pm(m, s) for m, s in zip(df["ours"], df["std"])]
        return df
    return df.drop(columns=["std", "n_seeds"])


def _pm(mean, std) -> str:
    if math.isnan(mean):
        return "missing"
    return f"{mean:.3f}" if math.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def paper_comparison(S: Settings) -> pd.DataFrame:
    """EVERY row of paper_tables.csv with our number and the difference (table 5 averaged over seeds)."""
    df = pd.concat([paper_table(t, S) for t in "12345"], ignore_index=True)
    cols = ["table", "dataset", "metric", "split", "variant", "experiment", "paper", "ours", "diff", "std",
            "n_seeds"]
    df["n_seeds"] = df["n_seeds"].astype("Int64")  # blank (not NaN) for tables 1-4
    return df[cols]


def finetune_table(S: Settings) -> pd.DataFrame:
    """The "+ train data" rows of tables 3 and 4 (notebook 03), next to the paper's numbers."""
    df = pd.concat([paper_table("3", S), paper_table("4", S)], ignore_index=True)
    return df[df["experiment"].isin(FINETUNE_EXPERIMENTS)].reset_index(drop=True)


def scores_table(names, S: Settings, split: str = "dev", seed=None) -> pd.DataFrame:
    """One row per experiment: its `split` scores on every task it evaluates (wide), best epoch, wall time."""
    rows = []
    for n in names:
        r = store.load_result(n, S, seed)
        row = {"experiment": n, "description": REGISTRY[n].description}
        if r is not None:
            row.update({k: v for k, v in r.get(split, {}).items() if k != "aggregate"})
            row.update({"best_epoch": r["best_epoch"], "wall_time_s": r["wall_time_s"]})
        rows.append(row)
    return pd.DataFrame(rows)


def extension_table(S: Settings) -> pd.DataFrame:
    """Beyond the paper: submission 2 next to its variants (table "X" of the registry: mean pooling,
    layer-wise learning-rate decay), dev and held-out test (no paper numbers)."""
    rows = []
    variants = [("submission2", "submission 2 ([CLS] pooling, no lr decay)")]
    variants += [(n, REGISTRY[n].description) for n in experiments_for("X")]
    for n, label in variants:
        r = store.load_result(n, S)
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


def runs_table(S: Settings) -> pd.DataFrame:
    """Every run of the profile (submissions once per seed): device, epochs, best epoch, wall time."""
    rows = []
    for n in REGISTRY:
        for s in (submission_seeds(S) if n in SUBMISSIONS else [DEFAULT_SEED]):
            r = store.load_result(n, S, s)
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


def save_table(df: pd.DataFrame, name: str, S: Settings) -> dict:
    """Write report/<profile>/tables/<name>.csv and .md (atomically); returns the two paths."""
    csv_p, md_p = S.tables_dir / f"{name}.csv", S.tables_dir / f"{name}.md"
    store.write_text(csv_p, df.to_csv(index=False))
    store.write_text(md_p, _markdown(df) + "\n")
    return {"csv": csv_p, "md": md_p}


def show(df: pd.DataFrame, digits: int = 3):
    """For display in notebooks: floats to `digits` places, NaN as '-', no index column."""
    return df.style.format(precision=digits, na_rep="-").hide(axis="index")
