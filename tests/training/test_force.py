"""`--force` replaces a stored result only once the new one is written: an interrupt, an unreachable cluster or
a read-only store leave it as it was (and current, so nothing re-trains). Smoke profile, tiny overrides, pytest's
tmp dirs."""
from __future__ import annotations

import errno
import json
import os
import tempfile
import time

import pytest

from mtbert.core.experiments import run_config
from mtbert.data import datasets as D
from mtbert.results import store
from mtbert.training import engine
from mtbert.training import scheduler

DATA = D.default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "ids-sst-train.csv").exists(), reason="run `make data` first")
NAME = "t1_sst_pretrain"  # frozen encoder, cached features: a run takes about a second (conftest.py's `run`)
TINY = dict(n_train={"sst": 6}, batch_size=2, n_dev=6, n_test=6, epochs=2)  # its overrides (conftest.py's TINY)


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):  # conftest.py
    yield


@pytest.fixture
def S(sst):
    """In this module a test's settings are `sst` (conftest.py): the store under tmp_path/store, the report under
    tmp_path/out, the private SST copy (`data`) as the data folder."""
    return sst


def stored_bytes(S) -> bytes:
    return store.result_path(run_config(NAME, "smoke", **TINY), S).read_bytes()


@pytest.mark.training
@needs_data
def test_interrupted_force_rerun_keeps_the_stored_result(S, data, run, paths):
    """--force replaces the stored result only once the new one is written: an interrupt leaves it as it was."""
    run(S, data)
    cfg, result, last = paths(S)
    before = result.read_bytes()

    def stop(e, s):
        raise KeyboardInterrupt  # Ctrl-C
    from mtbert.errors import RunInterrupted
    with pytest.raises(RunInterrupted, match="its stored result, if any, is unchanged .* from its first epoch"):
        engine.run(NAME, S.replace(data_dir=data), force=True, on_step=stop, **TINY)
    assert result.read_bytes() == before and not last.exists()
    assert not list(result.parent.glob(".*.tmp"))
    steps = []
    forced = engine.run(NAME, S.replace(data_dir=data), force=True, on_step=lambda e, s: steps.append(s), **TINY)
    stored = json.loads(result.read_bytes())
    assert steps and stored["finished_at"] == forced["finished_at"] and stored["dev"] == json.loads(before)["dev"]


@needs_data
@pytest.mark.training
def test_force_against_an_unreachable_cluster_keeps_the_stored_result(S):
    engine.run(NAME, S, **TINY)
    before = stored_bytes(S)
    t0 = time.monotonic()
    with pytest.raises(scheduler.ClusterUnavailable, match="connection refused"):
        scheduler.run_experiments([(NAME, 11711)], S.replace(scheduler="tcp://127.0.0.1:1"),
                                  scheduler.RunOptions(force=True, overrides=TINY))
    assert time.monotonic() - t0 < 10
    assert stored_bytes(S) == before
    assert store.stored(run_config(NAME, "smoke", **TINY), S) is not None  # still current: nothing re-trains


@needs_data
@pytest.mark.training
@pytest.mark.parametrize("path", ["engine", "cluster"])
def test_force_against_a_read_only_store_keeps_the_stored_result(S, monkeypatch, path):
    engine.run(NAME, S, **TINY)
    before = stored_bytes(S)

    def read_only(*a, **k):  # what a read-only folder answers (chmod does not stop root, who runs CI here)
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(k.get("dir", "")))
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(store.StoreNotWritable, match="Nothing was trained"):
        if path == "engine":
            engine.run(NAME, S, force=True, **TINY)
        else:
            scheduler.run_experiments([(NAME, 11711)], S, scheduler.RunOptions(force=True, overrides=TINY))
    monkeypatch.undo()
    assert stored_bytes(S) == before
