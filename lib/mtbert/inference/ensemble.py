"""A seed ensemble: per-example outputs of several seeds averaged into one set of predictions.

`average_seeds(task, frames)` averages one task's per-seed output frames (rows matched by id).
`ensemble_predictions(name, S, seeds)` averages the seeds' files (SST class probabilities, STS scores,
  CFIMDB P(positive)) into predictions/<profile>/<name>__ensemble/: leaderboard files of dev and test-student,
  and ENSEMBLE.json with the seeds, their run ids, the data and weight sha256 of the runs, and the ensemble's
  dev and held-out test scores. CFIMDB is left out, with the reason and the fix under `left_out`, when a seed
  lacks its CFIMDB files (they are written from the run's checkpoint, which is not committed).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mtbert.core.metrics import task_metric, with_overall
from mtbert.core.probability import sigmoid, softmax
from mtbert.core.tasks import get_task
from mtbert.data import datasets as D
from mtbert.data import identity as datahash
from mtbert.errors import MtbertError
from mtbert.inference.predict import SPLITS, TRANSFER_SOURCE, TRANSFER_TARGET
from mtbert.results import store
from mtbert.results.predictions import PREFIX, leaderboard_text
from mtbert.settings import Settings


def average_seeds(task: str, frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One frame (id, gold, pred, and prob / score) averaging per-seed outputs of one task, rows matched by id;
    how depends on the task spec's head kind.

    classifier (SST): mean of the softmax class probabilities, pred = argmax; binary (Quora): mean of
    sigmoid(logit), pred = mean > 0.5; regression (STS): mean of the scores, pred = top of the label range * mean.
    A classifier's frames that carry a `score` next to the logits hold P(positive) from another task's head
    (CFIMDB from the SST head, see mtbert.inference.predict): mean of `score`, pred = mean > 0.5. Unlabelled rows
    (test-student: no `gold` column) are matched by id only."""
    if not frames:
        raise ValueError("no per-seed outputs to combine")
    spec = get_task(task)
    base = frames[0].sort_values("id").reset_index(drop=True)
    transferred = spec.head == "classifier" and "score" in base
    ids = base["id"].astype(str).to_numpy()
    outs = []
    for f in frames:
        f = f.sort_values("id").reset_index(drop=True)
        if len(f) != len(base) or not np.array_equal(f["id"].astype(str).to_numpy(), ids):
            raise ValueError(f"{task}: the seeds' test outputs cover different rows; cannot average them")
        if "gold" in base and not np.allclose(f["gold"].to_numpy(dtype=float), base["gold"].to_numpy(dtype=float)):
            raise ValueError(f"{task}: the seeds' gold labels differ")
        if spec.is_regression or transferred:
            outs.append(f["score"].to_numpy(dtype=float))
        elif spec.head == "binary":
            outs.append(sigmoid(f["score"].to_numpy(dtype=float)))
        else:
            cols = sorted((c for c in f.columns if c.startswith("logit_")), key=lambda c: int(c.split("_")[1]))
            outs.append(softmax(f[cols].to_numpy(dtype=float)))
    mean = np.mean(outs, axis=0)
    out = pd.DataFrame({"id": ids})
    if "gold" in base:
        out["gold"] = base["gold"].to_numpy()
    if spec.is_regression:
        out["score"], out["pred"] = mean, spec.scale * mean
    elif transferred:
        out["score"], out["pred"] = mean, (mean > 0.5).astype(int)
    elif spec.head == "binary":
        out["prob"], out["pred"] = mean, (mean > 0.5).astype(int)
    else:
        for k in range(mean.shape[1]):
            out[f"prob_{k}"] = mean[:, k]
        out["pred"] = mean.argmax(1)
    return out


def _read(run_id: str, name: str, S: Settings) -> pd.DataFrame:
    p = S.predictions_dir / run_id / name
    if not p.exists():
        raise MtbertError(f"{p.relative_to(S.predictions_dir)} is missing under {S.predictions_dir}: "
                          f"write it with python -m mtbert predict (see lib/mtbert/inference/predict.py)")
    return pd.read_csv(p)


def _has_test_student(task: str, S: Settings) -> bool:
    try:
        D.file_for(task, "test-student", S.data_dir)
    except D.DataError:
        return False
    return True


def _transfer_left_out(name: str, S: Settings, seeds: list, rids: list) -> dict:
    """{TRANSFER_TARGET: why} when a seed lacks its CFIMDB-from-SST files (`mtbert predict` writes them from the
    run's checkpoint, which a clone or another machine does not have); {} when every seed has them. The other
    tasks are averaged from files stored with every result, so an ensemble is still written without CFIMDB."""
    pre = PREFIX[TRANSFER_TARGET]  # predict_run writes a run's transfer files of every split together
    lacking = [s for s, r in zip(seeds, rids)
               if not all((S.predictions_dir / r / f"{pre}-{split}-scores.csv").exists() for split in SPLITS)]
    if not lacking:
        return {}
    listed = " ".join(map(str, lacking))
    return {TRANSFER_TARGET: f"seeds {listed} have no {pre}-*-scores.csv (CFIMDB from the SST head, written from a "
                             f"run's checkpoint): python -m mtbert predict {name} --profile {S.profile} --seeds {listed}, "
                             "after re-training them with --force where their checkpoints are gone"}


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
    left_out = _transfer_left_out(name, S, seeds, rids) if TRANSFER_TARGET in tasks else {}
    tasks = [t for t in tasks if t not in left_out]
    for task in tasks:
        pre = PREFIX[task]
        # leaderboard files for the predicted tasks with an official test-student file (not Quora: its file is not
        # in the data mirror)
        leaderboard = (task in (*results[0]["config"]["predictions"], TRANSFER_TARGET)
                       and _has_test_student(task, S))
        for split in ("dev", "test"):
            c = average_seeds(task, [_read(r, f"{pre}-{split}-scores.csv", S) for r in rids])
            scores[split][task] = task_metric(task, c["pred"], c["gold"].to_numpy(dtype=float))
            if split == "dev" and leaderboard:
                p = out / f"{pre}-dev-output.csv"
                store.write_text(p, leaderboard_text(task, c["id"], c["pred"]))
                files.append(store.recorded_path(p, S))
        if leaderboard:
            c = average_seeds(task, [_read(r, f"{pre}-test-student-scores.csv", S) for r in rids])
            p = out / f"{pre}-test-output.csv"
            store.write_text(p, leaderboard_text(task, c["id"], c["pred"]))
            files.append(store.recorded_path(p, S))
    scores = {split: with_overall(d) for split, d in scores.items()}
    manifest = {
        "ensemble_of": name, "profile": S.profile, "seeds": seeds, "run_ids": rids,
        "how": "mean of the seeds' SST class probabilities, Quora probabilities, STS scores and CFIMDB "
               "P(positive); CFIMDB is predicted by the SST head (no CFIMDB training, see mtbert.inference.predict)",
        "dev": scores["dev"], "test": scores["test"], "files": files, **({"left_out": left_out} if left_out else {}),
        "encoder": results[0]["encoder"],
        "data": {**results[0]["data"]["files"], **datahash.sha256s(
            [D.file_for(TRANSFER_TARGET, split, S.data_dir) for split in ("train", "dev", "test-student")])},
        "config_hashes": [r["config_hash"] for r in results],  # one per seed (the seed is part of the config)
    }
    store.write_json(out / "ENSEMBLE.json", manifest)
    return manifest
