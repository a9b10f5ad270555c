"""`--tensorboard DIR`: a smoke run's training curves read back from its TensorBoard event files, one point per
epoch, and writing them changes nothing in the run's result."""
from __future__ import annotations

import pytest

from mtbert.settings import Settings
from mtbert.training import curves
from mtbert.training import engine

pytest.importorskip("tensorboard")

TINY = dict(n_train={"sst": 4, "quora": 4, "sts": 4}, batch_size=4, quora_per_epoch=4, n_dev=6, n_test=6,
            n_predict=3, epochs=2)


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):  # conftest.py
    yield


def test_epoch_scalars_come_from_the_history_entry():
    entry = {"epoch": 3, "train_loss": {"sst": 1.5}, "train": {"sst": 0.25}, "dev": {"sst": 0.5, "aggregate": 0.5},
             "seconds": 2.0}
    assert curves.scalars(entry) == {"train_loss/sst": 1.5, "train/sst": 0.25, "dev/sst": 0.5, "dev/aggregate": 0.5,
                                     "time/epoch_seconds": 2.0}
    assert curves.log_epoch(None, "smoke", "x", entry) is None  # off: nothing is written


@pytest.mark.training
def test_smoke_run_writes_dev_curves_that_read_back(tmp_path):
    board = tmp_path / "board"
    S_on = Settings.resolve(profile="smoke", device="cpu", store_root=tmp_path / "on", progress=False,
                            tensorboard=board)
    S_off = Settings.resolve(profile="smoke", device="cpu", store_root=tmp_path / "off", progress=False)
    on = engine.run("submission2", S_on, **TINY)
    off = engine.run("submission2", S_off, **TINY)

    got = curves.read_curves(curves.run_dir(board, "smoke", on["run_id"]))
    for task in ("sst", "quora", "sts", "aggregate"):
        assert [e for e, _ in got[f"dev/{task}"]] == [1, 2], task
        assert [v for _, v in got[f"dev/{task}"]] == pytest.approx([h["dev"][task] for h in on["history"]], abs=1e-6)
    assert {f"train_loss/{t}" for t in ("sst", "quora", "sts")} <= set(got)
    # the setting is no part of the run: same config and hash, same scores, bitwise
    assert on["config_hash"] == off["config_hash"] and on["config"] == off["config"]
    assert on["dev"] == off["dev"] and on["test"] == off["test"]
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in on["history"]] == \
           [{k: v for k, v in h.items() if k != "seconds"} for h in off["history"]]
    assert not (tmp_path / "off" / "board").exists() and not list((tmp_path / "off").rglob("events.out.*"))


@pytest.mark.training
def test_the_command_line_flag_reaches_the_workers(tmp_path):
    """`mtbert run ... --tensorboard DIR`: the run trains on a Dask worker, which writes the event files."""
    import json
    import os
    import subprocess
    import sys
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MTBERT_PROFILE", None)
    sets = [f"{k}={json.dumps(v)}" for k, v in {**TINY, "epochs": 1}.items()]
    cmd = [sys.executable, "-m", "mtbert", "run", "submission2", "--profile", "smoke", "--device", "cpu",
           "--store-dir", str(tmp_path / "store"), "--tensorboard", str(tmp_path / "board"), "--no-progress"]
    for s in sets:
        cmd += ["--set", s]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    (folder,) = (tmp_path / "board" / "smoke").iterdir()
    assert folder.name.startswith("submission2")
    assert [e for e, _ in curves.read_curves(folder)["dev/aggregate"]] == [1]
