"""Figures of the report, each saved as PNG and SVG under figures/<profile>/ (see mtbert.settings).

Every function returns (fig, data) where `data` is the DataFrame that was plotted, so notebooks can check
it; the figure stays open so the notebook's inline backend shows it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import store
from .settings import Settings
from .tables import curves as curves_df

import matplotlib.pyplot as plt

TASK_LABEL = {"sst": "SST (accuracy)", "quora": "Quora (accuracy)", "sts": "STS (Pearson r)",
              "cfimdb": "CFIMDB (accuracy)"}


def figure_paths(name: str, S: Settings) -> dict:
    return {"png": S.figures_dir / f"{name}.png", "svg": S.figures_dir / f"{name}.svg"}


def save_figure(fig, name: str, S: Settings) -> dict:
    """Write figures/<profile>/<name>.png and .svg; returns the paths."""
    paths = figure_paths(name, S)
    paths["png"].parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(paths["png"], dpi=120, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(paths["svg"], bbox_inches="tight", metadata={"Date": None})
    return paths


def training_curves(result: dict, S: Settings, name: str | None = None):
    """Train and dev metric per epoch for each task (top row) and the training loss (bottom row), as in
    paper §6. Saved as curves_<run_id>."""
    df = curves_df(result)
    tasks = list(dict.fromkeys(df["task"]))
    fig, axes = plt.subplots(2, len(tasks), figsize=(4.2 * len(tasks), 6.2), squeeze=False)
    for j, t in enumerate(tasks):
        ax = axes[0, j]
        for kind, style in (("train", "-o"), ("dev", "--s")):
            d = df[(df.task == t) & (df.kind == kind)]
            ax.plot(d["epoch"], d["metric"], style, label=kind)
        ax.axvline(result.get("best_epoch", 0), color="grey", lw=0.8, ls=":")
        ax.set_title(TASK_LABEL.get(t, t))
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
        d = df[(df.task == t) & (df.kind == "train")]
        axes[1, j].plot(d["epoch"], d["loss"], "-o", color="C3")
        axes[1, j].set_title(f"{t} training loss")
        axes[1, j].set_xlabel("epoch")
        epochs = sorted(df["epoch"].unique())
        for ax in axes[:, j]:
            ax.set_xticks(epochs if len(epochs) <= 12 else epochs[::max(1, len(epochs) // 10)])
            if len(epochs) == 1:
                ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
    fig.suptitle(f"Training curves: {result['run_id']} ({result['profile']} profile; dotted line = best epoch)")
    fig.tight_layout()
    save_figure(fig, name or f"curves_{result['run_id']}", S)
    return fig, df


def _scores(result: dict, task: str, S: Settings) -> pd.DataFrame:
    p = result.get("predictions", {}).get(task, {}).get("dev_scores")
    if not p:
        raise FileNotFoundError(f"{result['run_id']} has no dev scores for {task} (predictions not written)")
    return pd.read_csv(store.stored_file(p, S))


def error_analysis(result: dict, S: Settings, name: str | None = None, bins=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0)):
    """Three dev-set panels: SST confusion matrix, Quora accuracy by confidence bin, STS predicted vs gold.
    Saved as errors_<run_id>. Returns (fig, {"sst": confusion, "quora": by_bin, "sts": scatter})."""
    sst, quora, sts = _scores(result, "sst", S), _scores(result, "quora", S), _scores(result, "sts", S)
    conf = pd.crosstab(pd.Categorical(sst["gold"], categories=range(5)),
                       pd.Categorical(sst["pred"], categories=range(5)), dropna=False)
    conf.index.name, conf.columns.name = "gold", "pred"
    p = 1 / (1 + np.exp(-quora["score"].to_numpy()))
    q = pd.DataFrame({"confidence": np.maximum(p, 1 - p), "correct": quora["gold"] == quora["pred"]})
    q["bin"] = pd.cut(q["confidence"], bins=list(bins), include_lowest=True)
    by_bin = q.groupby("bin", observed=False).agg(accuracy=("correct", "mean"), n=("correct", "size")).reset_index()
    by_bin["bin"] = by_bin["bin"].astype(str)

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    ax = axes[0]
    im = ax.imshow(conf.to_numpy(), cmap="Blues")
    for (i, j), v in np.ndenumerate(conf.to_numpy()):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=9,
                color="white" if v > conf.to_numpy().max() / 2 else "black")
    ax.set_xticks(range(5)), ax.set_yticks(range(5))
    ax.set_xlabel("predicted label"), ax.set_ylabel("gold label")
    ax.set_title(f"SST dev confusion (acc {np.mean(sst.gold == sst.pred):.3f})")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax = axes[1]
    ax.bar(range(len(by_bin)), by_bin["accuracy"].fillna(0), color="C0")
    for i, (a, n) in enumerate(zip(by_bin["accuracy"], by_bin["n"])):
        ax.text(i, (0 if np.isnan(a) else a) + 0.02, f"n={n}", ha="center", fontsize=8)
    ax.set_xticks(range(len(by_bin)), by_bin["bin"], rotation=20, fontsize=8)
    ax.set_ylim(0, 1.1), ax.set_xlabel("confidence max(p, 1-p)"), ax.set_ylabel("accuracy")
    ax.set_title("Quora dev accuracy by confidence")
    ax = axes[2]
    ax.scatter(sts["gold"], sts["pred"], s=10, alpha=0.5)
    ax.plot([0, 5], [0, 5], color="grey", lw=0.8, ls="--")
    r = np.corrcoef(sts["gold"], sts["pred"])[0, 1] if sts["pred"].std() > 0 else float("nan")
    ax.set_xlabel("gold similarity"), ax.set_ylabel("predicted similarity")
    ax.set_title(f"STS dev predicted vs gold (r = {r:.3f})")
    fig.suptitle(f"Error analysis: {result['run_id']} ({result['profile']} profile, dev set)")
    fig.tight_layout()
    save_figure(fig, name or f"errors_{result['run_id']}", S)
    return fig, {"sst": conf, "quora": by_bin, "sts": sts}


def ours_vs_paper(df: pd.DataFrame, name: str, S: Settings, title: str | None = None):
    """Horizontal bars: paper vs ours for each row of a comparison table (error bars = std over seeds)."""
    labels = [f"T{t} {d}: {v}" for t, d, v in zip(df["table"], df["dataset"], df["variant"])]
    y = np.arange(len(df))
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(df) + 1.4))
    ax.barh(y - 0.2, df["paper"], height=0.4, label="paper", color="C7")
    err = df["std"].fillna(0).to_numpy() if "std" in df else None
    ax.barh(y + 0.2, df["ours"].fillna(0), height=0.4, xerr=err, label="ours", color="C0")
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("score (accuracy, Pearson r or overall)")
    ax.set_title(title or name)
    ax.legend(loc="lower right")
    fig.tight_layout()
    save_figure(fig, name, S)
    return fig, df


def scores_bars(df: pd.DataFrame, name: str, S: Settings, title: str | None = None,
                keys=("sst", "quora", "sts", "overall")):
    """Grouped bars: one group per experiment (row of a scores_table), one bar per task key."""
    keys = [k for k in keys if k in df]
    x = np.arange(len(df))
    w = 0.8 / max(len(keys), 1)
    fig, ax = plt.subplots(figsize=(max(6, 2.2 * len(df)), 4))
    for i, k in enumerate(keys):
        ax.bar(x + (i - (len(keys) - 1) / 2) * w, df[k].fillna(0), width=w, label=k)
    ax.set_xticks(x, df["experiment"], fontsize=8)
    ax.set_ylabel("dev score")
    ax.set_title(title or name)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, name, S)
    return fig, df
