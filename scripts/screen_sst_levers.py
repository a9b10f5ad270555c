"""The table of the SST lever screen (scripts/screen_sst_levers.sh): one row per stored point, the paper-recipe
reference (t1_sst_finetune, full profile) first; the optimisation settings that differ, dev accuracy per epoch, the best epoch's dev and held-out test
accuracy with a 95% Wilson interval, and the wall time.

    python scripts/screen_sst_levers.py [--markdown]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from scipy.stats import binomtest

ROOT = Path(__file__).resolve().parents[1]


def row(name: str, r: dict) -> dict:
    n = r["data"]["sizes"]["test"]["sst"]
    dev_curve = " / ".join(f"{h['dev']['sst']:.3f}" for h in r["history"])
    test = r["test"]["sst"]
    c = r["config"]
    out = {"point": name, "pooling": c["pooling"], "lr": f"{c['lr']:g}", "head lr": f"{c.get('head_lr') or c['lr']:g}",
           "warm-up + decay": "yes" if c.get("warmup") else "no", "batch": c["batch_size"], "dropout": c["dropout"],
           "device": r.get("environment", {}).get("device", ""), "dev per epoch": dev_curve, "best epoch": r["best_epoch"], "dev": f"{r['dev']['sst']:.3f}",
           "test": f"{test:.3f}", "wall s": f"{r['wall_time_s']:.0f}"}
    if n:  # held-out test rows
        ci = binomtest(round(test * n), n).proportion_ci(method="wilson")
        out["test"] += f" [{ci.low:.3f}, {ci.high:.3f}]"
    return out


def main() -> int:
    rows = [row("t1_sst_finetune", json.loads((ROOT / "results/full/t1_sst_finetune.json").read_text()))]
    for p in sorted((ROOT / "results/screen_sst").glob("*.json")):
        rows.append(row(p.stem, json.loads(p.read_text())))
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
