"""A fifth task declared from outside the library: a generated three-class pair classification, taken through
training, the results store, per-example predictions, a scores table and figures, with no module of lib/ edited.
"""
from __future__ import annotations

import hashlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mtbert.analysis import claims, figures, tables
from mtbert.data import datasets as D
from mtbert.core.tasks import TASKS, TaskSpec, register_task, unregister_task
from mtbert.inference.ensemble import average_seeds
from mtbert.results import store
from mtbert.training import batches, engine
from mtbert.core.experiments import REGISTRY, Experiment, register_experiment, unregister_experiment
from mtbert.results.result_set import ResultSet

TASK, EXPERIMENT = "synth3", "synthetic_pairs"
N_TRAIN, N_DEV, HELD_OUT = 60, 30, 12
WORDS = {0: ["cat", "dog", "bird", "fish"], 1: ["red", "blue", "green", "black"], 2: ["run", "jump", "swim", "fly"]}


def _write_tsv(path, n: int, rng) -> None:
    """Pairs whose label is the word group both sentences draw from (so the task is learnable, but need not be)."""
    rows = []
    for i in range(n):
        label = int(rng.integers(3))
        a, b = (" ".join(rng.choice(WORDS[label], 3)) for _ in range(2))
        rows.append({"id": f"{path.stem}-{i:03d}", "sentence1": f"the {a}.", "sentence2": f"a {b}?",
                     "label": label})
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)


@pytest.fixture
def synthetic(tmp_path, settings_for):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    _write_tsv(data / "synth-train.csv", N_TRAIN, rng)
    _write_tsv(data / "synth-dev.csv", N_DEV, rng)
    spec = TaskSpec(TASK, "Synth-3", "pair", "label", (0, 2), "classifier", "accuracy", "majority",
                    {"train": "synth-train.csv", "dev": "synth-dev.csv"}, HELD_OUT, "Predicted_Label", "synth")
    register_task(spec)
    register_experiment(Experiment(EXPERIMENT, ("S",), "a generated three-class pair task", (TASK,), (TASK,),
                                   batch_size=8))
    S = settings_for(tmp_path / "store", output_root=tmp_path / "out", data_dir=data)
    yield S
    unregister_experiment(EXPERIMENT)
    unregister_task(TASK)
    batches.prepare.cache_clear()  # tokenised splits of the generated files
    D._load_cached.cache_clear()
    D._parse_cached.cache_clear()
    plt.close("all")


def test_registration_is_undone_and_refuses_duplicates(synthetic):
    assert TASK in TASKS and EXPERIMENT in REGISTRY
    with pytest.raises(ValueError, match="already registered"):
        register_task(TASKS[TASK])
    with pytest.raises(ValueError, match="file prefix 'para'"):
        register_task(TaskSpec("other", "Other", "pair", "label", (0, 1), "binary", "accuracy", "majority",
                               {"train": "o-train.csv", "dev": "o-dev.csv"}, 5, "Predicted", "para"))


@pytest.mark.training
def test_a_registered_task_runs_end_to_end(synthetic, one_thread):
    S = synthetic
    result = engine.run(EXPERIMENT, S)

    # the metric of each split is an accuracy over the generated rows
    for split in ("dev", "test"):
        assert 0.0 <= result[split][TASK] <= 1.0
    assert result["data"]["sizes"]["dev"][TASK] == N_DEV
    assert result["data"]["sizes"]["test"][TASK] == HELD_OUT
    assert result["data"]["sizes"]["train"][TASK] == N_TRAIN - HELD_OUT
    assert result["data"]["holdout_sizes"][TASK] == HELD_OUT

    # stored, with the generated files' sha256 recorded (they have no published hash to be checked against)
    stored = store.load_result(EXPERIMENT, S)
    assert stored["config_hash"] == result["config_hash"] and stored["dev"] == result["dev"]
    for name in ("synth-train.csv", "synth-dev.csv"):
        assert name not in D.FILES
        assert result["data"]["files"][name] == hashlib.sha256((S.data_dir / name).read_bytes()).hexdigest()

    # per-example predictions: one row per dev example, a logit per class, the recorded accuracy
    dev = pd.read_csv(store.stored_file(result["predictions"][TASK]["dev_scores"], S))
    assert len(dev) == N_DEV and set(dev["pred"]) <= {0, 1, 2}
    logits = dev[[f"logit_{k}" for k in range(3)]].to_numpy()
    assert (logits.argmax(1) == dev["pred"]).all()
    assert np.mean(dev["pred"] == dev["gold"]) == pytest.approx(result["dev"][TASK])
    assert (S.predictions_dir / EXPERIMENT / "synth-test-scores.csv").exists()

    # a seed ensemble of one seed reproduces it; its interval brackets it
    assert (average_seeds(TASK, [dev])["pred"].to_numpy() == dev.sort_values("id")["pred"].to_numpy()).all()
    ci = claims.metric_interval(EXPERIMENT, TASK, "dev", ResultSet.load(S))
    assert ci["low"] <= result["dev"][TASK] <= ci["high"]

    # a scores table with the task's column
    table = tables.scores_table([EXPERIMENT], ResultSet.load(S))
    assert TASK in table and table.loc[0, TASK] == pytest.approx(result["dev"][TASK])
    assert tables.metric_of(TASK) == "accuracy"

    # figures: training curves and the error analysis (a confusion matrix for a classifier)
    _, curves = figures.training_curves(result, S)
    assert set(curves["task"]) == {TASK}
    _, panels = figures.error_analysis(result, ResultSet.load(S))
    assert panels[TASK].shape == (3, 3) and panels[TASK].to_numpy().sum() == N_DEV
    for stem in (f"curves_{EXPERIMENT}", f"errors_{EXPERIMENT}"):
        for ext in ("png", "svg"):
            p = S.figures_dir / f"{stem}.{ext}"
            assert p.exists() and p.stat().st_size > 0
