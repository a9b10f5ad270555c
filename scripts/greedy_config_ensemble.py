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
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import pearsonr

ROOT = Path(__file__).resolve().parents[1]
PRED = ROOT / "predictions/full"
PREFIX = {"sst": "sst", "quora": "para", "sts": "sts"}


def outputs(task: str, run: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    df = pd.read_csv(PRED / run / f"{PREFIX[task]}-{split}-scores.csv").sort_values("id")
    if task == "sst":
        logits = df[[c for c in df.columns if c.startswith("logit_")]].to_numpy()
        e = np.exp(logits - logits.max(1, keepdims=True))
        return df["gold"].to_numpy(), e / e.sum(1, keepdims=True)
    if task == "quora":
        return df["gold"].to_numpy(), 1 / (1 + np.exp(-df["score"].to_numpy()))
    return df["gold"].to_numpy(), df["score"].to_numpy()


def metric(task: str, gold: np.ndarray, x: np.ndarray) -> float:
    if task == "sst":
        return float((x.argmax(1) == gold).mean())
    if task == "quora":
        return float(((x > 0.5) == gold).mean())
    return float(pearsonr(gold, x)[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-steps", type=int, default=12)
    args = ap.parse_args()
    for task, pre in PREFIX.items():
        runs = sorted(d.name for d in PRED.iterdir() if (d / f"{pre}-dev-scores.csv").exists()
                      and (d / f"{pre}-test-scores.csv").exists())
        dev = {r: outputs(task, r, "dev") for r in runs}
        test = {r: outputs(task, r, "test") for r in runs}
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
