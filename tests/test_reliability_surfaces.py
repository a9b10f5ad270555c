"""Third round of reliability probes: nothing is removed before its replacement exists, checks see through links,
every wait on a cluster is bounded and says what it waits for, and the newer surfaces (cluster, study, export,
predictor, `--set`) answer a bad input with one message naming the fix. Everything writes under pytest's tmp
dirs; runs use the smoke profile with tiny overrides; servers bind to 127.0.0.1 only.
"""
from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mtbert import cli
from mtbert.data import datasets as D
from mtbert.errors import MtbertError, UsageError
from mtbert.results import store
from mtbert.settings import Settings, repo_root
from mtbert.training import engine
from mtbert.training import scheduler
from mtbert.core.experiments import run_config

PY = sys.executable
DATA = D.default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "ids-sst-train.csv").exists(), reason="run `make data` first")
NAME = "t1_sst_pretrain"  # frozen encoder, cached features: a run takes about a second
TINY = dict(n_train={"sst": 6}, batch_size=2, n_dev=6, n_test=6, epochs=2)
SST = ("ids-sst-train.csv", "ids-sst-dev.csv")  # the files of the `data` fixture (conftest.py)


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):  # conftest.py
    yield




@pytest.fixture
def S(tmp_path, data) -> Settings:
    return Settings.resolve(profile="smoke", device="cpu", store_root=tmp_path / "store", data_dir=data,
                            output_root=tmp_path / "out", progress=False)


