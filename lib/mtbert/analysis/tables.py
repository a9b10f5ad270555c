"""Results -> pandas DataFrames: every paper table with our number next to the paper's.

Pure functions of one loaded set of results (``mtbert.results.result_set.ResultSet``): nothing here trains or
opens the store. A table holds stored runs
only: a row whose run is not stored is left out (never a blank row with n = 0), and `missing_runs` names it, with
the command that trains it and the hardware it needs, for a line below the table (`missing_markdown`). The
paper's numbers are read from ``paper_tables.csv`` beside this module (a copy of ``shared/paper/paper_tables.csv``).
"""
from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd

from mtbert.analysis.claims import metric_interval
from mtbert.core.tasks import OVERALL_TASKS, get_task
from mtbert.core.atomic import write_text
from mtbert.results.result_set import MissingRun, ResultSet  # noqa: F401 (MissingRun: the tables' missing rows)
from mtbert.core.experiments import (CORE, FINETUNE_EXPERIMENTS, PAPER_ROWS, REGISTRY, SUBMISSIONS,
                                         experiments_for)
from mtbert.settings import DEFAULT_SEED, Settings

PAPER_TABLES = Path(__file__).with_name("paper_tables.csv")

TABLE_TITLES = {
    "1": "Table 1: base BERT on the sentiment tasks (dev accuracy)",
    "2": "Table 2: multitask baseline fine-tuned on SST only (dev)",
    "3": "Table 3: STS variants (dev Pearson)",
    "4": "Table 4: Quora variants (dev accuracy)",
    "5": "Table 5: the two submissions (held-out test)",
}
METRIC_RANGE = {"accuracy": (0.0, 1.0), "pearson": (-1.0, 1.0), "overall": (0.0, 1.0)}
SCORE_KEYS = ("overall", "aggregate")  # the scores of a result that are not one task's metric


def metric_of(key: str) -> str:
    """The metric of a score key of a result: its task spec's ("accuracy" | "pearson"), or "overall"."""
    return "overall" if key in SCORE_KEYS else get_task(key).metric


# -- paper ---------------------------------------------------------------------------------------------

def paper_tables() -> pd.DataFrame:
    """Every row of the paper's tables."""
    return pd.read_csv(PAPER_TABLES, dtype={"table": str, "section": str})


def paper_rows(table: str) -> pd.DataFrame:
    df = paper_tables()
    return df[df["table"] == str(table)].reset_index(drop=True)


# -- results -------------------------------------------------------------------------------------------

def missing_runs(names, R: ResultSet, seeds=None) -> list[MissingRun]:
    """The runs among `names` with no stored seed, each with the command that trains it (ResultSet.missing)."""
    return R.missing(names, seeds)


def missing_markdown(missing: list[MissingRun]) -> str:
    """The lines below a table that name its rows not stored yet ("" when there are none)."""
    if not missing:
        return ""
    rows = "row is" if len(missing) == 1 else "rows are"
    return (f"{len(missing)} {rows} not stored yet, so not in the table; each trains with:\n\n"
            + "\n".join(m.markdown() for m in missing))


def submission_seeds(R: ResultSet) -> list[int]:
    """The seeds of the settings plus every seed both submissions have stored results for."""
    found = set.intersection(*(set(R.seeds(n)) for n in SUBMISSIONS))
    return sorted(set(R.S.seeds) | found)


def _value(result, split, key):
    if result is None:
        return float("nan")
    v = result.get(split, {}).get(key)
    return float("nan") if v is None else float(v)


def paper_table(table: str, R: ResultSet, intervals: bool = True) -> pd.DataFrame:
    """One paper table ("1".."5"): each paper row whose run is stored, with our number (the mean over every stored
    seed of the experiment, and the settings' seeds for the submissions), its standard deviation over seeds and the
    number of seeds, the difference to the paper, and (intervals=True) a 95% interval of our number
    (mtbert.analysis.claims)."""
    table = str(table)
    out = []
    for _, row in paper_rows(table).iterrows():
        name, key = PAPER_ROWS[(row["table"], row["dataset"], row["variant"])]
        run_seeds = sorted({DEFAULT_SEED} | set(R.seeds(name))
                           | (set(R.S.seeds) if name in SUBMISSIONS else set()))
        vals = [_value(R.result(name, s), row["split"], key) for s in run_seeds]
        got = [v for v in vals if not math.isnan(v)]
        if not got:
            continue  # not stored: named by paper_table_with_missing
        mean = float(np.mean(got)) if got else float("nan")
        std = float(np.std(got, ddof=1)) if len(got) > 1 else float("nan")
        rec = {"table": row["table"], "dataset": row["dataset"], "metric": row["metric"],
               "split": row["split"], "variant": row["variant"], "experiment": name,
               "paper": float(row["score"]), "ours": mean, "diff": mean - float(row["score"]),
               "std": std, "n_seeds": len(got), "ours (mean ± std, n)": _pm(mean, std, len(got))}
        if intervals:
            ci = metric_interval(name, key, row["split"], R)
            rec.update({"ci_low": ci.get("low", float("nan")), "ci_high": ci.get("high", float("nan")),
                        "95% CI": f"[{ci['low']:.3f}, {ci['high']:.3f}]", "CI method": ci.get("method", "-")})
        out.append(rec)
    return pd.DataFrame(out, columns=PAPER_TABLE_COLUMNS + (INTERVAL_COLUMNS if intervals else []))


