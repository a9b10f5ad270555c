"""The phrase rows' analysis: each phrase row finds its sentence twin, and the CPU-scale phrase screen's table
compares each point with the sentence reference on the same examples (fast tier, fake stored points)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mtbert.analysis import ablations as B
from mtbert.core.metrics import task_metric
from mtbert.core.tasks import OVERALL_TASKS
from mtbert.core.atomic import write_json
from mtbert.settings import Settings
from mtbert.core.experiments import REGISTRY, run_config
from mtbert.results.result_set import ResultSet


def test_every_phrase_row_has_a_twin_that_differs_only_in_its_sst_data():
    rows = B.phrase_rows()
    assert rows and all(dict(REGISTRY[n].beyond).get("sst_train_units") == "phrases"
                        or dict(REGISTRY[n].beyond).get("sst_phrase_stage", 0) > 0 for n in rows)
    for n in rows:
        twin = B.sentence_twin(n, "full")
        assert twin is not None and twin not in rows, n
        a, b = run_config(n, "full").to_dict(), run_config(twin, "full").to_dict()
        assert {k for k in a if a[k] != b[k]} - {"experiment"} <= set(B.PHRASE_KNOBS)


def _fake_point(root, point: str, rng, quality: float, sst_units=None):
    """A screen point with per-example outputs: each prediction right with probability `quality`."""
    folder = root / "results" / "screen_phrases"
    (folder / point).mkdir(parents=True, exist_ok=True)
    scores = {}
    for t in OVERALL_TASKS:
        n = 300
        gold = rng.integers(0, 5 if t == "sst" else 2, n).astype(float) if t != "sts" else rng.uniform(0, 5, n)
        if t == "sts":
            pred = gold + rng.normal(0, 3 * (1 - quality), n)
        else:
            pred = np.where(rng.random(n) < quality, gold, (gold + 1) % (5 if t == "sst" else 2))
        pd.DataFrame({"id": [f"r{i}" for i in range(n)], "gold": gold, "pred": pred}).to_csv(
            folder / point / f"{B.PREFIX[t]}-dev-scores.csv", index=False)
        scores[t] = task_metric(t, pred, gold)
    scores["overall"] = B.overall_of(scores)
    r = {"profile": "full", "dev": scores, "test": scores, "history": [{"steps": 10}], "wall_time_s": 5.0,
         "data": {"sizes": {"train": {"sst": 40}}, **({"train_units": {"sst": sst_units}} if sst_units else {})}}
    write_json(folder / f"{point}.json", r)
    return scores


def test_the_screen_table_puts_the_sentences_first_and_pairs_each_point_with_them(tmp_path):
    rng = np.random.default_rng(0)
    ref = _fake_point(tmp_path, "sentences", rng, 0.5)
    units = {"units": "phrases", "rows": 40, "sentences": 40, "phrases": 400, "budget": 4.0}
    better = _fake_point(tmp_path, "phrases_x4", rng, 0.9, units)
    S = Settings.resolve(profile="full", store_root=tmp_path, output_root=tmp_path)
    df = B.phrase_screen_table(ResultSet.load(S))
    assert list(df["point"]) == ["sentences", "phrases_x4"]
    assert df.iloc[1]["SST examples per epoch"] == "40 sentences + 160 phrases (of 400)"
    for t in OVERALL_TASKS:
        cell = df.iloc[1][f"{t} vs sentences"]
        diff, low, high = (float(x) for x in cell.replace("[", "").replace("]", "").replace(",", "").split())
        assert diff == pytest.approx(better[t] - ref[t], abs=6e-4) and low <= diff <= high and low > 0
    assert pd.isna(df.iloc[0].get("sst vs sentences"))  # the reference is not compared with itself


def test_no_screen_point_stored_gives_an_empty_table(tmp_path):
    S = Settings.resolve(profile="full", store_root=tmp_path, output_root=tmp_path)
    assert B.phrase_screen_table(ResultSet.load(S)).empty
    assert json.loads(json.dumps(B.screen_points(ResultSet.load(S)))) == {}
