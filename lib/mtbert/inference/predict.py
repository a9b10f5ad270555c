"""Predictions of a stored run from its saved best checkpoint, and of a seed ensemble.

    python -m mtbert predict NAME [--seeds S ...] [--profile P] [--ensemble]

* `rescore(name, S, seed)` reloads the run's selected model (checkpoints/<profile>/<run_id>.<config hash>.best.pt,
  stamped with the config hash and data files of the stored result and verified, loaded with
  weights_only=True) and writes, into predictions/<profile>/<run_id>/:
  - `<prefix>-test-student-scores.csv`: the raw outputs behind the leaderboard files of the official unlabelled
    test-student files (SST class logits, STS scores), so that seeds can be averaged later without the model;
  - CFIMDB predicted by the SST head, with no CFIMDB training ("transfer"): P(positive) = p(positive) +
    p(very positive) + p(neutral) / 2 of the 5-class softmax, positive when above 0.5. `cfimdb-{dev,test,
    test-student}-scores.csv` (id, gold, pred, score = P(positive)) and the leaderboard `cfimdb-test-output.csv`.
* `ensemble_predictions(name, S, seeds)` averages the seeds' files (SST class probabilities, STS scores,
  CFIMDB P(positive)) into predictions/<profile>/<name>__ensemble/: leaderboard files of dev and test-student,
  and ENSEMBLE.json with the seeds, their run ids, the data and weight sha256 of the runs, and the ensemble's
  dev and held-out test scores.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from mtbert.data import datasets as D
from mtbert.data import identity as datahash
from mtbert.data.tasks import CFIMDB, SST
from mtbert.results import store
from mtbert.analysis.ablations import combine
from mtbert.errors import MtbertError
from mtbert.training.checkpoints import RunCheckpoints
from mtbert.training.experiments import run_config
from mtbert.training.runner import Runner, resolve_device
from mtbert.analysis.metrics import accuracy, task_metric, with_overall
from mtbert.training.predictions import PREFIX, leaderboard_text, scores_frame
from mtbert.settings import Settings

SPLITS = ("dev", "test", "test-student")
# CFIMDB predicted by the SST head, with no CFIMDB training (see cfimdb_from_sst)
TRANSFER_SOURCE, TRANSFER_TARGET = SST.name, CFIMDB.name


class MissingCheckpoint(MtbertError):
    """A stored run's selected weights are not here (checkpoints are not committed) or belong to another
    configuration or other data."""


def cfimdb_from_sst(logits: np.ndarray) -> np.ndarray:
    """P(positive review) from SST's 5-class logits: classes 3 and 4, plus half of the neutral class 2."""
    e = np.exp(logits - logits.max(1, keepdims=True))
    p = e / e.sum(1, keepdims=True)
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


def rescore(name: str, S: Settings, seed: int) -> dict:
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


def _read(run_id: str, name: str, S: Settings) -> pd.DataFrame:
    p = S.predictions_dir / run_id / name
    if not p.exists():
        raise MtbertError(f"{p.relative_to(S.predictions_dir)} is missing under {S.predictions_dir}: "
                          f"write it with python -m mtbert predict (see lib/mtbert/training/repredict.py)")
    return pd.read_csv(p)


def _has_test_student(task: str, S: Settings) -> bool:
    try:
        D.file_for(task, "test-student", S.data_dir)
    except D.DataError:
        return False
    return True


def ensemble_predictions(name: str, S: Settings, seeds) -> dict:
    """Average `seeds` of `name` into predictions/<profile>/<name>__ensemble/ (see the module doc)."""
    seeds = list(seeds)
    if len(seeds) < 2:
        raise MtbertError(f"an ensemble needs two or more seeds, got {seeds}")
    results = [store.load_result(name, S, s) for s in seeds]
    if any(r is None for r in results):
        raise MtbertError(f"{name}: not every seed of {seeds} is stored for profile {S.profile}")
    rids = [r["run_id"] for r in results]
    out = S.predictions_dir / f"{name}__ensemble"
    scores = {"dev": {}, "test": {}}
    files = []
    evaluated = results[0]["config"]["eval_tasks"]
    tasks = list(dict.fromkeys([*evaluated, *([TRANSFER_TARGET] if TRANSFER_SOURCE in evaluated else [])]))
    for task in tasks:
        pre = PREFIX[task]
        # leaderboard files for the predicted tasks with an official test-student file (not Quora: its file is not
        # in the data mirror)
        leaderboard = (task in (*results[0]["config"]["predictions"], TRANSFER_TARGET)
                       and _has_test_student(task, S))
        for split in ("dev", "test"):
            c = combine(task, [_read(r, f"{pre}-{split}-scores.csv", S) for r in rids])
            scores[split][task] = task_metric(task, c["pred"], c["gold"].to_numpy(dtype=float))
            if split == "dev" and leaderboard:
                p = out / f"{pre}-dev-output.csv"
                store.write_text(p, leaderboard_text(task, c["id"], c["pred"]))
                files.append(store.recorded_path(p, S))
        if leaderboard:
            c = combine(task, [_read(r, f"{pre}-test-student-scores.csv", S) for r in rids])
            p = out / f"{pre}-test-output.csv"
            store.write_text(p, leaderboard_text(task, c["id"], c["pred"]))
            files.append(store.recorded_path(p, S))
    scores = {split: with_overall(d) for split, d in scores.items()}
    manifest = {
        "ensemble_of": name, "profile": S.profile, "seeds": seeds, "run_ids": rids,
        "how": "mean of the seeds' SST class probabilities, Quora probabilities, STS scores and CFIMDB "
               "P(positive); CFIMDB is predicted by the SST head (no CFIMDB training, see lib/mtbert/rescore.py)",
        "dev": scores["dev"], "test": scores["test"], "files": files,
        "encoder": results[0]["encoder"],
        "data": {**results[0]["data"]["files"], **datahash.sha256s(
            [D.file_for(TRANSFER_TARGET, split, S.data_dir) for split in ("train", "dev", "test-student")])},
        "config_hashes": [r["config_hash"] for r in results],  # one per seed (the seed is part of the config)
    }
    store.write_json(out / "ENSEMBLE.json", manifest)
    return manifest
