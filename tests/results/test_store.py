"""The results store (mtbert.results.store): concurrent writers never remove each other's files, a run lock keeps
two trainings of one run id apart and names the holder, files take the user's umask; a damaged, malformed or huge
result file is one message naming it; a store that cannot be written is found before anything trains. Everything
writes under pytest's tmp dirs."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtbert.core.experiments import run_config
from mtbert.data import datasets as D
from mtbert.errors import MtbertError
from mtbert.results import store

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
DATA = D.default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "ids-sst-train.csv").exists(), reason="run `make data` first")
ENV = {**os.environ, "PYTHONPATH": str(REPO / "lib"), "OMP_NUM_THREADS": "1"}
NAME = "t1_sst_pretrain"  # frozen encoder, cached features: a run takes about a second (conftest.py's `run`)
TINY = dict(n_train={"sst": 6}, batch_size=2, n_dev=6, n_test=6, epochs=2)  # its overrides (conftest.py's TINY)


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):  # conftest.py
    yield


# -- concurrent writers, the run lock, the umask -----------------------------------------------------------------------

def test_stale_tmp_sweep_spares_live_writers(tmp_path):
    target = tmp_path / "r.json"
    dead = subprocess.Popen([PY, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([PY, "-c", "import time; time.sleep(30)"])
    try:
        files = {who: tmp_path / f".r.json.{pid}.abc123.tmp" for who, pid in
                 (("dead", dead.pid), ("live", live.pid), ("me", os.getpid()))}
        files["legacy"] = tmp_path / ".r.json.k1ll3d.tmp"  # an older version's name: no pid
        for f in files.values():
            f.write_text("half")
        store.write_json(target, {"ok": 1})
        assert not files["dead"].exists() and not files["legacy"].exists()
        assert files["live"].exists() and files["me"].exists()
    finally:
        live.kill()
        live.wait()


def test_two_processes_writing_one_file_at_once_both_succeed(tmp_path):
    code = ("import sys; from mtbert.results import store\n"
            "for i in range(150): store.write_text(sys.argv[1], 'x' * 100_000)\n")
    target = tmp_path / "tables" / "table1.csv"
    procs = [subprocess.Popen([PY, "-c", code, str(target)], env=ENV, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert target.read_text() == "x" * 100_000 and not list(target.parent.glob(".*.tmp"))


def test_run_lock_refuses_a_second_process_naming_the_first(settings, tmp_path, lock_holder):
    S = settings(tmp_path)
    cfg = run_config("t1_sst_pretrain", "smoke")
    with lock_holder(S.store_root, "t1_sst_pretrain") as holder:
        with pytest.raises(store.RunLocked) as ei:
            with store.run_lock(cfg, S):
                pass
        msg = str(ei.value)
        assert f"pid {holder.pid}" in msg and "started at" in msg and "t1_sst_pretrain" in msg
    with store.run_lock(cfg, S):  # the holder's death released it
        pass


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_are_created_with_the_users_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        store.write_json(tmp_path / "r.json", {"a": 1})
        store.write_text(tmp_path / "t.csv", "a\n")
    finally:
        os.umask(old)
    assert {(tmp_path / n).stat().st_mode & 0o777 for n in ("r.json", "t.csv")} == {mode}


# -- damaged, malformed or huge result files are named -----------------------------------------------------------------

@pytest.mark.training
@needs_data
@pytest.mark.parametrize("content", ['{"run_id": "t1_sst_pre', "[1, 2]", "\xff\xfe", '{"dev": {}}'])
def test_damaged_results_json_is_named(S, data, content, run, paths):
    cfg, result, _ = paths(S)
    result.parent.mkdir(parents=True)
    result.write_bytes(content.encode("latin-1"))
    for call in (lambda: run(S, data), lambda: store.load_result(NAME, S.replace(data_dir=data), **TINY)):
        with pytest.raises(store.ResultFileError) as ei:
            call()
        assert isinstance(ei.value, MtbertError) and str(result) in str(ei.value) and "--force" in str(ei.value)
    assert run(S, data, force=True)["run_id"] == cfg.run_id  # --force replaces it


def test_json_reads_have_a_size_limit(tmp_path, monkeypatch):
    p = tmp_path / "r.json"
    with open(p, "wb") as f:  # sparse: 2 GB on paper, nothing on disk
        f.write(b'{"config_hash": "x", "a": "')
        f.truncate(2 * 2**30)
    t = time.perf_counter()
    with pytest.raises(store.ResultFileError) as ei:
        store.read_result(p)
    assert time.perf_counter() - t < 2 and str(p) in str(ei.value) and "64 MiB" in str(ei.value)


@pytest.mark.parametrize("content,what", [
    ("[" * 100_000, "nested too deep"),
    ('{"config_hash": "abc", "dev": "0.9"}', "'dev'"),
    ('{"config_hash": "abc", "dev": {"sst": "high"}}', "'dev'"),
    ('{"config_hash": "abc", "dev": {}, "test": [1]}', "'test'"),
    ('{"config_hash": "abc", "dev": {}, "data": "x"}', "'data'"),
])
def test_malformed_result_is_named(tmp_path, content, what):
    p = tmp_path / "r.json"
    p.write_text(content)
    with pytest.raises(store.ResultFileError) as ei:
        store.read_result(p)
    assert str(p) in str(ei.value) and what in str(ei.value) and "--force" in str(ei.value)


# -- a store that cannot be written ------------------------------------------------------------------------------------

@pytest.mark.parametrize("err", ["EROFS", "ENOSPC", "EACCES"])
def test_write_probe_finds_a_store_that_cannot_be_written(settings, tmp_path, monkeypatch, err):
    import errno
    S = settings(tmp_path)
    real = os.write

    def failing(fd, data):
        raise OSError(getattr(errno, err), os.strerror(getattr(errno, err)))
    monkeypatch.setattr(os, "write", failing)
    with pytest.raises(store.StoreNotWritable) as ei:
        store.check_writable(S)
    monkeypatch.setattr(os, "write", real)
    msg = str(ei.value)
    assert err in msg and str(S.results_dir) in msg and "--store-dir" in msg and "Nothing was trained" in msg
    assert not list(S.results_dir.glob(".write-probe*"))
    store.check_writable(S)  # writable again: no error, nothing left
    assert not [p for d in (S.results_dir, S.predictions_dir, S.checkpoints_dir) for p in d.iterdir()]


def test_write_probe_finds_a_store_folder_that_is_a_file(settings, tmp_path):
    S = settings(tmp_path)
    S.store_root.mkdir()
    (S.store_root / "results").write_text("")
    with pytest.raises(store.StoreNotWritable, match="results"):
        store.check_writable(S)
