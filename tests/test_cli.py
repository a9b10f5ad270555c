"""`python -m mtbert list|run`: listing, clear failures on bad input, and a real (tiny) smoke run whose
outputs go to a tmp dir; a bad setting (a store folder that is a file, an empty folder flag, a bad cluster
timeout or scheduler, a `--set` key that is a setting) is one line naming the fix, and an interrupted run's
message says what was kept."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mtbert import cli
from mtbert.core.experiments import OVERRIDABLE, REGISTRY, run_config
from mtbert.data import datasets as D
from mtbert.errors import RunInterrupted, UsageError
from mtbert.settings import Settings
from mtbert.training import scheduler

PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "lib"), "OMP_NUM_THREADS": "1"}
DATA = D.default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "ids-sst-train.csv").exists(), reason="run `make data` first")
NAME = "t1_sst_pretrain"


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


# -- settings and flags: one line naming the fix -----------------------------------------------------------------------

@pytest.fixture
def S(sst):
    """In this module a test's settings are `sst` (conftest.py): the store under tmp_path/store, the report under
    tmp_path/out, the private SST copy (`data`) as the data folder."""
    return sst


def test_store_dir_that_is_a_file_is_one_message(tmp_path):
    f = tmp_path / "not-a-folder"
    f.write_text("")
    with pytest.raises(UsageError, match="--store-dir .* is a file, not a folder"):
        Settings.resolve(store_root=f)
    p = subprocess.run([PY, "-m", "mtbert", "status", "--profile", "smoke", "--store-dir", str(f)], env=ENV,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "--store-dir" in p.stderr


@pytest.mark.parametrize("flag", ["--store-dir", "--data-dir", "--encoder-dir"])
def test_an_empty_folder_flag_is_a_usage_error(flag, capsys):
    assert cli.main(["status", "--profile", "smoke", flag, ""]) == 2
    err = capsys.readouterr().err
    assert f"{flag} is empty" in err and "leave the setting out" in err and err.count("\n") == 1


@pytest.mark.parametrize("value", ["0", "-3", "soon", "inf", "nan"])
def test_cluster_timeout_must_be_positive_seconds(value):
    with pytest.raises(UsageError, match="--cluster-timeout .*MTBERT_CLUSTER_TIMEOUT.* positive number"):
        Settings.resolve(cluster_timeout=value)
    assert Settings.resolve(environ={"MTBERT_CLUSTER_TIMEOUT": "2.5"}).cluster_timeout == 2.5


@needs_data
@pytest.mark.parametrize("how", ["flag", "environment"])
def test_cli_bad_scheduler_is_one_line_and_stores_nothing(S, capsys, monkeypatch, how):
    args = ["run", NAME, "--profile", "smoke", "--device", "cpu", "--no-progress", "--store-dir",
            str(S.store_root), "--data-dir", str(S.data_dir)]
    if how == "flag":
        args += ["--scheduler", "garbage"]
    else:
        monkeypatch.setenv("MTBERT_SCHEDULER", "garbage")
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("mtbert run: error: --scheduler 'garbage' is neither") and err.count("\n") == 1
    assert not any(S.results_dir.glob("*.json"))


# -- --set: a key is honoured or refused, never ignored ----------------------------------------------------------------

@pytest.mark.parametrize("kv,said", [
    ("seed=5", "use --seeds instead (e.g. `--seeds 5`"),
    ("profile=full", "use --profile instead"),
    ("encoder=x", "use --encoder instead"),
    ("device=garbage", "unknown device 'garbage'"),
    ("device=cuda:7", "device 'cuda:7'"),
])
def test_set_keys_that_are_settings_are_refused_or_checked(kv, said, capsys):
    assert cli.main(["run", NAME, "--profile", "smoke", "--set", kv]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and err.count("\n") == 1


def test_set_device_is_the_device_setting(monkeypatch):
    seen = {}

    def fake_run_experiments(runs, S, options):
        seen["device"] = S.device
        return []
    monkeypatch.setattr(scheduler, "run_experiments", fake_run_experiments)
    assert cli.main(["run", NAME, "--profile", "smoke", "--set", "device=cpu"]) == 0
    assert seen["device"] == "cpu"
    assert cli.main(["run", NAME, "--profile", "smoke", "--set", "device=cpu", "--device", "auto"]) == 2
    with pytest.raises(UsageError, match="unknown device 'garbage'"):
        run_config(NAME, "smoke", device="garbage")


# -- an interrupted run says what was kept -----------------------------------------------------------------------------

def test_cli_prints_the_runs_account_of_an_interrupt(monkeypatch, capsys):
    from mtbert import cli

    def interrupted(*a, **k):
        raise RunInterrupted("no epoch of x had finished and been saved, so nothing was kept")
    from mtbert.training import scheduler
    monkeypatch.setattr(scheduler, "run_experiments", interrupted)
    assert cli.main(["run", NAME, "--profile", "smoke", "--device", "cpu"]) == 130
    err = capsys.readouterr().err
    assert "nothing was kept" in err and "finished epochs are kept" not in err
