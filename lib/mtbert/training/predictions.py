"""Predictions in the CS224N leaderboard format, for the official unlabeled test-student files and for dev.

    id \t Predicted_Sentiment
    <id> , <prediction>

plus, for every evaluated task, CSVs of gold label, prediction and raw score per example on dev and on the held-out
test split (for error analysis and paired statistics), and the raw scores behind the test-student files (for seed
ensembles).
"""
from __future__ import annotations

import pandas as pd

from mtbert.data import datasets as D
from mtbert.data.tasks import SpecView, get_task
from mtbert.results import store

PREFIX = SpecView("file_prefix")  # {task: prefix of its prediction files}, from the task specs


def leaderboard_text(task: str, ids, preds) -> str:
    spec = get_task(task)
    lines = [f"id \t {spec.leaderboard_header} \n"]
    for i, p in zip(ids, preds):
        p = f"{float(p):.4f}" if spec.is_regression else str(int(p))
        lines.append(f"{i} , {p} \n")
    return "".join(lines)


def scores_frame(td, raw, pred, score=None) -> pd.DataFrame:
    """Per-example outputs of one split: id, gold (unless the split is unlabelled), prediction, and the raw score
    or one column per class logit (plus `score`, when given, next to the logits)."""
    scores = pd.DataFrame({"id": td.ids})
    if td.labels is not None:
        scores["gold"] = td.labels
    scores["pred"] = pred
    if raw.ndim == 2:  # class logits
        for k in range(raw.shape[1]):
            scores[f"logit_{k}"] = raw[:, k]
    if score is not None or raw.ndim == 1:
        scores["score"] = raw if score is None else score
    return scores


def write_predictions(runner, cfg, splits: dict, S, outputs: dict | None = None) -> dict:
    """For every evaluated task: per-example outputs on dev and on the held-out test split
    (`<prefix>-<split>-scores.csv`, for paired statistics and error analysis); for the tasks in
    cfg.predictions also the leaderboard-format files of dev and of the official test-student file.
    `splits` maps "dev"/"test" to {task: TaskData}; `outputs` may hold (raw, pred) already computed per
    (split, task) with the selected model. Returns {task: {kind: recorded path}}."""
    outputs = outputs or {}
    out_dir = S.predictions_dir / cfg.run_id
    written = {}
    for task in cfg.eval_tasks:
        paths = {}
        for split, sets in splits.items():
            td = sets[task]
            raw, pred = outputs[(split, task)] if (split, task) in outputs else runner.predict(td)
            if split == "dev" and task in cfg.predictions:
                p = out_dir / f"{PREFIX[task]}-dev-output.csv"
                store.write_text(p, leaderboard_text(task, td.ids, pred))
                paths["dev"] = store.recorded_path(p, S)
            p = out_dir / f"{PREFIX[task]}-{split}-scores.csv"
            store.write_text(p, scores_frame(td, raw, pred).to_csv(index=False, float_format="%.5f"))
            paths[f"{split}_scores"] = store.recorded_path(p, S)
        if task in cfg.predictions:
            try:
                ts = runner.data(task, "test-student", cfg.cap("n_predict", task))
            except D.DataError:  # e.g. quora-test-student.csv is not in the mirror
                paths["test"] = f"not written: {_test_student_name(task)} is not in the data folder"
            else:
                raw, pred = runner.predict(ts)
                p = out_dir / f"{PREFIX[task]}-test-output.csv"
                store.write_text(p, leaderboard_text(task, ts.ids, pred))
                paths["test"] = store.recorded_path(p, S)
                p = out_dir / f"{PREFIX[task]}-test-student-scores.csv"  # raw outputs, for seed ensembles
                store.write_text(p, scores_frame(ts, raw, pred).to_csv(index=False, float_format="%.5f"))
                paths["test_student_scores"] = store.recorded_path(p, S)
                paths["test_rows"] = len(ts)
        written[task] = paths
    return written


def _test_student_name(task: str) -> str:
    names = get_task(task).file_candidates("test-student")
    return names[0] if names else f"the {task} test-student file"
