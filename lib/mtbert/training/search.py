"""A small, resumable search over the beyond-the-paper recipe options at CPU scale.

    python -m mtbert.training.search [--budget-s 1200] [--max-points N] [--dry-run]

Every grid point is submission 2 (the paper's recipe) with some RunConfig fields changed, trained on a
subsample (SCALE: Quora 3,000 / STS 1,500 / SST 1,500 training rows, one epoch, dev and held-out test capped
at 800 and 400 rows per task, no prediction files). Each finished point is one JSON under results/search/
(`<point id>.json`: the run's result plus `search_point`); a point whose stored JSON has the same config hash
is skipped, so re-running continues where the last call stopped. Points run in GRID order: two reference
points, a centre and its one-factor variations, then the rest of the full factorial grid.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

from mtbert.results import store
from mtbert.training.engine import train_run
from mtbert.training.experiments import run_config
from mtbert.settings import Settings, repo_root

BASE = "submission2"
SCALE = dict(n_train={"sst": 1500, "quora": 3000, "sts": 1500}, quora_per_epoch=3000, epochs=1,
             n_dev=800, n_test=400, predictions=(), batch_size=32, lr=1e-5)  # batch and lr pinned: the quick
# profile's own (batch 8, lr x10) do not apply to the search; a point's lr replaces the 1e-5
# the axes of the grid (pooling is mean everywhere except the paper reference: that is how MiniLM was trained)
AXES = dict(lr=(2e-5, 5e-5), head_lr=(1e-3, 1e-4), warmup=(0.1, 0.0), para_encoding=("cross", "bi"),
            sts_encoding=("bi", "cross"))
CENTRE = {k: v[0] for k, v in AXES.items()}


def _point(**p) -> dict:
    if p.get("warmup"):
        p["lr_schedule"] = "linear"  # warm-up on = warm-up 10% + linear decay
    return p


def grid() -> list[dict]:
    """The points, most informative first (a cut-off search still has the references and the centre)."""
    pts = [{}, {"pooling": "mean"}, _point(pooling="mean", **CENTRE)]
    for k, vals in AXES.items():  # one factor at a time from the centre
        pts.append(_point(pooling="mean", **{**CENTRE, k: vals[1]}))
    for combo in itertools.product(*AXES.values()):  # then the full factorial grid
        pts.append(_point(pooling="mean", **dict(zip(AXES, combo))))
    out, seen = [], set()
    for p in pts:
        key = point_id(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def point_id(p: dict) -> str:
    """A readable, file-name-safe id of a grid point ('paper' for submission 2 itself)."""
    if not p:
        return "paper"
    short = {"pooling": "", "lr": "lr", "head_lr": "hlr", "warmup": "wu", "para_encoding": "q",
             "sts_encoding": "s", "lr_schedule": None}
    parts = []
    for k in ("pooling", "lr", "head_lr", "warmup", "para_encoding", "sts_encoding"):
        if k in p:
            v = p[k]
            parts.append(short[k] + (f"{v:g}" if isinstance(v, float) else str(v)))
    return "_".join(parts)


def search_dir(S: Settings) -> Path:
    return Path(S.store_root) / "results" / "search"


def search_settings(store_root=None, **kw) -> Settings:
    """Settings of the search: profile quick (scaled by SCALE), CPU; its resume checkpoints live in a folder
    of their own (git-ignored), its results under <store_root>/results/search/."""
    root = Path(store_root) if store_root is not None else repo_root()
    return Settings.resolve(**{"profile": "quick", "device": "cpu", "store_root": root, "output_root": root,
                               "progress": False, **kw})


def config_of(p: dict, scale: dict | None = None):
    return run_config(BASE, "quick", **{**(SCALE if scale is None else scale), **p})


def stored_point(p: dict, S: Settings, scale: dict | None = None):
    path = search_dir(S) / f"{point_id(p)}.json"
    if path.exists():
        r = store.read_result(path)
        cfg = config_of(p, scale)
        if r.get("config_hash") == cfg.hash():
            from mtbert.data import identity as datahash  # current only for the same data files
            if (r.get("data") or {}).get("files") == datahash.current(cfg, S.data_dir):
                return r
    return None


def run_point(p: dict, S: Settings, scale: dict | None = None) -> tuple[dict, bool]:
    """(result, trained) of one grid point: the stored result when there is one, else train it and store it."""
    r = stored_point(p, S, scale)
    if r is not None:
        return r, False
    cfg = config_of(p, scale)
    path = search_dir(S) / f"{point_id(p)}.json"
    # checkpoints of the search stay apart from the profile's own (run ids repeat across points)
    St = S.replace(store_root=Path(S.store_root) / "checkpoints" / "search")
    out = train_run(cfg, St)
    out.record["search_point"] = {"id": point_id(p), **p}
    return store.save_run(St, out, path), True


def results(S: Settings, scale: dict | None = None) -> list[dict]:
    """The stored results of the grid, in grid order (missing points left out)."""
    return [r for p in grid() if (r := stored_point(p, S, scale)) is not None]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m mtbert.training.search", description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget-s", type=float, default=1200, help="start no new point after this many seconds")
    ap.add_argument("--max-points", type=int, default=None)
    ap.add_argument("--dry-run", action="store_true", help="list the points and whether they are stored")
    ap.add_argument("--store-dir", default=None)
    ap.add_argument("--data-dir", default=None, help="folder with the data files (default: data/)")
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    S = search_settings(a.store_dir, **({"data_dir": a.data_dir} if a.data_dir else {}))
    t0, n = time.time(), 0
    for p in grid():
        if a.dry_run:
            print(("stored  " if stored_point(p, S) else "missing ") + point_id(p))
            continue
        if time.time() - t0 > a.budget_s or (a.max_points is not None and n >= a.max_points):
            print(f"stopping: budget {a.budget_s:.0f} s / {a.max_points} points reached", file=sys.stderr)
            break
        r, trained = run_point(p, S)
        n += trained
        d = r["dev"]
        print(f"{point_id(p):45s} {'trained' if trained else 'stored '} {r['wall_time_s']:7.1f} s  dev sst "
              f"{d['sst']:.3f} quora {d['quora']:.3f} sts {d['sts']:.3f} overall {d['overall']:.3f}", flush=True)


if __name__ == "__main__":
    main()