PAPER_TABLE_COLUMNS = ["table", "dataset", "metric", "split", "variant", "experiment", "paper", "ours", "diff", "std",
                       "n_seeds", "ours (mean ± std, n)"]
INTERVAL_COLUMNS = ["ci_low", "ci_high", "95% CI", "CI method"]


def paper_table_with_missing(table: str, R: ResultSet, intervals: bool = True) -> tuple[pd.DataFrame, list[MissingRun]]:
    """paper_table, and the experiments of its rows that are not stored (MissingRun)."""
    names = [PAPER_ROWS[(r["table"], r["dataset"], r["variant"])][0] for _, r in paper_rows(table).iterrows()]
    return paper_table(table, R, intervals), missing_runs(names, R)


SHOW_COLUMNS = ["dataset", "split", "variant", "paper", "ours (mean ± std, n)", "95% CI", "diff"]


def _pm(mean, std, n) -> str:
    """'0.485 ± 0.012 (n=3)'; a single seed says so: '0.485 (1 seed)'."""
    if math.isnan(mean):
        return "missing"
    return f"{mean:.3f} (1 seed)" if n == 1 or math.isnan(std) else f"{mean:.3f} ± {std:.3f} (n={n})"


def paper_comparison(R: ResultSet) -> pd.DataFrame:
    """EVERY row of paper_tables.csv with our number, its interval, and the difference."""
    df = pd.concat([paper_table(t, R) for t in "12345"], ignore_index=True)
    cols = ["table", "dataset", "metric", "split", "variant", "experiment", "paper", "ours", "diff", "std",
            "n_seeds", "ci_low", "ci_high", "CI method"]
    return df[cols]


def finetune_table(R: ResultSet) -> pd.DataFrame:
    """The "+ train data" rows of tables 3 and 4 (notebook 03), next to the paper's numbers."""
    df = pd.concat([paper_table("3", R), paper_table("4", R)], ignore_index=True)
    return df[df["experiment"].isin(FINETUNE_EXPERIMENTS)].reset_index(drop=True)


def seeds_of(name: str, R: ResultSet) -> list[int]:
    """Every seed an experiment has (or should have) a result for: the default seed, every stored seed, and the
    settings' seeds for the submissions (the default seed first)."""
    others = set(R.seeds(name)) | (set(R.S.seeds) if name in SUBMISSIONS else set())
    return [DEFAULT_SEED] + sorted(others - {DEFAULT_SEED})  # the default seed first


def scores_table(names, R: ResultSet, split: str = "dev") -> pd.DataFrame:
    """One row per stored experiment: its `split` scores on every task it evaluates (mean over stored seeds; the std
    over seeds in `<task> sd`), the number of seeds, and the mean training wall time."""
    rows = []
    for n in names:
        rs = [r for s in seeds_of(n, R) if (r := R.result(n, s)) is not None]
        if not rs:
            continue  # not stored: see missing_runs
        row = {"experiment": n, "description": REGISTRY[n].description, "n_seeds": len(rs)}
        for k in rs[0].get(split, {}):
            if k == "aggregate":
                continue
            v = [float(r[split][k]) for r in rs]
            row[k] = float(np.mean(v))
            row[f"{k} sd"] = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
        row["wall_time_s"] = float(np.mean([r["wall_time_s"] for r in rs]))
        rows.append(row)
    return pd.DataFrame(rows)


