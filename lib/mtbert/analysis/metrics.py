"""Task metrics and the CS224N overall score."""
from __future__ import annotations

import numpy as np


def accuracy(pred, gold) -> float:
    pred, gold = np.asarray(pred), np.asarray(gold)
    return float((pred == gold).mean()) if len(gold) else float("nan")


def pearson(pred, gold) -> float:
    """Pearson's r; 0.0 when either side is constant (r is undefined there, and no skill was shown)."""
    pred, gold = np.asarray(pred, dtype=np.float64), np.asarray(gold, dtype=np.float64)
    if len(gold) < 2 or pred.std() == 0 or gold.std() == 0:
        return 0.0
    return float(np.corrcoef(pred, gold)[0, 1])


def overall_score(sst_acc: float, quora_acc: float, sts_pearson: float) -> float:
    """The leaderboard's overall score: STS's r in [-1, 1] is first mapped to [0, 1]."""
    return (sst_acc + quora_acc + (sts_pearson + 1) / 2) / 3


def aggregate(metrics: dict) -> float:
    """Model-selection score: the plain mean of the task metrics present, as the paper did."""
    vals = [metrics[t] for t in ("sst", "cfimdb", "quora", "sts") if t in metrics]
    return float(np.mean(vals))


def with_overall(metrics: dict) -> dict:
    out = dict(metrics)
    if all(t in metrics for t in ("sst", "quora", "sts")):
        out["overall"] = overall_score(metrics["sst"], metrics["quora"], metrics["sts"])
    return out