def child_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MTBERT_")}
    env.update(PYTHONPATH=str(repo_root() / "lib"), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", **extra)
    return env


def stored_bytes(S) -> bytes:
    return store.result_path(run_config(NAME, "smoke", **TINY), S).read_bytes()


# -- --force: the stored result stays until the new one is written -------------------------------------------

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


# -- links: a data file is checked as what it points to, under the name the run asked for ------------------

@needs_data
@pytest.mark.training
def test_a_linked_doctored_data_file_is_refused(S, data, tmp_path):
    doctored = tmp_path / "elsewhere" / "doctored.csv"
    doctored.parent.mkdir()
    text = (data / "ids-sst-dev.csv").read_text().splitlines(keepends=True)
    doctored.write_text("".join(text[:1] + [line.replace("\t4\n", "\t0\n") for line in text[1:]]))
    (data / "ids-sst-dev.csv").unlink()
    (data / "ids-sst-dev.csv").symlink_to(doctored)
    steps = []
    with pytest.raises(D.DataError) as ei:
        engine.run(NAME, S, on_step=lambda e, s: steps.append(s), **TINY)
    msg = str(ei.value)
    assert "'ids-sst-dev.csv'" in msg and f"a link to {doctored}" in msg and "published checksum" in msg
    assert f"mtbert data --dest {data}`" in msg  # the fix repairs the folder the run reads
    assert steps == [] and not store.result_path(run_config(NAME, "smoke", **TINY), S).exists()
    # a link to the genuine file is that file: accepted, and recorded under the name the run asked for
    genuine = tmp_path / "elsewhere" / "copy-of-dev.csv"
    shutil.copy(DATA / "ids-sst-dev.csv", genuine)
    (data / "ids-sst-dev.csv").unlink()
    (data / "ids-sst-dev.csv").symlink_to(genuine)
    r = engine.run(NAME, S, **TINY)
    assert set(r["data"]["files"]) == set(SST)


def test_repair_hint_names_the_folder_and_what_cannot_be_fetched(tmp_path):
    from mtbert.data.fetch import repair_hint
    assert repair_hint("ids-sst-dev.csv", repo_root() / "data").startswith("run `python -m mtbert data` (or")
    assert f"--dest {tmp_path}`" in repair_hint("ids-sst-dev.csv", tmp_path)
    quora = repair_hint("quora-test-student.csv", tmp_path)
    assert "cannot fetch it" in quora and "replace it with the official file or remove it" in quora


# -- the cluster: addresses and files get one message; every wait is bounded -------------------------------

@pytest.mark.parametrize("address,said", [
    ("garbage", "neither an address with a port"),
    ("127.0.0.1", "neither an address with a port"),
    ("udp://127.0.0.1:8786", "unknown transport 'udp'"),
    ("tcp://127.0.0.1:1", "connection refused"),
    ("tcp://nosuchhost.invalid:8786", "cannot reach the Dask scheduler"),
])
def test_bad_scheduler_addresses_fail_at_once_with_one_message(address, said):
    t0 = time.monotonic()
    with pytest.raises(scheduler.ClusterUnavailable, match=said) as ei:
        with scheduler.Cluster(1, address, timeout=30):
            pass
    assert time.monotonic() - t0 < 10 and "--scheduler" in str(ei.value)


@pytest.mark.parametrize("content,said", [
    ("{not json", "is damaged"),
    ('["tcp://127.0.0.1:1"]', "holds no scheduler address"),
    ('{"address": 5}', "holds no scheduler address"),
    ('{"address": "tcp://127.0.0.1:1"}', "connection refused"),
])
def test_bad_scheduler_files_are_named(tmp_path, content, said):
    f = tmp_path / "scheduler.json"
    f.write_text(content)
    with pytest.raises(scheduler.ClusterUnavailable, match=said) as ei:
        with scheduler.Cluster(1, str(f), timeout=30):
            pass
    assert str(f) in str(ei.value) or "127.0.0.1:1" in str(ei.value)


def test_a_missing_scheduler_file_is_waited_for_within_the_timeout(tmp_path, capsys):
    f = tmp_path / "never" / "scheduler.json"
    t0 = time.monotonic()
    with pytest.raises(scheduler.ClusterUnavailable, match=r"did not appear within 1 s \(--cluster-timeout"):
        with scheduler.Cluster(1, str(f), timeout=1):
            pass
    assert 1 <= time.monotonic() - t0 < 10
    assert f"waiting up to 1 s (--cluster-timeout / MTBERT_CLUSTER_TIMEOUT) for the scheduler file {f}" in \
        capsys.readouterr().err


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


@pytest.fixture
def lone_scheduler(tmp_path):
    """A `dask scheduler` on 127.0.0.1 with no worker; yields (scheduler file, env of its workers)."""
    sfile = tmp_path / "scheduler.json"
    env = child_env()
    proc = subprocess.Popen([PY, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                             "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(sfile)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.monotonic()
        while not sfile.exists():
            assert time.monotonic() - t0 < 60, "the scheduler did not start"
            time.sleep(0.2)
        yield sfile, env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.slow
def test_a_scheduler_without_workers_is_refused_after_the_timeout(lone_scheduler, capsys):
    sfile, _ = lone_scheduler
    t0 = time.monotonic()
    with pytest.raises(scheduler.ClusterUnavailable, match=r"has no worker after 2 s .*dask worker tcp://127.0.0.1:"):
        with scheduler.Cluster(1, str(sfile), timeout=2):
            pass
    assert time.monotonic() - t0 < 30
    assert "waiting up to 2 s (--cluster-timeout" in capsys.readouterr().err


@pytest.mark.slow
def test_runs_fail_with_a_message_when_the_only_worker_dies(lone_scheduler):
    """An external cluster whose only worker is killed mid-run: the pending run ends as failed (NoWorkers)
    within the cluster timeout, instead of waiting for a worker forever."""
    sfile, env = lone_scheduler
    worker = subprocess.Popen([PY, "-m", "dask", "worker", "--scheduler-file", str(sfile), "--nworkers", "1",
                               "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard", "--no-nanny"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with scheduler.Cluster(1, str(sfile), timeout=120) as client:  # the worker takes seconds to start
            driver = scheduler.Driver(client, worker_timeout=3)
            job = scheduler.Job("sleeper", run_config(NAME, "smoke"), Settings())
            driver.futures[client.submit(time.sleep, 600, pure=False, key="train-sleeper")] = (job, 1)
            time.sleep(1)
            worker.kill()
            t0, ended = time.monotonic(), []
            while not ended:
                assert time.monotonic() - t0 < 60, "the driver waited past its bound"
                ended = driver.collect(timeout=0.5)
            (j, result, exc, attempt), = ended
            assert j is job and result is None and isinstance(exc, scheduler.NoWorkers)
            assert "no worker for 3 s (--cluster-timeout" in str(exc) and driver.pending == 0
    finally:
        worker.kill()
        worker.wait()


def test_worker_log_of_a_failed_training_task_is_dropped():
    import logging
    f = scheduler._QuietTrainFailures()
    rec = lambda msg, *args: logging.LogRecord("distributed.worker", logging.ERROR, "", 0, msg, args, None)
    assert not f.filter(rec("Compute Failed\nKey:       %s\n", "train-t1_sst_pretrain-1-123"))
    assert f.filter(rec("Compute Failed\nKey:       %s\n", "someone-elses-task"))
    assert f.filter(rec("Worker stopped"))


# -- --set: a key is honoured or refused, never ignored --------------------------------------------------------

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


# -- export targets: written aside and moved into place; never "" (the current folder), links resolved ---------

@pytest.fixture(scope="module")
def stored_run(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("store")
    S = Settings.resolve(profile="smoke", device="cpu", store_root=root, output_root=root, progress=False)
    engine.run(NAME, S)
    return S


@needs_data
@pytest.mark.training
@pytest.mark.parametrize("out", ["", "   "])
def test_export_to_an_empty_out_is_a_usage_error(stored_run, tmp_path, monkeypatch, capsys, out):
    from mtbert.inference.export import export
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("mine")
    with pytest.raises(UsageError, match="--out is empty"):
        export(NAME, stored_run, 11711, out, force=True)
    assert cli.main(["export", NAME, "--profile", "smoke", "--store-dir", str(stored_run.store_root), "--out", out,
                     "--force"]) == 2
    assert "--out is empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"] and (tmp_path / "README.md").read_text() == "mine"


@needs_data
@pytest.mark.training
def test_export_that_cannot_be_written_is_one_message(stored_run, tmp_path, monkeypatch):
    from mtbert.inference import export as X
    out = tmp_path / "ro" / "model"

    def read_only(*a, **k):  # what a read-only parent answers (chmod does not stop root)
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(k.get("dir", "")))
    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    with pytest.raises(X.ExportError, match=rf"cannot write the export to {out}: .*EACCES.*nothing was written"):
        X.export(NAME, stored_run, 11711, out)
    monkeypatch.undo()
    assert not out.exists()


@needs_data
@pytest.mark.training
def test_export_refuses_a_folder_that_appears_meanwhile(stored_run, tmp_path, monkeypatch):
    from mtbert.inference import export as X
    out = tmp_path / "model"
    real = X.save_encoder

    def and_someone_creates_out(*a, **k):
        out.mkdir()
        (out / "theirs.txt").write_text("theirs")
        return real(*a, **k)
    monkeypatch.setattr(X, "save_encoder", and_someone_creates_out)
    with pytest.raises(X.ExportError, match="appeared or changed while the export was written"):
        X.export(NAME, stored_run, 11711, out)
    assert sorted(p.name for p in out.iterdir()) == ["theirs.txt"]  # never merged into it
    assert not list(tmp_path.glob(".model.*.tmp"))


@needs_data
@pytest.mark.training
def test_export_through_a_link_writes_the_folder_it_points_to(stored_run, tmp_path):
    from mtbert.inference import export as X
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    r = X.export(NAME, stored_run, 11711, tmp_path / "link")
    assert r["out"] == tmp_path / "real" and (tmp_path / "real" / "model.safetensors").is_file()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(X.ExportError, match="which does not exist"):
        X.export(NAME, stored_run, 11711, tmp_path / "dangling")
    assert not (tmp_path / "nowhere").exists()


# -- the Try-it predictor: one message per bad input ------------------------------------------------------------

def test_predictor_inputs():
    from mtbert.inference.predictor import sentences
    assert sentences("a good film") == ["a good film"]  # one sentence, never its 11 characters
    assert sentences(("a", "b")) == ["a", "b"]
    for bad, said in [(None, "got NoneType"), (5, "got int"), (b"bytes", "got bytes"), (["ok", None], r"\[1\] is NoneType"),
                      (["ok", 3.5], r"\[1\] is float"), (["fine", "bad \ud800 text"], r"\[1\] is not valid Unicode")]:
        with pytest.raises(UsageError, match=said):
            sentences(bad, "texts")


def test_predictor_scores_a_plain_string_as_one_sentence_and_refuses_bad_pairs(monkeypatch):
    import numpy as np
    from mtbert.inference.predictor import Predictor
    P = Predictor.__new__(Predictor)
    seen = []

    def outputs(task, a, b=None):
        seen.append((task, list(a), None if b is None else list(b)))
        n = len(a)
        return (np.zeros((n, 5)), np.zeros(n)) if task == "sst" else (np.zeros(n), np.zeros(n))
    monkeypatch.setattr(P, "_outputs", outputs, raising=False)
    assert P.sentiment("a good film").shape == (1, 5) and seen[-1] == ("sst", ["a good film"], None)
    assert len(P.sentiment_table("a good film")) == 1
    assert P.paraphrase("how do i learn python ?", "how to learn python ?").shape == (1,)
    for bad, said in [("a good film", "expected a list of"), (None, "expected a list of"),
                      ([("only one",)], r"pairs\[0\] .* not a \(sentence 1, sentence 2\) pair"),
                      (["ab"], r"pairs\[0\]")]:
        with pytest.raises(UsageError, match=said):
            P.pairs_table(bad)
    with pytest.raises(UsageError, match="not valid Unicode"):
        P.similarity(["x"], ["\udfff"])


# -- the study: its storage and database get one message; searches side by side ---------------------------------

@pytest.fixture
def search_S(tmp_path):
    from mtbert.training import search
    return search.search_settings(tmp_path / "store")


@pytest.mark.parametrize("case", ["garbage url", "folder", "random bytes", "truncated", "read-only"])
def test_bad_study_storage_is_one_message(search_S, tmp_path, monkeypatch, case):
    import optuna
    from mtbert.training import search
    db = search.search_dir(search_S) / "study.db"
    db.parent.mkdir(parents=True)
    url = f"sqlite:///{db}"
    if case == "garbage url":
        url, said = "garbage", "is not a database URL"
    elif case == "folder":
        db.mkdir()
        said = "is a folder, not a database file"
    elif case == "random bytes":
        db.write_bytes(os.urandom(4096))
        said = "is not an SQLite database.*move it aside .*rebuilds the study from the stored points"
    elif case == "truncated":
        search.open_study(search_S, url)
        db.write_bytes(db.read_bytes()[:3000])
        said = "cannot be used .*DatabaseError.*move it aside"
    else:
        import sqlite3
        import sqlalchemy.exc

        def read_only(*a, **k):
            err = sqlite3.OperationalError("attempt to write a readonly database")
            raise optuna.exceptions.StorageInternalError("an error occurred") from \
                sqlalchemy.exc.OperationalError("INSERT", {}, err)
        monkeypatch.setattr(optuna, "create_study", read_only)
        said = "cannot be used .*readonly.*make it \\(and its folder\\) writable"
    with pytest.raises(search.StudyUnavailable, match=said):
        search.open_study(search_S, url)
    with pytest.raises(search.StudyUnavailable, match=said):
        search.search(search_S, storage=url, n_trials=1)


def test_an_empty_study_database_is_rebuilt(search_S):
    from mtbert.training import search
    db = search.search_dir(search_S) / "study.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    study = search.open_study(search_S, f"sqlite:///{db}")
    assert study.study_name == search.study_name(search.SCALE) and db.stat().st_size > 0


@pytest.mark.parametrize("argv,said", [
    (["--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["--n-trials", "0"], "--n-trials must be at least 1"),
    (["--storage", "garbage"], "--storage 'garbage' is not a database URL"),
    (["--store-dir", ""], "--store-dir is empty"),
])
def test_search_command_errors_are_one_line(argv, said, search_S, capsys):
    from mtbert.training import search
    assert search.main(["--no-references", "--store-dir", str(search_S.store_root)] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mtbert search: error: ") and said in err and err.count("\n") == 1


def test_a_second_search_on_the_same_storage_is_refused_naming_the_first(search_S):
    from mtbert.training import search
    url = search.default_study_url(search_S)
    search.search_dir(search_S).mkdir(parents=True)
    with search.search_lock(search_S, url):
        with pytest.raises(search.StudyUnavailable, match=rf"another search is using .* \(pid {os.getpid()} on "):
            search.search(search_S, storage=url, n_trials=1)
    assert not (search.search_dir(search_S) / "study.db").exists()  # refused before the database was created


class _Cluster:
    def __init__(self, *a, **k):
        pass

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


class _FailingDriver:
    """Takes jobs and ends each as failed at once (nothing trains); records what was submitted."""
    submitted: list = []

    def __init__(self, client, progress=None, on_epoch=None, **kw):
        self.jobs = []

    @property
    def pending(self):
        return len(self.jobs)

    def submit(self, job, attempt=1):
        _FailingDriver.submitted.append(job.key)
        self.jobs.append(job)

    def collect(self, timeout=1.0):
        out, self.jobs = [(j, None, RuntimeError("not trained in this test"), 1) for j in self.jobs], []
        return out

    def cancel(self):
        self.jobs = []


def test_a_tpe_search_that_asks_for_stored_points_moves_on_to_new_ones(search_S, monkeypatch):
    import itertools
    from mtbert.training import search
    points = [search.point_of(dict(zip(search.AXES, c))) for c in itertools.product(*search.AXES.values())]
    new = {search.point_id(p) for p in points[-3:]}
    fake = {"dev": {"overall": 0.5, "sst": 0.4}, "test": {"overall": 0.5}, "wall_time_s": 1.0,
            "history": [{"epoch": 1, "dev": {"overall": 0.5}}]}
    monkeypatch.setattr(search, "stored_point", lambda p, S, scale=None: None if search.point_id(p) in new else fake)
    monkeypatch.setattr(search.scheduler, "Cluster", _Cluster)
    monkeypatch.setattr(search.scheduler, "Driver", _FailingDriver)
    _FailingDriver.submitted = []
    out = search.search(search_S, sampler="tpe", n_trials=1)
    assert len(_FailingDriver.submitted) == 1 and _FailingDriver.submitted[0] in new  # a new point, once
    assert [k for k, _ in out["failed"]] == _FailingDriver.submitted


class _EpochDriver(_FailingDriver):
    """Sends each job's first epoch score (0.1) to the search's on_epoch: a job it prunes ends pruned after
    that epoch, any other as failed."""

    def __init__(self, client, progress=None, on_epoch=None, **kw):
        super().__init__(client)
        self.on_epoch = on_epoch

    def collect(self, timeout=1.0):
        from types import SimpleNamespace
        out = [(j, SimpleNamespace(pruned_after=1, output=None), None, 1) if self.on_epoch(j.key, 1, 0.1)
               else (j, None, RuntimeError("not pruned"), 1) for j in self.jobs]
        self.jobs = []
        return out


def test_a_trial_below_the_median_of_the_stored_points_is_pruned(search_S, monkeypatch):
    """A two-epoch search: each trial reports its first epoch's dev score, and one below the stored points'
    median at that epoch is pruned (its score kept as its intermediate value)."""
    from mtbert.training import search
    new = {search.point_id(search.point_of(params)) for params in search.factorial()[-2:]}
    fake = {"dev": {"overall": 0.5}, "test": {"overall": 0.5}, "wall_time_s": 1.0,
            "history": [{"epoch": 1, "dev": {"overall": 0.5}}, {"epoch": 2, "dev": {"overall": 0.5}}]}
    monkeypatch.setattr(search, "stored_point", lambda p, S, scale=None: None if search.point_id(p) in new else fake)
    monkeypatch.setattr(search.scheduler, "Cluster", _Cluster)
    monkeypatch.setattr(search.scheduler, "Driver", _EpochDriver)
    out = search.search(search_S, n_trials=2, scale=search.scale_for(epochs=2))
    assert set(out["pruned"]) == new and out["failed"] == [] and out["trained"] == []
    pruned = [t for t in out["study"].trials if t.state.name == "PRUNED"]
    assert {t.user_attrs["point"] for t in pruned} == new
    assert all(t.intermediate_values == {1: 0.1} and t.value == 0.1 for t in pruned)


# -- the worker's logger stays quiet: the driver's one line is what the user sees ------------------------------

@needs_data
@pytest.mark.slow
def test_a_failed_run_is_reported_once_without_the_workers_traceback(tmp_path):
    from mtbert.model.checkpoint import resolve_encoder
    enc = tmp_path / "enc"
    shutil.copytree(resolve_encoder("default"), enc)
    cfg = (enc / "config.json").read_text().replace('"num_hidden_layers": 6', '"num_hidden_layers": 1000000000')
    assert "1000000000" in cfg
    (enc / "config.json").write_text(cfg)
    p = subprocess.run([PY, "-m", "mtbert", "run", NAME, "--profile", "smoke", "--device", "cpu", "--no-progress",
                        "--encoder", str(enc), "--store-dir", str(tmp_path / "store"), "--data-dir", str(DATA)],
                       env=child_env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 1 and "num_hidden_layers is 1000000000" in p.stderr
    assert "Compute Failed" not in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("flag", ["--store-dir", "--data-dir", "--encoder-dir"])
def test_an_empty_folder_flag_is_a_usage_error(flag, capsys):
    assert cli.main(["status", "--profile", "smoke", flag, ""]) == 2
    err = capsys.readouterr().err
    assert f"{flag} is empty" in err and "leave the setting out" in err and err.count("\n") == 1
