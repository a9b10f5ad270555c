"""Re-predicting stored runs from their best checkpoints, CFIMDB from the SST head, and seed ensembles
(lib/mtbert/inference/predict.py, `python -m mtbert predict`); weights of another configuration, of other data
or damaged are refused with one message."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mtbert.analysis import ablations as B
from mtbert.data import datasets as D
from mtbert.inference import ensemble, predict
from mtbert.results import store
from mtbert.training.checkpoints import RunCheckpoints
from mtbert.core.experiments import run_config
from mtbert.cli import main as cli_main
from mtbert.errors import MtbertError
from mtbert.model.checkpoint import CheckpointError
from mtbert.core.metrics import accuracy, pearson
from mtbert.training import engine
from mtbert.training.engine import run
from mtbert.results.result_set import ResultSet

SEEDS = (11711, 1)
NAME = "t1_sst_pretrain"  # frozen encoder, cached features: a run takes about a second
DATA = D.default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "ids-sst-train.csv").exists(), reason="run `make data` first")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_thread, settings_for):
    S = settings_for(tmp_path_factory.mktemp("store"), seeds=list(SEEDS))
    for s in SEEDS:
        run("submission2", S, seed=s)
    return S


def test_cfimdb_from_sst_sums_the_positive_classes():
    logits = np.log(np.array([[0.1, 0.1, 0.2, 0.3, 0.3], [0.5, 0.3, 0.2, 0.0 + 1e-12, 0.0 + 1e-12]]))
    assert predict.cfimdb_from_sst(logits) == pytest.approx([0.7, 0.1], abs=1e-9)


@pytest.mark.training
def test_predict_run_writes_test_student_outputs_and_cfimdb_transfer(trained):
    S = trained
    r = predict.predict_run("submission2", S, 11711)
    d = S.predictions_dir / "submission2"
    # the test-student raw outputs agree with the leaderboard files written at training time
    sst = pd.read_csv(d / "sst-test-student-scores.csv")
    board = pd.read_csv(d / "sst-test-output.csv", sep=r"\s*,\s*", engine="python", skiprows=1, header=None)
    assert list(sst["id"]) == [str(x).strip() for x in board[0]]
    assert (sst[[f"logit_{k}" for k in range(5)]].to_numpy().argmax(1) == sst["pred"]).all()
    assert (sst["pred"].to_numpy() == board[1].to_numpy()).all()
    # CFIMDB: the recorded accuracy is the one of the written file, and P(positive) gives the prediction
    for split in ("dev", "test"):
        f = pd.read_csv(d / f"cfimdb-{split}-scores.csv")
        assert r["cfimdb"][split] == pytest.approx(accuracy(f["pred"], f["gold"]))
        assert ((f["score"] > 0.5).astype(int) == f["pred"]).all()
        assert np.allclose(predict.cfimdb_from_sst(f[[f"logit_{k}" for k in range(5)]].to_numpy()), f["score"], atol=1e-4)
    assert (d / "cfimdb-test-output.csv").read_text().startswith("id \t Predicted_Sentiment \n")


@pytest.mark.training
def test_ensemble_averages_the_seeds(trained):
    S = trained
    assert cli_main(["predict", "submission2", "--profile", "smoke", "--device", "cpu", "--seeds", "11711", "1",
                     "--store-dir", str(S.store_root), "--no-progress", "--ensemble"]) == 0
    m = pd.read_json(S.predictions_dir / "submission2__ensemble" / "ENSEMBLE.json", typ="series")
    assert list(m["seeds"]) == list(SEEDS) and m["run_ids"] == ["submission2", "submission2__seed1"]
    e = B.ensemble("submission2", ResultSet.load(S), SEEDS)  # the held-out test ensemble of mtbert.analysis.ablations agrees
    for t in ("sst", "quora", "sts", "overall"):
        assert m["test"][t] == pytest.approx(e[t])
    # CFIMDB: mean of the seeds' P(positive)
    ps = [pd.read_csv(S.predictions_dir / rid / "cfimdb-dev-scores.csv").sort_values("id") for rid in m["run_ids"]]
    mean = np.mean([p["score"].to_numpy() for p in ps], 0)
    assert m["dev"]["cfimdb"] == pytest.approx(accuracy((mean > 0.5).astype(int), ps[0]["gold"].to_numpy()))
    sts = pd.read_csv(S.predictions_dir / "submission2__ensemble" / "sts-test-output.csv", sep=r"\s*,\s*",
                      engine="python", skiprows=1, header=None)
    one = [pd.read_csv(S.predictions_dir / rid / "sts-test-student-scores.csv").set_index("id")["score"]
           for rid in m["run_ids"]]
    want = 5 * (one[0] + one[1]) / 2
    got = pd.Series(sts[1].to_numpy(), index=[str(x).strip() for x in sts[0]])
    assert np.allclose(got[want.index].to_numpy(), want.to_numpy(), atol=1e-3)
    assert pearson(got[want.index], want) > 0.999


@pytest.mark.training
def test_an_ensemble_without_a_seeds_cfimdb_files_leaves_cfimdb_out_and_says_how_to_add_it(trained, tmp_path):
    """A seed trained elsewhere has its stored outputs but no checkpoint here, so no CFIMDB-from-SST files: the
    ensemble of the other tasks is still written, and CFIMDB is left out with the command that adds it."""
    S = trained
    predict.predict_run("submission2", S, 11711)
    seed1 = S.predictions_dir / "submission2__seed1"
    moved = [f.rename(tmp_path / f.name) for f in list(seed1.glob("cfimdb-*"))]
    try:
        m = ensemble.ensemble_predictions("submission2", S, list(SEEDS))
    finally:
        for f in moved:
            f.rename(seed1 / f.name)
    assert set(m["left_out"]) == {"cfimdb"}
    assert "seeds 1 " in m["left_out"]["cfimdb"] and "python -m mtbert predict submission2" in m["left_out"]["cfimdb"]
    assert "cfimdb" not in m["test"] and {"sst", "quora", "sts", "overall"} <= set(m["test"])
    assert not any("cfimdb" in f for f in m["files"]) and any(f.endswith("sst-test-output.csv") for f in m["files"])
    e = B.ensemble("submission2", ResultSet.load(S), SEEDS)
    assert m["test"]["overall"] == pytest.approx(e["overall"])


@pytest.mark.training
def test_missing_checkpoint_or_result_names_the_fix(trained, tmp_path):
    S = trained
    ck = RunCheckpoints(run_config("submission2", S.profile, 1), S).best
    moved = tmp_path / ck.name
    ck.rename(moved)
    try:
        with pytest.raises(MtbertError, match="--force"):
            predict.predict_run("submission2", S, 1)
    finally:
        moved.rename(ck)
    with pytest.raises(MtbertError, match="train it first"):
        predict.predict_run("submission1", S, 1)
    with pytest.raises(MtbertError, match="two or more seeds"):
        ensemble.ensemble_predictions("submission2", S, [1])


@pytest.mark.training
def test_differences_against_the_paper_recipe(trained):
    """Table B1 rows against submission2_1epoch: the difference is the one of the stored held-out test scores,
    and the verdict follows its interval."""
    S = trained
    for n in ("submission2_1epoch", "beyond_mean_1epoch"):
        run(n, S)
    df = B.differences_table(ResultSet.load(S), table="B1")
    assert list(df["configuration"].unique()) == ["beyond_mean_1epoch"]
    assert list(df["task"]) == ["SST", "Quora", "STS", "overall"]
    a = store.load_result("beyond_mean_1epoch", S)["test"]
    b = store.load_result("submission2_1epoch", S)["test"]
    for _, row in df.iterrows():
        key = {"SST": "sst", "Quora": "quora", "STS": "sts", "overall": "overall"}[row["task"]]
        diff, lo, hi = (float(x) for x in row["difference [95% CI]"].replace("[", "").replace("]", "")
                        .replace(",", "").split())
        assert diff == pytest.approx(a[key] - b[key], abs=1e-3)
        assert lo <= diff <= hi
        assert row["verdict"] == ("holds" if lo > 0 else "does not hold" if hi < 0 else "cannot be decided")
        assert row["method"].startswith("paired")
    w = B.differences_wide(df)
    assert list(w.columns) == ["configuration", "SST", "Quora", "STS", "overall"] and len(w) == 1


def test_cfimdb_ensemble_refuses_other_rows():
    a = pd.DataFrame({"id": ["x", "y"], "gold": [1, 0], "pred": [1, 0], "score": [0.9, 0.2]})
    b = pd.DataFrame({"id": ["x", "z"], "gold": [1, 0], "pred": [1, 0], "score": [0.9, 0.2]})
    with pytest.raises(ValueError, match="different rows"):
        ensemble.average_seeds("cfimdb", [a, b])
    c = ensemble.average_seeds("cfimdb", [a, a.assign(score=[0.5, 0.6])])
    assert list(c["score"]) == pytest.approx([0.7, 0.4]) and list(c["pred"]) == [1, 0]


# -- weights of another configuration or damaged -----------------------------------------------------------------------

@needs_data
@pytest.mark.training
def test_predict_refuses_weights_of_another_configuration_or_damaged(settings, tmp_path, one_thread):
    S = settings(tmp_path)
    r = engine.run(NAME, S)
    ck = RunCheckpoints(run_config(NAME, "smoke"), S, r["data"]["files"])
    good = ck.best.read_bytes()
    assert predict.load_run(NAME, S, 11711)[0].hash() == r["config_hash"]
    st = torch.load(ck.best, weights_only=True)
    for bad in ({**st, "config_hash": "0123456789abcdef"}, {**st, "data_files": {"ids-sst-train.csv": "0" * 64}},
                b"truncated"):
        if isinstance(bad, bytes):
            ck.best.write_bytes(good[:300])
        else:
            torch.save(bad, ck.best)
        with pytest.raises(CheckpointError) as ei:
            predict.load_run(NAME, S, 11711)
        assert str(ck.best) in str(ei.value) and "--force" in str(ei.value) and "nothing was predicted" in str(ei.value)
    ck.best.unlink()
    with pytest.raises(predict.MissingCheckpoint, match="--force"):
        predict.load_run(NAME, S, 11711)
