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
from mtbert.core.tasks import SpecView, get_task

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


def prediction_files(runner, cfg, splits: dict, S, outputs: dict | None = None) -> tuple[dict, dict]:
    """For every evaluated task: per-example outputs on dev and on the held-out test split
    (`<prefix>-<split>-scores.csv`, for paired statistics and error analysis); for the tasks in
    cfg.predictions also the leaderboard-format files of dev and of the official test-student file.
    `splits` maps "dev"/"test" to {task: TaskData}; `outputs` may hold (raw, pred) already computed per
    (split, task) with the selected model.

    Returns (files, recorded): {path relative to the store root: text}, written later by the store
    (`store.save_run`), and {task: {kind: that path}} for the result record."""
    outputs = outputs or {}
    folder = (S.predictions_dir / cfg.run_id).relative_to(S.store_root).as_posix()
    files, recorded = {}, {}

    def put(name: str, text: str) -> str:
        files[f"{folder}/{name}"] = text
        return f"{folder}/{name}"

    for task in cfg.eval_tasks:
        paths = {}
        for split, sets in splits.items():
            td = sets[task]
            raw, pred = outputs[(split, task)] if (split, task) in outputs else runner.predict(td)
            if split == "dev" and task in cfg.predictions:
                paths["dev"] = put(f"{PREFIX[task]}-dev-output.csv", leaderboard_text(task, td.ids, pred))
            paths[f"{split}_scores"] = put(f"{PREFIX[task]}-{split}-scores.csv",
                                           scores_frame(td, raw, pred).to_csv(index=False, float_format="%.5f"))
        if task in cfg.predictions:
            try:
                ts = runner.data(task, "test-student", cfg.cap("n_predict", task))
            except D.DataError:  # e.g. quora-test-student.csv is not in the mirror
                paths["test"] = f"not written: {_test_student_name(task)} is not in the data folder"
            else:
                raw, pred = runner.predict(ts)
                paths["test"] = put(f"{PREFIX[task]}-test-output.csv", leaderboard_text(task, ts.ids, pred))
                # raw outputs, for seed ensembles
                paths["test_student_scores"] = put(f"{PREFIX[task]}-test-student-scores.csv",
                                                   scores_frame(ts, raw, pred).to_csv(index=False, float_format="%.5f"))
                paths["test_rows"] = len(ts)
        recorded[task] = paths
    return files, recorded


def _test_student_name(task: str) -> str:
    names = get_task(task).file_candidates("test-student")
    return names[0] if names else f"the {task} test-student file"
