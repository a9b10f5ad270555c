"""Figures of the report (seaborn), each saved as PNG and SVG under figures/<profile>/ (see mtbert.settings).

Every function returns (fig, data) where `data` is the DataFrame that was plotted, so notebooks can check it.
In a notebook the figure is shown once, as a PNG with alternative text (the report's HTML keeps it).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from mtbert.core.probability import sigmoid
from mtbert.core.tasks import TASKS, get_task
from mtbert.results.result_set import ResultSet
from mtbert.settings import Settings
from mtbert.analysis.tables import curves as curves_df

import matplotlib.pyplot as plt

PALETTE = {"paper": "0.6", "ours": "C0"}


def task_label(key: str) -> str:
    """"SST (accuracy)", "STS (Pearson r)" (from the task spec), "overall score"."""
    if key == "overall":
        return "overall score"
    spec = get_task(key)
    return f"{spec.display} ({spec.metric_name})"


def _metric_label(key: str) -> str:
    return "score" if key == "overall" else get_task(key).metric_name


def figure_paths(name: str, S: Settings) -> dict:
    return {"png": S.figures_dir / f"{name}.png", "svg": S.figures_dir / f"{name}.svg"}


def save_figure(fig, name: str, S: Settings, alt: str = "") -> dict:
    """Write figures/<profile>/<name>.png and .svg; in a notebook, show it once with `alt` as its text."""
    paths = figure_paths(name, S)
    paths["png"].parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(paths["png"], dpi=120, bbox_inches="tight", metadata={"Software": None})
    with plt.rc_context({"svg.hashsalt": name}):  # stable ids: re-rendering the same data gives the same file
        fig.savefig(paths["svg"], bbox_inches="tight", metadata={"Date": None})
    _show(fig, paths["png"], alt or name)
    return paths


def _show(fig, png, alt: str) -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    if get_ipython() is None:
        return
    from IPython.display import Image, display
    display(Image(filename=str(png), metadata={"alt": alt}))
    plt.close(fig)


def _legend_outside(ax, title=None):
    ax.legend(title=title, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def _long_curves(results, label: str | None = None) -> pd.DataFrame:
    parts = []
    for r in results:
        d = curves_df(r)
        d["seed"] = r.get("seed")
        d["run"] = label or r["experiment"]
        parts.append(d)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def training_curves(results, S: Settings, name: str | None = None):
    """Train and dev metric per epoch for each task (top row) and the training loss (bottom row), as in paper
    §6; with several seeds, the line is their mean and the band one standard deviation. Saved as
    curves_<experiment>."""
    results = [results] if isinstance(results, dict) else list(results)
    df = _long_curves(results)
    tasks = list(dict.fromkeys(df["task"]))
    exp = results[0]["experiment"]
    fig, axes = plt.subplots(2, len(tasks), figsize=(4.4 * len(tasks), 6.6), squeeze=False)
    for j, t in enumerate(tasks):
        d = df[df.task == t]
        ax = axes[0, j]
        sns.lineplot(d, x="epoch", y="metric", hue="kind", style="kind", markers=True, errorbar="sd", ax=ax,
                     hue_order=["train", "dev"], style_order=["train", "dev"])
        for r in results[:1]:
            ax.axvline(r.get("best_epoch", 0), color="grey", lw=0.8, ls=":")
        ax.set_title(task_label(t))
        ax.set_ylabel(_metric_label(t))
        _legend_outside(ax) if j == len(tasks) - 1 else ax.get_legend().remove()
        ax = axes[1, j]
        sns.lineplot(d[d.kind == "train"], x="epoch", y="loss", marker="o", errorbar="sd", color="C3", ax=ax)
        ax.set_title(f"{t} training loss")
        ax.set_ylabel(get_task(t).loss_label)
        for a in axes[:, j]:
            epochs = sorted(df["epoch"].unique())
            a.set_xticks(epochs if len(epochs) <= 12 else epochs[::max(1, len(epochs) // 10)])
            if len(epochs) == 1:
                a.set_xlim(epochs[0] - 1, epochs[0] + 1)
    n = len(results)
    fig.suptitle(f"Training curves: {exp} ({results[0]['profile']} profile; "
                 f"{n} seed{'s' if n > 1 else ''}{', band = ±1 sd' if n > 1 else ''}; dotted = best epoch)")
    fig.tight_layout()
    save_figure(fig, name or f"curves_{exp}", S,
                alt=f"Training and dev metric and training loss per epoch for {exp}, per task")
    return fig, df


def curves_overlay(groups: dict, S: Settings, name: str = "curves_submissions", kind: str = "dev"):
    """§6's comparison: the dev curve of each task for several experiments on one axis (mean over seeds, band
    ±1 sd). `groups` maps a label to a list of results."""
    df = pd.concat([_long_curves(rs, label) for label, rs in groups.items()], ignore_index=True)
    df = df[df.kind == kind]
    tasks = list(dict.fromkeys(df["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.6 * len(tasks), 3.8), squeeze=False)
    for j, t in enumerate(tasks):
        ax = axes[0, j]
        sns.lineplot(df[df.task == t], x="epoch", y="metric", hue="run", style="run", markers=True, errorbar="sd",
                     ax=ax)
        ax.set_title(task_label(t))
        ax.set_ylabel(f"{kind} " + _metric_label(t))
        _legend_outside(ax) if j == len(tasks) - 1 else ax.get_legend().remove()
    fig.suptitle(f"{kind.capitalize()} curves per task, overlaid ({S.profile} profile; band = ±1 sd over seeds)")
    fig.tight_layout()
    save_figure(fig, name, S, alt=f"{kind} metric per epoch per task for " + " and ".join(groups))
    return fig, df


def _scores(result: dict, task: str, R: ResultSet, split: str = "dev") -> pd.DataFrame:
    p = result.get("predictions", {}).get(task, {}).get(f"{split}_scores")
    d = R.recorded_frame(p) if p else None
    if d is None:
        raise FileNotFoundError(f"{result['run_id']} has no {split} outputs for {task} (predictions not written)")
    return d


def error_analysis(result: dict, R: ResultSet, name: str | None = None, bins=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0)):
    """One dev-set panel per evaluated task, by its spec's head kind: a classifier's confusion matrix (heatmap), a
    binary task's accuracy by the model's confidence, a regression's predictions vs gold (submissions: SST, Quora,
    STS). Saved as errors_<run_id>. Returns (fig, {task: confusion | by_bin | scatter})."""
    tasks = list(result["config"]["eval_tasks"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(16 * len(tasks) / 3, 4.6), squeeze=False)
    data, described = {}, []
    for ax, t in zip(axes[0], tasks):
        spec, d = get_task(t), _scores(result, t, R)
        if spec.head == "classifier":
            data[t] = _confusion_panel(ax, spec, d)
            described.append(f"{spec.display} confusion matrix")
        elif spec.head == "binary":
            data[t] = _confidence_panel(ax, spec, d, bins)
            described.append(f"{spec.display} accuracy by confidence")
        else:
            data[t] = _scatter_panel(ax, spec, d)
            described.append(f"{spec.display} predictions vs gold")
    fig.suptitle(f"Error analysis: {result['run_id']} ({result['profile']} profile, dev set)")
    fig.tight_layout()
    what = described[0] if len(described) == 1 else ", ".join(described[:-1]) + " and " + described[-1]
    save_figure(fig, name or f"errors_{result['run_id']}", R.S, alt=f"{what}, {result['run_id']}")
    return fig, data


def _confusion_panel(ax, spec, d: pd.DataFrame) -> pd.DataFrame:
    classes = range(int(spec.label_range[0]), int(spec.label_range[1]) + 1)
    conf = pd.crosstab(pd.Categorical(d["gold"], categories=classes),
                       pd.Categorical(d["pred"], categories=classes), dropna=False)
    conf.index.name, conf.columns.name = "gold label", "predicted label"
    sns.heatmap(conf, annot=True, fmt="d", cmap="Blues", cbar_kws={"label": "examples"}, ax=ax)
    ax.set_title(f"{spec.display} dev confusion (accuracy {np.mean(d.gold == d.pred):.3f})")
    return conf


def _confidence_panel(ax, spec, d: pd.DataFrame, bins) -> pd.DataFrame:
    p = sigmoid(d["score"].to_numpy())
    q = pd.DataFrame({"confidence": np.maximum(p, 1 - p), "correct": d["gold"] == d["pred"]})
    q["bin"] = pd.cut(q["confidence"], bins=list(bins), include_lowest=True)
    by_bin = q.groupby("bin", observed=False).agg(accuracy=("correct", "mean"), n=("correct", "size")).reset_index()
    by_bin["bin"] = by_bin["bin"].astype(str)
    sns.barplot(by_bin, x="bin", y="accuracy", color="C0", ax=ax)
    for i, (a, n) in enumerate(zip(by_bin["accuracy"], by_bin["n"])):
        ax.text(i, (0 if np.isnan(a) else a) + 0.02, f"n={n}", ha="center", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("model confidence max(p, 1 - p)")
    ax.set_ylabel("accuracy")
    ax.tick_params(axis="x", rotation=20)
    ax.set_title(f"{spec.display} dev accuracy by confidence")
    return by_bin


def _scatter_panel(ax, spec, d: pd.DataFrame) -> pd.DataFrame:
    lo, hi = spec.label_range
    sns.scatterplot(d, x="gold", y="pred", s=12, alpha=0.5, ax=ax)
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
    r = np.corrcoef(d["gold"], d["pred"])[0, 1] if d["pred"].std() > 0 else float("nan")
    ax.set_xlabel(f"gold {spec.label_name or 'label'} ({lo:g}-{hi:g})")
    ax.set_ylabel(f"predicted {spec.label_name or 'label'} ({lo:g}-{hi:g})")
    ax.set_title(f"{spec.display} dev predicted vs gold (r = {r:.3f})")
    return d


def ours_vs_paper(df: pd.DataFrame, name: str, S: Settings, title: str | None = None):
    """Horizontal bars: paper vs ours for each row of a comparison table (error bars: our 95% interval when the
    table has one, else ±1 sd over seeds). The legend sits outside the bars."""
    labels = [f"T{t} {d}: {v}" for t, d, v in zip(df["table"], df["dataset"], df["variant"])]
    y = np.arange(len(df))
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(df) + 1.6))
    ax.barh(y - 0.2, df["paper"], height=0.4, label="paper", color=PALETTE["paper"])
    ours = df["ours"].fillna(0).to_numpy()
    if {"ci_low", "ci_high"} <= set(df):
        err = np.vstack([ours - df["ci_low"].fillna(df["ours"]).to_numpy(),
                         df["ci_high"].fillna(df["ours"]).to_numpy() - ours]).clip(min=0)
        err_label = "ours (95% CI)"
    else:
        err = df["std"].fillna(0).to_numpy() if "std" in df else None
        err_label = "ours (± sd)"
    ax.barh(y + 0.2, ours, height=0.4, xerr=err, label=err_label, color=PALETTE["ours"], capsize=2)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("score (accuracy, Pearson r or overall score)")
    ax.set_title(title or name)
    _legend_outside(ax)
    fig.tight_layout()
    save_figure(fig, name, S, alt=f"{title or name}: the paper's number and ours for each row")
    return fig, df


def scores_bars(df: pd.DataFrame, name: str, S: Settings, title: str | None = None,
                keys=None):
    """Grouped bars: one group per experiment (row of a scores_table), one bar per task key (default: every
    registered task in the table, then the overall score); legend outside."""
    keys = [k for k in (keys if keys is not None else (*TASKS, "overall")) if k in df]
    long = df.melt(id_vars=["experiment"], value_vars=keys, var_name="task", value_name="score")
    fig, ax = plt.subplots(figsize=(max(7, 2.4 * len(df)), 4))
    sns.barplot(long, x="experiment", y="score", hue="task", ax=ax)
    ax.set_ylabel("dev score (accuracy, Pearson r, overall)")
    ax.set_xlabel("")
    ax.set_title(title or name)
    _legend_outside(ax, "task")
    fig.tight_layout()
    save_figure(fig, name, S, alt=f"{title or name}: dev score per task for each experiment")
    return fig, long
