"""How far averaging stored models gets each task: a greedy forward selection (with replacement, Caruana et al.
2004) over every stored full-profile run with per-example dev and held-out test outputs, chosen on dev only.

SST: mean of softmax probabilities, accuracy. Quora: mean of sigmoid(logit), accuracy at 0.5. STS: mean of the
scores, each standardised by its own dev mean and sd, Pearson r. The selection adds the run that most raises the
dev score and stops when nothing raises it; test is printed next to each step, never used.

    python scripts/greedy_config_ensemble.py [--max-steps 12]

Exploratory: many encoders, not the report's one-encoder model; read it as an upper bound of what the stored runs
hold, not as a result of the recipe.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from mtbert.results.result_set import ResultSet  # noqa: E402
from mtbert.core.metrics import task_metric  # noqa: E402
from mtbert.core.probability import sigmoid, softmax  # noqa: E402
from mtbert.settings import Settings  # noqa: E402

TASKS = ("sst", "quora", "sts")


def outputs(task: str, run: str, split: str, S: Settings) -> tuple[np.ndarray, np.ndarray] | None:
    """(gold, what is averaged) of one stored run, rows sorted by id; None when the run has no such file."""
    p = ResultSet(S, {}).outputs_file(run, task, split)
    if p is None:
        return None
    df = pd.read_csv(p).sort_values("id")
    if task == "sst":
        return df["gold"].to_numpy(), softmax(df[[c for c in df.columns if c.startswith("logit_")]].to_numpy())
    if task == "quora":
        return df["gold"].to_numpy(), sigmoid(df["score"].to_numpy())
    return df["gold"].to_numpy(), df["score"].to_numpy()


def metric(task: str, gold: np.ndarray, x: np.ndarray) -> float:
    pred = x.argmax(1) if task == "sst" else (x > 0.5).astype(int) if task == "quora" else x
    return task_metric(task, pred, gold)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-steps", type=int, default=12)
    args = ap.parse_args()
    S = Settings.resolve(profile="full", device="cpu")
    stored = sorted(d.name for d in S.predictions_dir.iterdir() if d.is_dir())
    for task in TASKS:
        dev, test = {}, {}
        for r in stored:
            d, t = outputs(task, r, "dev", S), outputs(task, r, "test", S)
            if d is not None and t is not None:
                dev[r], test[r] = d, t
        runs = sorted(dev)
        if task == "sts":  # standardise each run by its own dev mean and sd
            for r in runs:
                mu, sd = dev[r][1].mean(), dev[r][1].std()
                dev[r] = (dev[r][0], (dev[r][1] - mu) / sd)
                test[r] = (test[r][0], (test[r][1] - mu) / sd)
        g_dev, g_test = dev[runs[0]][0], test[runs[0]][0]
        single = max(runs, key=lambda r: metric(task, g_dev, dev[r][1]))
        print(f"\n{task}: {len(runs)} stored runs; best single run on dev: {single} "
              f"(dev {metric(task, g_dev, dev[single][1]):.3f}, test {metric(task, g_test, test[single][1]):.3f})")
        chosen, best = [], -np.inf
        for step in range(args.max_steps):
            score, run = max((metric(task, g_dev, np.mean([dev[x][1] for x in chosen + [r]], 0)), r) for r in runs)
            if score <= best:
                break
            chosen.append(run)
            best = score
            t = metric(task, g_test, np.mean([test[x][1] for x in chosen], 0))
            print(f"  {step + 1:2d}. + {run:40s} dev {score:.3f}  test {t:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
