"""`python -m mtbert list|run`: listing, clear failures on bad input, and a real (tiny) smoke run whose
outputs go to a tmp dir."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from mtbert.core.experiments import OVERRIDABLE, REGISTRY


@pytest.fixture
def env(tmp_path):
    e = {**os.environ, "MTBERT_DEVICE": "cpu", "OMP_NUM_THREADS": "1", "MTBERT_STORE_DIR": str(tmp_path)}
    e.pop("MTBERT_PROFILE", None)
    return e


def mtbert(env, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "mtbert", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_list_shows_every_experiment(env):
    p = mtbert(env, "list")
    assert p.returncode == 0, p.stderr
    listed = [ln.split()[0] for ln in p.stdout.splitlines() if ln.strip() and not ln.startswith("profiles")]
    assert listed == list(REGISTRY)
    assert "smoke" in p.stdout and "quick" in p.stdout and "full" in p.stdout


def test_run_unknown_experiment_fails_with_message(env):
    p = mtbert(env, "run", "nope", "--profile", "smoke")
    assert p.returncode != 0
    assert "nope" in p.stderr and "t1_sst_pretrain" in p.stderr and "Traceback" not in p.stderr


def test_run_bad_override_fails_clearly(env, tmp_path):
    p = mtbert(env, "run", "t1_sst_pretrain", "--profile", "smoke", "--set", "bogus=1")
    assert p.returncode != 0
    assert "Traceback" not in p.stderr, p.stderr
    assert all(w in p.stderr for w in ["bogus", *OVERRIDABLE]), p.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("kv,field", [("lr_decay=0", "lr_decay"), ("pooling=max", "pooling"),
                                      ("epochs=0", "epochs"), ("n_train=[1]", "n_train")])
def test_run_bad_value_fails_before_training(env, monkeypatch, capsys, kv, field):
    from mtbert import cli
    from mtbert.training import engine
    monkeypatch.setenv("MTBERT_STORE_DIR", env["MTBERT_STORE_DIR"])
    monkeypatch.setattr(engine, "train_run", lambda *a, **k: pytest.fail("training started"))
    rc = cli.main(["run", "t1_sst_pretrain", "mt_sst_only", "--profile", "smoke", "--set", kv])
    err = capsys.readouterr().err
    assert rc == 2 and field in err and "Traceback" not in err


@pytest.mark.parametrize("args,words", [
    (["--jobs", "0", "--all"], ["--jobs", "at least 1"]),
    (["--jobs", "-3", "--all"], ["--jobs", "at least 1"]),
    (["--table", "9"], ["unknown table", ", ".join(sorted({t for e in REGISTRY.values() for t in e.tables}))]),
    (["t1_sst_pretrain", "--set", "lr=abc"], ["lr", "'abc'"]),
    (["submission1", "--seeds", "-1"], ["seed -1", "out of range"]),
    (["submission1", "--seeds", str(2**70)], ["out of range"]),
    (["submission1", "--seeds", "x1"], ["not an integer"]),
    (["t1_sst_pretrain", "--device", "tpu"], ["unknown device 'tpu'"]),
])
def test_bad_arguments_are_refused_before_training(env, monkeypatch, capsys, args, words):
    from mtbert import cli
    from mtbert.training import engine
    monkeypatch.setenv("MTBERT_STORE_DIR", env["MTBERT_STORE_DIR"])
    monkeypatch.setattr(engine, "train_run", lambda *a, **k: pytest.fail("training started"))
    rc = cli.main(["run", "--profile", "smoke", *args])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert all(w in err for w in words), err
    assert "Traceback" not in err


def test_cuda_on_a_cpu_machine_is_a_clear_error(env, monkeypatch, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    from mtbert import cli
    rc = cli.main(["run", "t1_sst_pretrain", "--profile", "smoke", "--device", "cuda"])
    err = capsys.readouterr().err
    assert rc == 2 and "no CUDA GPU" in err and "--device cpu" in err


def test_debug_flag_shows_the_traceback(env, monkeypatch):
    from mtbert import cli
    from mtbert.errors import UsageError
    with pytest.raises(UsageError):
        cli.main(["--debug", "run", "nope", "--profile", "smoke"])


@pytest.mark.training
def test_run_smoke_prints_dev_line_and_writes_result(env, tmp_path):
    small = ["--set", "n_train=" + json.dumps({"sst": 8}), "--set", "n_dev=8", "--set", "n_test=8"]
    p = mtbert(env, "run", "t1_sst_pretrain", "--profile", "smoke", *small)
    assert p.returncode == 0, p.stderr
    assert re.search(r"t1_sst_pretrain \(.*\): dev sst \d\.\d{3}", p.stdout), p.stdout
    r = json.loads((tmp_path / "results" / "smoke" / "t1_sst_pretrain.json").read_text())
    assert r["config"]["n_train"] == {"sst": 8} and r["config"]["n_dev"] == 8
    assert 0.0 <= r["dev"]["sst"] <= 1.0
    # second call: loaded from the stored result (and `status` sees it)
    p = mtbert(env, "run", "t1_sst_pretrain", "--profile", "smoke", *small)
    assert p.returncode == 0 and "dev sst" in p.stdout
