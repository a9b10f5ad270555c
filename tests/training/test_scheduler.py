"""Training runs as Dask tasks (mtbert.training.scheduler): a real cluster on loopback (`dask scheduler` and two
`dask worker` processes), results equal to in-process runs byte for byte, faults (a run that raises, a worker
killed mid-run, a killed driver), the Optuna search killed and resumed, and the search figures;
bad scheduler addresses and files answered with one message, every wait on a cluster bounded and saying what it
waits for, one line (not the worker's traceback) per failed run.

Smoke profile with tiny overrides, every output in pytest's tmp dirs; one torch thread everywhere. Every
server these tests start listens on 127.0.0.1 only (checked)."""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import psutil
import pytest

from mtbert.analysis import ablations as B
from mtbert.core.experiments import run_config
from mtbert.data import datasets as D
from mtbert.results import store
from mtbert.settings import DEFAULT_SEED, Settings, repo_root
from mtbert.training import engine
from mtbert.training import scheduler
from mtbert.training import search as X
from mtbert.errors import UsageError
from mtbert.results.result_set import ResultSet

TINY = dict(n_train={"sst": 8}, n_dev=8, n_test=8, n_predict=4)
RUNS = [("t1_sst_pretrain", DEFAULT_SEED), ("t1_sst_finetune", DEFAULT_SEED)]
TIMING_FIELDS = ("wall_time_s", "environment", "finished_at")
PY = sys.executable
NAME = "t1_sst_pretrain"  # frozen encoder, cached features: a run takes about a second
DATA = D.default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "ids-sst-train.csv").exists(), reason="run `make data` first")


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):  # conftest.py
    yield


def child_env(**extra) -> dict:
    """The environment of the processes a test starts: lib/ importable, one thread, nothing from the user's
    MTBERT_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MTBERT_")}
    path = [str(repo_root() / "lib")] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env.update(PYTHONPATH=os.pathsep.join(dict.fromkeys(path)), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MTBERT_DEVICE="cpu", **extra)
    return env


def without_timing(r: dict) -> dict:
    r = copy.deepcopy(r)
    for k in TIMING_FIELDS:
        r.pop(k, None)
    for h in r["history"]:
        h.pop("seconds", None)
    return r


def prediction_files(root: Path, run_id: str) -> dict:
    d = root / "predictions" / "smoke" / run_id
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def listening(pids) -> list[str]:
    """The addresses that these processes (and their children) listen on."""
    out = []
    for pid in pids:
        try:
            procs = [psutil.Process(pid)] + psutil.Process(pid).children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            try:
                out += [c.laddr.ip for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
            except psutil.NoSuchProcess:
                pass
    return out


def wait_for(cond, timeout=180, what="condition"):
    t = time.time()
    while time.time() - t < timeout:
        if (v := cond()):
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="module")
def loopback_cluster(tmp_path_factory):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1; yields the scheduler file."""
    d = tmp_path_factory.mktemp("cluster")
    sfile = d / "scheduler.json"
    # the driver resubmits a run whose worker died once; the scheduler itself does not retry it
    env = child_env(DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0",
                    DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION="1.0")
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--scheduler-file",
                               str(sfile)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        wait_for(sfile.exists, 60, "the scheduler file")
        for i in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", "--scheduler-file", str(sfile), "--nworkers", "1",
                 "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
                 "--name", f"w{i}"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client
        with Client(scheduler_file=str(sfile), timeout=60) as c:
            c.wait_for_workers(2, timeout=120)
        yield {"file": str(sfile), "pids": [p.pid for p in procs]}
    finally:
        for p in procs[::-1]:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


# -- without training --------------------------------------------------------------------------------------

def test_summary_table_and_progress_name_every_run(settings_for):
    from mtbert.core.experiments import run_config
    S = settings_for("/tmp/unused")
    jobs = [scheduler.Job(f"run{i}", run_config("t1_sst_pretrain", "smoke"), S) for i in range(3)]
    table = scheduler.summary_table([scheduler.Outcome(jobs[0], "trained", "tcp://127.0.0.1:1", "cpu", 75.0),
                                 scheduler.Outcome(jobs[1], "failed", error="DataError: no file", attempts=2),
                                 scheduler.Outcome(jobs[2], "stored")])
    lines = table.splitlines()
    assert lines[0].split() == ["run", "worker", "device", "wall", "time", "status"]
    assert "1m15s" in lines[1] and "trained" in lines[1]
    assert "run1" in lines[2] and "failed (2 attempts): DataError: no file" in lines[2]
    import io
    buf = io.StringIO()
    p = scheduler.Progress(3, buf, bar=False)
    p.started("run0", "w0", "cpu")
    p.finished("run0", True, "trained")
    p.finished("run1", False, "failed: boom")
    out = buf.getvalue()
    assert "2/3 done, 0 running, 1 failed" in out and "run1: failed: boom" in out and "ETA" in out


