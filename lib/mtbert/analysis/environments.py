"""Where and with what the stored runs of a profile ran: one row per group of runs that share a device, its
hardware, torch, Python and numpy (as each result records them under `environment`), with the number of runs and
their summed wall time. The report's Setup and the docs' run tables are this table."""
from __future__ import annotations

import pandas as pd

from mtbert.results.result_set import ResultSet

GROUP_COLUMNS = ("device", "hardware", "torch", "Python", "numpy")


def run_groups(R: ResultSet) -> pd.DataFrame:
    """One row per recorded environment: device, hardware, torch, Python, numpy, runs, summed wall time (s)."""
    rows = []
    for r in R.every_record():
        env = r.get("environment") if isinstance(r.get("environment"), dict) else {}
        rows.append({"device": str(env.get("device", "-")), "hardware": str(env.get("gpu") or env.get("cpu") or "-"),
                     "torch": str(env.get("torch", "-")), "Python": str(env.get("python", "-")),
                     "numpy": str(env.get("numpy", "-")), "wall": float(r.get("wall_time_s") or 0.0)})
    if not rows:
        return pd.DataFrame(columns=[*GROUP_COLUMNS, "runs", "summed wall time (s)"])
    df = pd.DataFrame(rows)
    out = (df.groupby(list(GROUP_COLUMNS), sort=False).agg(runs=("wall", "size"), wall=("wall", "sum"))
           .reset_index().rename(columns={"wall": "summed wall time (s)"}))
    return out.sort_values("runs", ascending=False, kind="stable").reset_index(drop=True)
