"""Seconds per training step and per evaluated row at one CPU thread, bi- vs cross-encoded Quora.

    PYTHONPATH=lib OMP_NUM_THREADS=1 python scripts/time_beyond.py

Trains 40 steps (SST 10, Quora 20, STS 10 batches of 32; mean pooling, head lr 1e-3) of each variant and
predicts 800 Quora dev pairs; prints seconds per step, real tokens per second and dev rows per second, and
the resulting estimate for one full-data epoch (all 20,644 Quora pairs: 1,052 steps, plus the dev sets)."""
import time

import torch

from mtbert.training import search as X
from mtbert.training import engine

torch.set_num_threads(1)
S = X.search_settings()
scale = dict(n_train={"sst": 320, "quora": 640, "sts": 320}, quora_per_epoch=640, epochs=1, n_dev=800,
             n_test=8, predictions=())
STEPS_FULL = sum(-(-n // 32) for n in (7544, 20644, 5440))
DEV_FULL = {"sst": 1101, "quora": 20212, "sts": 863}
for enc in ("bi", "cross"):
    cfg = X.config_of(X._point(pooling="mean", lr=5e-5, head_lr=1e-3, para_encoding=enc), scale)
    R = engine.Runner(cfg, S, torch.device("cpu"))
    train = {t: R.data(t, "train", cfg.n_train[t]) for t in cfg.train_tasks}
    opt = engine.make_optimizer(R.model, cfg)
    plan = engine.epoch_plan(train, cfg, 0)
    tokens = 0
    for t, idx in plan:
        td = train[t]
        if td.b is None:
            tokens += sum(len(td.a[i]) for i in idx)
        elif enc == "cross" and t == "quora":
            tokens += sum(len(td.a[i]) + len(td.b[i]) - 1 for i in idx)
        else:
            tokens += sum(len(td.a[i]) + len(td.b[i]) for i in idx)
    t0 = time.time()
    engine.train_epoch(engine.Training(R, train, opt), 0)
    dt = time.time() - t0
    rates = {}
    for task in ("quora", "sst", "sts"):
        dev = R.data(task, "dev", 800)
        t1 = time.time()
        R.predict(dev)
        rates[task] = len(dev) / (time.time() - t1)
    eval_s = sum(DEV_FULL[t] / rates[t] for t in DEV_FULL)
    sps = dt / len(plan)
    print(f"quora {enc:5s}: {len(plan)} steps in {dt:.1f} s = {sps:.3f} s/step, {tokens / dt:.0f} real tokens/s; "
          f"dev rows/s " + ", ".join(f"{t} {r:.0f}" for t, r in rates.items()) +
          f"; full-data epoch estimate: {STEPS_FULL} steps x {sps:.3f} s = {STEPS_FULL * sps / 60:.1f} min "
          f"+ full dev sets {eval_s / 60:.1f} min", flush=True)