def test_one_worker_on_a_cpu_and_threads_shared_out(settings_for):
    assert scheduler.default_jobs(settings_for("/tmp/unused"), 10) == 1
    env = scheduler.worker_environment(2, environ={})
    assert env["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))
    assert scheduler.worker_environment(2, environ={"OMP_NUM_THREADS": "3"}) == {"OMP_NUM_THREADS": "3",
                                                                            "MKL_NUM_THREADS": "3"}


def test_unreachable_scheduler_is_a_clear_error():
    t0 = time.monotonic()
    with pytest.raises(UsageError, match=r"nothing listens at 127.0.0.1:9 \(connection refused\).*--scheduler"):
        with scheduler.Cluster(1, "tcp://127.0.0.1:9", timeout=30):
            pass
    assert time.monotonic() - t0 < 5  # a refused port fails at once, not after the timeout


def test_a_local_cluster_listens_on_free_loopback_ports_only():
    """A command's own LocalCluster serves no dashboard; its scheduler's HTTP routes take a free loopback port,
    not the dashboard's 8787 (so two commands side by side do not compete for it)."""
    held = socket.socket()
    try:
        held.bind(("127.0.0.1", 8787))  # taken, as by a second command (or already taken by someone else)
    except OSError:
        pass
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with scheduler.Cluster(1) as client:
                http_port = client.cluster.scheduler.http_server.port
                addresses = listening([os.getpid()])
    finally:
        held.close()
    assert http_port != 8787
    assert not [w for w in caught if "8787" in str(w.message)]
    assert addresses and set(addresses) == {"127.0.0.1"}


def test_scheduler_setting_comes_from_the_environment():
    S = Settings.resolve(environ={"MTBERT_SCHEDULER": "tcp://127.0.0.1:8786"})
    assert S.scheduler == "tcp://127.0.0.1:8786"
    assert Settings.resolve(environ={}).scheduler is None


def test_stored_search_points_import_as_completed_trials():
    """The 32 stored points of the factorial grid become completed trials that the grid counts as visited;
    the search table still lists all 34 stored points."""
    S = X.search_settings()
    study = B.search_study(ResultSet.load(S))
    stored_grid = [p for p in X.grid()[2:] if X.stored_point(p, S)]
    assert len(study.trials) == len(stored_grid) > 0
    assert {t.user_attrs["point"] for t in study.trials} == {X.point_id(p) for p in stored_grid}
    assert len(X.unvisited(study)) == 2 ** len(X.AXES) - len(stored_grid)
    if len(stored_grid) == 2 ** len(X.AXES):
        assert X.unvisited(study) == []  # nothing of the grid would be trained again
    best = max(X.results(S), key=lambda r: r["dev"]["overall"])
    assert study.best_value == best["dev"]["overall"]
    assert len(B.search_table(ResultSet.load(S))) == len(X.results(S))


def test_search_figures_with_few_trials_do_not_fail():
    import optuna
    S = X.search_settings()
    full = B.search_study(ResultSet.load(S))
    for n in (0, 1, 2):
        study = optuna.create_study(direction="maximize")
        for t in full.trials[:n]:
            study.add_trial(t)
        figs = B.search_figures(ResultSet.load(S), study)
        assert figs and all(hasattr(f, "savefig") for f in figs.values())


def test_tied_search_importances_are_drawn_in_name_order(monkeypatch):
    """optuna lists parameters in set order, which changes with each process's hash seed; tied importances
    (the stored search has some) are drawn in name order, so the figure is the same at each render."""
    import optuna
    monkeypatch.setattr(optuna.importance.PedAnovaImportanceEvaluator, "evaluate",
                        lambda self, study, params=None, *, target=None: {"warmup": 0.4, "lr": 0.4, "head_lr": 0.2})
    fig = B.search_figures(ResultSet.load(X.search_settings()))["search_importances"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["head_lr", "warmup", "lr"]  # bottom to top


# -- a real cluster on loopback ---------------------------------------------------------------------------

@pytest.mark.training
def test_runs_on_a_loopback_cluster_equal_in_process_runs(settings_for, loopback_cluster, tmp_path):
    """Two smoke runs at once on two `dask worker` processes, stored by the driver, equal sequential in-process
    runs: the result JSON minus timing and environment fields, and every prediction file byte for byte."""
    here, there = tmp_path / "in_process", tmp_path / "cluster"
    S_here = settings_for(here)
    expected = {}
    for name, seed in RUNS:
        rid = engine.run(name, S_here, seed=seed, **TINY)["run_id"]
        expected[rid] = store.read_json(here / "results" / "smoke" / f"{rid}.json")
    S_there = settings_for(there, scheduler=loopback_cluster["file"])
    outcomes = scheduler.run_experiments(RUNS, S_there, scheduler.RunOptions(overrides=TINY))
    assert [o.status for o in outcomes] == ["trained", "trained"]
    assert len({o.worker for o in outcomes}) == 2  # side by side, one per worker
    addresses = listening(loopback_cluster["pids"])
    assert len(addresses) >= 5 and all(ip == "127.0.0.1" for ip in addresses), addresses
    for o in outcomes:
        rid = o.record["run_id"]
        stored = store.read_json(there / "results" / "smoke" / f"{rid}.json")
        assert without_timing(stored) == without_timing(expected[rid])
        assert prediction_files(there, rid) == prediction_files(here, rid)
    assert not list((there / "results").rglob("*.tmp"))  # nothing half-written


@pytest.mark.training
def test_a_killed_worker_is_retried_once_then_reported_and_a_rerun_resumes(loopback_cluster, tmp_path):
    """The worker training a 3-epoch run is killed after its first epoch, and again on the retry: the driver
    names the run, exits 1, and the other workers' state is untouched; the same command then completes, resuming
    from the checkpoint."""
    args = [sys.executable, "-m", "mtbert", "run", "t1_sst_finetune", "--profile", "smoke", "--store-dir",
            str(tmp_path), "--scheduler", loopback_cluster["file"], "--no-progress",
            "--set", "n_train=" + json.dumps({"sst": 24}), "--set", "n_dev=8", "--set", "n_test=8",
            "--set", "epochs=3"]
    ck_dir = tmp_path / "checkpoints" / "smoke"  # <run_id>.<config hash>.last.pt
    p = subprocess.Popen(args, env=child_env(), stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    seen = []
    kills = 0
    try:
        for line in p.stderr:
            seen.append(line)
            m = re.search(r"t1_sst_finetune: started on \S+ pid (\d+)", line)
            if m:
                if kills == 0:
                    wait_for(lambda: any(ck_dir.glob("t1_sst_finetune.*.last.pt")), 300, "the first epoch's checkpoint")
                os.kill(int(m.group(1)), signal.SIGKILL)
                kills += 1
        p.wait(60)
    finally:
        if p.poll() is None:
            p.kill()
    err = "".join(seen)
    assert kills == 2, err
    assert p.returncode == 1, err
    assert "t1_sst_finetune: its worker" in err and "attempt 2 of 2" in err
    assert re.search(r"t1_sst_finetune: .*died 2 times", err), err
    assert not (tmp_path / "results" / "smoke" / "t1_sst_finetune.json").exists()
    assert any(ck_dir.glob("t1_sst_finetune.*.last.pt"))  # the first epoch is kept for the re-run
    again = subprocess.run(args, env=child_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    r = store.read_json(tmp_path / "results" / "smoke" / "t1_sst_finetune.json")
    assert [h["epoch"] for h in r["history"]] == [1, 2, 3]


@pytest.mark.training
def test_a_run_that_raises_is_named_and_the_others_finish(settings_for, tmp_path):
    """A worker that lacks the data folder raises; the driver names that run and its error, the other run is
    stored, and raise_for_failures (the commands' exit code) fails."""
    from mtbert.core.experiments import run_config
    S = settings_for(tmp_path)
    good = scheduler.Job("t1_sst_pretrain", run_config("t1_sst_pretrain", "smoke", **TINY), S)
    bad = scheduler.Job("t1_sst_finetune", run_config("t1_sst_finetune", "smoke", **TINY),
                    S.replace(data_dir=tmp_path / "no-data-here"))
    outcomes = scheduler.train_jobs([good, bad], scheduler.RunOptions(n_workers=2))
    assert [o.status for o in outcomes] == ["trained", "failed"]
    assert "no-data-here" in outcomes[1].error or "Error" in outcomes[1].error
    assert (tmp_path / "results" / "smoke" / "t1_sst_pretrain.json").exists()
    with pytest.raises(scheduler.TrainingFailed, match="t1_sst_finetune"):
        scheduler.raise_for_failures(outcomes)


@pytest.mark.training
def test_epoch_scores_reach_the_driver_which_can_stop_the_run(settings_for, tmp_path):
    """With report_epochs (multi-epoch searches), the worker sends each finished epoch's dev score and waits
    for the driver's answer; "prune" stops the run after that epoch, and its resume state is dropped."""
    from mtbert.training.checkpoints import RunCheckpoints
    from mtbert.core.experiments import run_config
    S = settings_for(tmp_path)
    cfg = run_config("t1_sst_finetune", "smoke", **{**TINY, "epochs": 3})
    calls, ended = [], []
    with scheduler.Cluster(1) as client:
        driver = scheduler.Driver(client, on_epoch=lambda key, epoch, value: calls.append((key, epoch, value)) or True)
        driver.submit(scheduler.Job("trial-0", cfg, S, report_epochs=True))
        while driver.pending:
            ended += driver.collect()
    [(job, result, exc, attempt)] = ended
    assert exc is None and result.output is None and result.pruned_after == 1
    assert [c[:2] for c in calls] == [("trial-0", 1)] and 0.0 <= calls[0][2] <= 1.0
    assert not RunCheckpoints(cfg, S).last.exists()
    assert not (tmp_path / "results").exists()  # a pruned run stores nothing


@pytest.mark.training
def test_a_killed_driver_takes_its_local_cluster_with_it(tmp_path):
    """`run --jobs 2` starts a LocalCluster whose workers (listening on 127.0.0.1 only) are its children; after
    SIGKILL of the command no worker process survives."""
    args = [sys.executable, "-m", "mtbert", "run", "t1_sst_pretrain", "t1_sst_finetune", "--profile", "smoke",
            "--store-dir", str(tmp_path), "--jobs", "2", "--no-progress",
            "--set", "n_train=" + json.dumps({"sst": 64}), "--set", "epochs=3"]
    p = subprocess.Popen(args, env=child_env(), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    pids = []
    try:
        for line in p.stderr:
            m = re.search(r"started on \S+ pid (\d+)", line)
            if m:
                pids.append(int(m.group(1)))
            if len(pids) == 2:
                break
        family = [c.pid for c in psutil.Process(p.pid).children(recursive=True)]
        assert set(pids) <= set(family)
        addresses = listening([p.pid])
        assert addresses and all(ip == "127.0.0.1" for ip in addresses), addresses
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    gone = lambda: not any(psutil.pid_exists(q) and psutil.Process(q).status() != psutil.STATUS_ZOMBIE
                           for q in family)
    wait_for(gone, 30, "the workers of the killed driver to exit")


# -- the search --------------------------------------------------------------------------------------------

SEARCH_SCALE = dict(n_train={"sst": 4, "quora": 4, "sts": 4}, quora_per_epoch=4, epochs=1, n_dev=6, n_test=6,
                    predictions=(), batch_size=4)

SEARCH_DRIVER = """
import sys
from mtbert.training import search as X
if __name__ == "__main__":
    S = X.search_settings(sys.argv[1])
    X.search(S, "grid", n_trials=int(sys.argv[2]), n_workers=2, scale=%r)
""" % (SEARCH_SCALE,)


@pytest.mark.training
def test_search_killed_and_resumed_trains_no_trial_twice(tmp_path):
    """An Optuna search of 3 trials on two workers, its driver killed once the first point is stored, then
    resumed: the trials left running are taken up again (each told FAIL and resumed by a completed trial of its
    point), no point is trained twice, every other trial completes."""
    script = tmp_path / "drive.py"
    script.write_text(SEARCH_DRIVER)
    root = tmp_path / "store"
    p = subprocess.Popen([sys.executable, str(script), str(root), "3"], env=child_env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: [f for f in (root / "results" / "search").glob("*.json")], 600,
                         "the first stored point")
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    before = {f.name: store.read_json(f)["finished_at"] for f in (root / "results" / "search").glob("*.json")}
    assert before
    S = X.search_settings(root)
    out = X.search(S, "grid", n_trials=0, n_workers=2, scale=SEARCH_SCALE)
    study = out["study"]
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    taker = {n: t.user_attrs["point"] for t in done for n in t.user_attrs.get("resumes", [])}
    left = [t for t in study.trials if t not in done]
    assert all(t.number in taker and t.user_attrs.get("point", taker[t.number]) == taker[t.number]
               for t in left), [(t.number, t.state, t.user_attrs) for t in study.trials]
    points = [t.user_attrs["point"] for t in done]
    assert len(points) == len(set(points)) >= 2
    after = {f.name: store.read_json(f)["finished_at"] for f in (root / "results" / "search").glob("*.json")}
    assert {k: after[k] for k in before} == before  # a stored point was not trained again
    assert not set(out["trained"]) & {k[:-len(".json")] for k in before}
    again = X.search(S, "grid", n_trials=0, n_workers=1, scale=SEARCH_SCALE)
    assert again["trained"] == [] and len(again["study"].trials) == len(study.trials)


# -- bad addresses and files get one message; every wait is bounded ----------------------------------------------------

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


# -- the worker's logger stays quiet: the driver's one line is what the user sees --------------------------------------

def test_worker_log_of_a_failed_training_task_is_dropped():
    import logging
    f = scheduler._QuietTrainFailures()
    rec = lambda msg, *args: logging.LogRecord("distributed.worker", logging.ERROR, "", 0, msg, args, None)
    assert not f.filter(rec("Compute Failed\nKey:       %s\n", "train-t1_sst_pretrain-1-123"))
    assert f.filter(rec("Compute Failed\nKey:       %s\n", "someone-elses-task"))
    assert f.filter(rec("Worker stopped"))


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
