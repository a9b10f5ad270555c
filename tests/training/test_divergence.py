"""Divergence (mtbert.training.divergence): a loss past 10x its starting value stops the run with one message
naming the lr, the epoch and what was kept; nothing is stored when no epoch had finished, and the finished epochs
stay resumable otherwise; a spike alone is no divergence. Smoke profile, tiny overrides, pytest's tmp dirs."""
from __future__ import annotations

import pytest

from mtbert.core.experiments import run_config
from mtbert.data import datasets as D
from mtbert.model.heads import MultitaskBert
from mtbert.training import divergence

PROFILE = "smoke"
NAME = "t1_sst_pretrain"  # frozen encoder, cached features: a run takes about a second (conftest.py's `run`)
TINY = dict(n_train={"sst": 6}, batch_size=2, n_dev=6, n_test=6, epochs=2)  # its overrides (conftest.py's TINY)
DATA = D.default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "ids-sst-train.csv").exists(), reason="run `make data` first")


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):  # conftest.py
    yield


@pytest.mark.training
@needs_data
def test_diverging_lr_stops_the_run_and_stores_nothing(S, data, run, paths):
    cfg, result, last = paths(S, lr=0.99, n_train={"sst": 48}, epochs=1)
    with pytest.raises(divergence.TrainingDiverged) as ei:
        run(S, data, lr=0.99, n_train={"sst": 48}, epochs=1)
    msg = str(ei.value)
    assert "lr 0.99" in msg and "10x its starting value" in msg and "No epoch had finished" in msg
    assert "last.pt" not in msg and not last.exists() and not result.exists()


@pytest.mark.training
@needs_data
def test_divergence_in_a_later_epoch_keeps_earlier_epochs_resumable(S, data, monkeypatch, run, paths):
    orig = MultitaskBert.loss
    calls = []

    def exploding(self, task, raw, y):
        calls.append(1)
        loss = orig(self, task, raw, y)
        return loss * 1000 if len(calls) > 3 else loss  # epoch 2 (steps 4-6) blows up
    monkeypatch.setattr(MultitaskBert, "loss", exploding)
    cfg, result, last = paths(S)
    with pytest.raises(divergence.TrainingDiverged) as ei:
        run(S, data)
    msg = str(ei.value)
    assert "epoch 2" in msg and "10x its starting value" in msg and "lr 0.001" in msg
    assert f"kept in {last}" in msg and last.exists() and not result.exists()
    monkeypatch.setattr(MultitaskBert, "loss", orig)
    steps = []
    r = run(S, data, steps)
    assert [e for e, s in steps] == [1, 1, 1] and len(r["history"]) == 2


def test_divergence_rule():
    cfg = run_config(NAME, PROFILE, **TINY)
    g = divergence.DivergenceGuard(cfg)
    for v in (1.6, 3.0, 30.0, 2.0):  # a spike alone is no divergence
        g.batch("sst", v, 0, 0)
    g.epoch_end({"sst": [1.6, 3.0, 30.0, 2.0]}, 0, 4)
    with pytest.raises(divergence.TrainingDiverged, match=r"mean epoch loss is 20, over 10x its starting value 1.6"):
        g.epoch_end({"sst": [20.0]}, 1, 5)
    with pytest.raises(divergence.TrainingDiverged, match=r"running loss \(mean of the last 5 batches\)"):
        g.batch("sst", 60.0, 1, 5)
    g = divergence.DivergenceGuard(cfg, ref={"sts": 0.01})  # tiny starting losses: the limit is 10 x 0.1
    g.epoch_end({"sts": [0.5, 0.9]}, 0, 2)
    with pytest.raises(divergence.TrainingDiverged, match="loss is inf"):
        g.batch("sts", float("inf"), 0, 3)