def extension_table(R: ResultSet) -> pd.DataFrame:
    """Beyond the paper: submission 2 next to its variants (table "X" of the registry: mean pooling,
    layer-wise learning-rate decay), dev and held-out test (no paper numbers)."""
    rows = []
    variants = [("submission2", "submission 2 ([CLS] pooling, no lr decay)")]
    variants += [(n, REGISTRY[n].description) for n in experiments_for("X")]
    for n, label in variants:
        rs = [r for s in seeds_of(n, R) if (r := R.result(n, s)) is not None]
        if not rs:
            continue  # not stored: see missing_runs
        for split in ("dev", "test"):
            for key in (*OVERALL_TASKS, "overall"):
                v = [_value(r, split, key) for r in rs]
                m = float(np.mean(v)) if v else float("nan")
                sd = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
                rows.append({"variant": label, "experiment": n, "split": split, "dataset": key,
                             "metric": metric_of(key), "ours": m, "std": sd, "n_seeds": len(v),
                             "ours (mean ± std, n)": _pm(m, sd, len(v))})
    return pd.DataFrame(rows)


def curves(result: dict) -> pd.DataFrame:
    """Long per-epoch history: epoch, task, kind (train|dev), metric, loss (train rows only)."""
    rows = []
    for h in result.get("history", []):
        for kind in ("train", "dev"):
            for task, v in h.get(kind, {}).items():
                if task in SCORE_KEYS:
                    continue
                loss = h.get("train_loss", {}).get(task) if kind == "train" else None
                rows.append({"epoch": h["epoch"], "task": task, "kind": kind, "metric": float(v),
                             "loss": float("nan") if loss is None else float(loss)})
    return pd.DataFrame(rows, columns=["epoch", "task", "kind", "metric", "loss"])


def runs_table(R: ResultSet) -> pd.DataFrame:
    """Every stored run of the profile (one row per seed): device, epochs, best epoch, wall time."""
    rows = []
    for n in REGISTRY:
        for s in seeds_of(n, R):
            r = R.result(n, s)
            if r is None:
                continue  # not stored: see runs_table_with_missing
            env = r.get("environment", {})
            rows.append({"run_id": r["run_id"], "experiment": n, "seed": s, "tables": ",".join(REGISTRY[n].tables),
                         "device": env.get("gpu") or env.get("device", "-"), "epochs": r["config"]["epochs"],
                         "best_epoch": r["best_epoch"], "wall_time_s": r["wall_time_s"]})
    return pd.DataFrame(rows, columns=["run_id", "experiment", "seed", "tables", "device", "epochs", "best_epoch",
                                       "wall_time_s"])


def runs_table_with_missing(R: ResultSet) -> tuple[pd.DataFrame, list[MissingRun]]:
    """runs_table, and the experiments the report trains (the paper's and the X rows) that are not stored."""
    return runs_table(R), missing_runs(CORE, R)


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


def _inert(v):
    """A table cell or header with HTML made inert (`&`, `<`, `>` escaped): a Markdown table is rendered into
    the HTML report, and strings in it may come from a result."""
    return html.escape(v, quote=False) if isinstance(v, str) else v


def markdown_table(df: pd.DataFrame) -> str:
    df = df.rename(columns=_inert).map(_inert)
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
    write_text(csv_p, df.to_csv(index=False))
    write_text(md_p, markdown_table(df) + "\n")
    return {"csv": csv_p, "md": md_p}


# Column names of the tables (and their CSV files) as a reader sees them in a notebook or the report.
HEADERS = {"n_seeds": "seeds", "std": "sd", "ci_low": "95% CI low", "ci_high": "95% CI high",
           "wall_time_s": "wall time (s)", "best_epoch": "best epoch", "run_id": "run", "n_examples": "examples"}


def show(df: pd.DataFrame, digits: int = 3):
    """For display in notebooks: headers in words (HEADERS), floats to `digits` places, NaN as '-', no index."""
    return (df.rename(columns=HEADERS).style.format(precision=digits, na_rep="-", escape="html")
            .format_index(escape="html", axis=1).hide(axis="index"))


def show_with_missing(df: pd.DataFrame, missing: list[MissingRun], empty: str = "No row of this table is stored for "
                      "this profile.") -> None:
    """Display a table of stored rows (or `empty` when it has none), then one line per row not stored."""
    from IPython.display import Markdown, display
    display(show(df) if len(df) else Markdown(empty))
    if missing:
        display(Markdown(missing_markdown(missing)))


def table_view(df: pd.DataFrame) -> pd.DataFrame:
    """The columns a reader needs of a paper table: the row, the paper, ours (mean ± std, n), 95% CI, diff."""
    return df[[c for c in SHOW_COLUMNS if c in df]]
