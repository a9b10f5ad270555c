"""Task metrics and the CS224N overall score; which metric a task uses is its spec's (mtbert.core.tasks)."""
from __future__ import annotations

import numpy as np

from mtbert.core.tasks import OVERALL_TASKS, TASKS, get_task


def accuracy(pred, gold) -> float:
    pred, gold = np.asarray(pred), np.asarray(gold)
    return float((pred == gold).mean()) if len(gold) else float("nan")


def pearson(pred, gold) -> float:
    """Pearson's r; 0.0 when either side is constant (r is undefined there, and no skill was shown)."""
    pred, gold = np.asarray(pred, dtype=np.float64), np.asarray(gold, dtype=np.float64)
    if len(gold) < 2 or pred.std() == 0 or gold.std() == 0:
        return 0.0
    return float(np.corrcoef(pred, gold)[0, 1])


def task_metric(task: str, pred, gold) -> float:
    """The task's metric (its spec's): Pearson's r of the predicted scores, or the accuracy of the predicted
    classes (gold read back from a CSV as floats is compared as class ids)."""
    if get_task(task).metric == "pearson":
        return pearson(pred, gold)
    gold = np.asarray(gold)
    return accuracy(pred, gold.astype(int) if gold.dtype.kind == "f" else gold)


def overall_score(sst_acc: float, quora_acc: float, sts_pearson: float) -> float:
    """The leaderboard's overall score: STS's r in [-1, 1] is first mapped to [0, 1]."""
    return overall_of(dict(zip(OVERALL_TASKS, (sst_acc, quora_acc, sts_pearson))))


def overall_of(metrics: dict) -> float:
    """The overall score of {task: metric} over OVERALL_TASKS, each mapped to [0, 1] by its spec."""
    return sum(get_task(t).unit_score(metrics[t]) for t in OVERALL_TASKS) / len(OVERALL_TASKS)


def aggregate(metrics: dict) -> float:
    """Model-selection score: the plain mean of the task metrics present (every registered task, in registry
    order), as the paper did."""
    vals = [metrics[t] for t in TASKS if t in metrics]
    return float(np.mean(vals))


def with_overall(metrics: dict) -> dict:
    out = dict(metrics)
    if all(t in metrics for t in OVERALL_TASKS):
        out["overall"] = overall_of(metrics)
    return out
