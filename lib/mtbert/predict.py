"""Predictions in the CS224N leaderboard format, for the official unlabeled test-student files and for dev.

    id \t Predicted_Sentiment
    <id> , <prediction>

plus, for dev, a CSV of gold label, prediction and raw score per row (for error analysis).
"""
from __future__ import annotations

import pandas as pd

from . import data as D
from . import store

HEADERS = {"sst": "Predicted_Sentiment", "cfimdb": "Predicted_Sentiment",
           "quora": "Predicted_Is_Paraphrase", "sts": "Predicted_Similiary"}  # upstream's spelling
PREFIX = {"sst": "sst", "cfimdb": "cfimdb", "quora": "para", "sts": "sts"}


def leaderboard_text(task: str, ids, preds) -> str:
    lines = [f"id \t {HEADERS[task]} \n"]
    for i, p in zip(ids, preds):
        p = f"{float(p):.4f}" if task == "sts" else str(int(p))
        lines.append(f"{i} , {p} \n")
    return "".join(lines)


def write_predictions(runner, cfg, dev_sets, S) -> dict:
    """Write dev and test-student predictions for cfg.predictions; return {task: {split: path}}."""
    out_dir = S.predictions_dir / cfg.run_id
    written = {}
    for task in cfg.predictions:
        paths = {}
        td = dev_sets.get(task) or runner.data(task, "dev", cfg.cap("n_dev", task))
        raw, pred = runner.predict(td)
        p = out_dir / f"{PREFIX[task]}-dev-output.csv"
        store.write_text(p, leaderboard_text(task, td.ids, pred))
        paths["dev"] = store.recorded_path(p, S)
        scores = pd.DataFrame({"id": td.ids, "gold": td.labels, "pred": pred})
        if raw.ndim == 2:  # class logits
            for k in range(raw.shape[1]):
                scores[f"logit_{k}"] = raw[:, k]
        else:
            scores["score"] = raw
        p = out_dir / f"{PREFIX[task]}-dev-scores.csv"
        store.write_text(p, scores.to_csv(index=False, float_format="%.5f"))
        paths["dev_scores"] = store.recorded_path(p, S)
        try:
            ts = runner.data(task, "test-student", cfg.cap("n_predict", task))
        except D.DataError:  # e.g. quora-test-student.csv is not in the mirror
            paths["test"] = f"not written: {_test_student_name(task)} is not in the data folder"
        else:
            _, pred = runner.predict(ts)
            p = out_dir / f"{PREFIX[task]}-test-output.csv"
            store.write_text(p, leaderboard_text(task, ts.ids, pred))
            paths["test"] = store.recorded_path(p, S)
            paths["test_rows"] = len(ts)
        written[task] = paths
    return written



def _test_student_name(task: str) -> str:
    return D.QUORA_TEST_STUDENT if task == "quora" else f"the {task} test-student file"
