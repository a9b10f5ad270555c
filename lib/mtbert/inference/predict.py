"""Predictions of a stored run from its saved best checkpoint (a seed ensemble of them: mtbert.inference.ensemble).

    python -m mtbert predict NAME [--seeds S ...] [--profile P] [--ensemble]

* `predict_run(name, S, seed)` reloads the run's selected model (checkpoints/<profile>/<run_id>.<config hash>.best.pt,
  stamped with the config hash and data files of the stored result and verified, loaded with
  weights_only=True) and writes, into predictions/<profile>/<run_id>/:
  - `<prefix>-test-student-scores.csv`: the raw outputs behind the leaderboard files of the official unlabelled
    test-student files (SST class logits, STS scores), so that seeds can be averaged later without the model;
  - CFIMDB predicted by the SST head, with no CFIMDB training ("transfer"): P(positive) = p(positive) +
    p(very positive) + p(neutral) / 2 of the 5-class softmax, positive when above 0.5. `cfimdb-{dev,test,
    test-student}-scores.csv` (id, gold, pred, score = P(positive)) and the leaderboard `cfimdb-test-output.csv`.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from mtbert.core.experiments import run_config
from mtbert.core.metrics import accuracy
from mtbert.core.probability import softmax
from mtbert.core.tasks import CFIMDB, SST
from mtbert.data import datasets as D
from mtbert.errors import MtbertError
from mtbert.results import store
from mtbert.results.predictions import PREFIX, leaderboard_text, scores_frame
from mtbert.settings import Settings
from mtbert.training.checkpoints import RunCheckpoints
from mtbert.training.runner import Runner, resolve_device

SPLITS = ("dev", "test", "test-student")
# CFIMDB predicted by the SST head, with no CFIMDB training (see cfimdb_from_sst)
TRANSFER_SOURCE, TRANSFER_TARGET = SST.name, CFIMDB.name


class MissingCheckpoint(MtbertError):
    """A stored run's selected weights are not here (checkpoints are not committed) or belong to another
    configuration or other data."""


def cfimdb_from_sst(logits: np.ndarray) -> np.ndarray:
    """P(positive review) from SST's 5-class logits: classes 3 and 4, plus half of the neutral class 2."""
    p = softmax(logits)
    return p[:, 3] + p[:, 4] + 0.5 * p[:, 2]


def load_run(name: str, S: Settings, seed: int):
    """(cfg, Runner with the run's selected model) of a stored run; errors name the missing piece and the fix."""
    cfg = run_config(name, S.profile, seed, S.encoder)
    if (result := store.stored(cfg, S)) is None:
        raise MtbertError(f"no stored result of {cfg.run_id} (profile {S.profile}) for this config and data; "
                          f"train it first: python -m mtbert run {name} --profile {S.profile} --seeds {seed} --seeds-all")
    ck = RunCheckpoints(cfg, S, result["data"]["files"])
    fix = (f"re-train the run with `python -m mtbert run {name} --profile {S.profile} --seeds {seed} --seeds-all "
           "--force`, which writes its selected weights again; nothing was predicted.")
    if not ck.best.exists():
        raise MissingCheckpoint(f"{ck.best.name} is not in {S.checkpoints_dir} (checkpoints are not committed): {fix}")
    R = Runner(cfg, S, resolve_device(S.device))
    ck.load_best(R.model, R.device, fix=fix[:1].upper() + fix[1:])  # CheckpointError: damaged, another config or data
    return cfg, R


def predict_run(name: str, S: Settings, seed: int) -> dict:
    """Write the test-student raw outputs and the CFIMDB transfer files of one stored run; returns
    {"files": [...], "cfimdb": {split: accuracy}} (accuracy on the labelled splits)."""
    cfg, R = load_run(name, S, seed)
    out = S.predictions_dir / cfg.run_id
    files, acc = [], {}

    def write(path, text):
        store.write_text(path, text)
        files.append(store.recorded_path(path, S))

    for task in cfg.predictions:
        try:
            td = R.data(task, "test-student", cfg.cap("n_predict", task))
        except D.DataError:  # e.g. quora-test-student.csv is not in the data mirror
            continue
        raw, pred = R.predict(td)
        write(out / f"{PREFIX[task]}-test-student-scores.csv", scores_frame(td, raw, pred).to_csv(index=False, float_format="%.5f"))
    target = TRANSFER_TARGET
    if TRANSFER_SOURCE in cfg.eval_tasks:
        for split in SPLITS:
            td = R.data(target, split, cfg.cap("n_predict" if split == "test-student" else f"n_{split}", target))
            raw, _ = R.predict(dataclasses.replace(td, task=TRANSFER_SOURCE))  # the SST head scores the reviews
            p = cfimdb_from_sst(raw)
            pred = (p > 0.5).astype(np.int64)
            write(out / f"{PREFIX[target]}-{split}-scores.csv", scores_frame(td, raw, pred, score=p).to_csv(index=False, float_format="%.5f"))
            if split == "test-student":
                write(out / f"{PREFIX[target]}-test-output.csv", leaderboard_text(target, td.ids, pred))
            else:
                acc[split] = accuracy(pred, td.labels)
    return {"run_id": cfg.run_id, "files": files, target: acc}
