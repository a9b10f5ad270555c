"""Resuming a run (mtbert.training.checkpoints, the engine): its checkpoints are plain data that load with
weights_only=True (a crafted one runs no code) and belong to one configuration and its data files; an interrupt, a
SIGKILL mid-write, a full disk or a damaged best checkpoint leaves nothing stale and is one message that says
truthfully what was kept; a store that cannot be written, or a run of the same id under way, is refused before
anything trains. Smoke profile with tiny overrides, every output under pytest's tmp dirs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mtbert.core.experiments import run_config
from mtbert.data import datasets as D
from mtbert.errors import RunInterrupted
from mtbert.model.checkpoint import CheckpointError
from mtbert.results import store
from mtbert.training import checkpoints
from mtbert.training import engine
from mtbert.training.checkpoints import RunCheckpoints

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(REPO / "lib"), "OMP_NUM_THREADS": "1"}
PROFILE = "smoke"
NAME = "t1_sst_pretrain"  # frozen encoder, cached features: a run takes about a second (conftest.py's `run`)
TINY = dict(n_train={"sst": 6}, batch_size=2, n_dev=6, n_test=6, epochs=2)  # its overrides (conftest.py's TINY)
DATA = D.default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "ids-sst-train.csv").exists(), reason="run `make data` first")


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):  # conftest.py
    yield


class Interrupt(Exception):
    pass


def stop_at(epoch, exc=Interrupt):
    def on_step(e, s):
        if e == epoch:
            raise exc
    return on_step


# -- checkpoints cannot run code ---------------------------------------------------------------------------------------

class Payload:
    """Unpickling this creates a directory: the marker that code ran."""
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_no_weights_only_false_in_library_or_scripts():
    hits = [f"{p}:{i}" for p in [*REPO.joinpath("lib").rglob("*.py"), *REPO.joinpath("scripts").iterdir()]
            for i, line in enumerate(p.read_text().splitlines(), 1) if "weights_only=False" in line]
    assert hits == []


@needs_data
def test_crafted_resume_checkpoint_runs_no_code(S, data, run, paths):
    cfg, result, last = paths(S)
    marker = S.store_root / "payload-ran"
    last.parent.mkdir(parents=True)
    torch.save({"config_hash": cfg.hash(), "epoch": 0, "history": [], "best": None, "x": Payload(marker)}, last)
    with pytest.raises(CheckpointError) as ei:
        run(S, data)
    assert str(last) in str(ei.value) and "Delete it" in str(ei.value)
    assert not marker.exists() and not result.exists()
    lines = checkpoints.save_partials(S)
    assert not marker.exists()
    assert len(lines) == 1 and "skipped" in lines[0] and str(last) in lines[0]
    assert not (S.results_dir / "partial" / f"{cfg.run_id}.json").exists()


@pytest.mark.training
@needs_data
def test_resume_checkpoint_is_plain_data_and_resumes(S, data, run, paths):
    steps = []

    def stop(e, s):
        steps.append((e, s))
        if e == 1:
            raise Interrupt
    with pytest.raises(Interrupt):
        engine.run(NAME, S.replace(data_dir=data), on_step=stop, **TINY)
    cfg, result, last = paths(S)
    st = torch.load(last, weights_only=True)  # loads without the unsafe unpickler
    assert st["epoch"] == 0 and st["config_hash"] == cfg.hash() and set(st["loss_ref"]) == {"sst"}
    assert isinstance(st["torch_rng"], torch.Tensor) and "state" in st["optimizer"]
    assert checkpoints.save_partials(S) == [f"{cfg.run_id}: 1 epochs done"]
    resumed = []
    r = run(S, data, resumed)
    assert [e for e, s in resumed] == [1, 1, 1] and not last.exists() and len(r["history"]) == 2


# -- checkpoints belong to one configuration and its data --------------------------------------------------------------

@needs_data
@pytest.mark.training
def test_another_configuration_never_touches_a_runs_checkpoints(sst):
    a = engine.run(NAME, sst, **TINY)
    cfg_a, cfg_b = run_config(NAME, "smoke", **TINY), run_config(NAME, "smoke", **{**TINY, "lr": 2e-3})
    ck_a, ck_b = RunCheckpoints(cfg_a, sst, a["data"]["files"]), RunCheckpoints(cfg_b, sst, a["data"]["files"])
    before = ck_a.best.read_bytes()
    with pytest.raises(Interrupt):  # the same run id with --set lr=..., interrupted after its first epoch
        engine.run(NAME, sst, on_step=stop_at(1), **{**TINY, "lr": 2e-3})
    assert ck_b.best.exists() and ck_b.last.exists() and ck_a.best.read_bytes() == before
    assert store.load_result(NAME, sst, **TINY)["finished_at"] == a["finished_at"]
    stamp = torch.load(ck_a.best, weights_only=True)
    assert stamp["config_hash"] == cfg_a.hash() and stamp["data_files"] == a["data"]["files"]


@needs_data
@pytest.mark.training
def test_resume_state_of_other_data_is_not_resumed(sst):
    with pytest.raises(Interrupt):
        engine.run(NAME, sst, on_step=stop_at(1), **TINY)
    ck = RunCheckpoints(run_config(NAME, "smoke", **TINY), sst)
    st = torch.load(ck.last, weights_only=True)
    st["data_files"] = {**st["data_files"], "ids-sst-train.csv": "0" * 64}
    torch.save(st, ck.last)
    steps = []
    engine.run(NAME, sst, on_step=lambda e, s: steps.append(e), **TINY)
    assert steps[0] == 0  # started clean, from the first epoch


@needs_data
@pytest.mark.training
@pytest.mark.parametrize("damage", ["truncated", "crafted", "other config"])
def test_unusable_best_checkpoint_at_the_end_of_a_resume_is_one_message(sst, damage):
    with pytest.raises(Interrupt):
        engine.run(NAME, sst, on_step=stop_at(1), **TINY)
    ck = RunCheckpoints(run_config(NAME, "smoke", **TINY), sst)
    if damage == "truncated":
        ck.best.write_bytes(ck.best.read_bytes()[:500])
    elif damage == "crafted":
        torch.save({"config_hash": "x", "data_files": {}, "model": {"sst_head.weight": torch.zeros(3)}}, ck.best)
    else:
        st = torch.load(ck.best, weights_only=True)
        torch.save({**st, "config_hash": "0123456789abcdef"}, ck.best)
    with pytest.raises(CheckpointError) as ei:
        engine.run(NAME, sst, **TINY)
    msg = str(ei.value)
    assert str(ck.best) in msg and "--force" in msg and "cannot finish without them" in msg and str(ck.last) in msg
    assert engine.run(NAME, sst, force=True, **TINY)["best_epoch"] in (1, 2)  # the fix it names works


@pytest.mark.training
@needs_data
def test_force_removes_a_stale_resume_checkpoint_first(S, data, run, paths):
    run(S, data)
    cfg, result, last = paths(S)
    before = result.read_bytes()
    torch.save({"config_hash": cfg.hash(), "epoch": 0, "history": [], "best": None}, last)  # an orphan
    seen = []

    def look(e, s):
        seen.append(last.exists())
        raise Interrupt
    with pytest.raises(Interrupt):
        engine.run(NAME, S.replace(data_dir=data), force=True, on_step=look, **TINY)
    assert seen == [False] and result.read_bytes() == before


# -- killed writes and full disks leave nothing stale; the messages say what was kept ----------------------------------

@pytest.mark.training
@needs_data
def test_stale_tmp_files_of_killed_writes_are_removed(S, data, run, paths):
    cfg, result, last = paths(S)
    stale = [last.parent / f".{last.name}.k1ll3d.tmp", result.parent / f".{result.name}.abc123.tmp"]
    other = result.parent / ".someone-else.json.zz.tmp"
    for s in (*stale, other):
        s.parent.mkdir(parents=True, exist_ok=True)
        s.write_bytes(b"half a file")
    run(S, data)
    assert not any(s.exists() for s in stale) and other.exists()  # only this run's targets are touched
    assert not list(last.parent.glob(".*.tmp"))
    store.write_json(other.parent / "someone-else.json", {})
    assert not other.exists()


@pytest.mark.training
@needs_data
def test_sigkill_during_checkpoint_write_leaves_nothing_after_the_next_run(S, data, run, paths):
    """A real SIGKILL in the middle of writing the resume checkpoint (in a child process), then the next run."""
    code = f"""
import os, signal, torch
from mtbert.training import engine
real = torch.save
def dying_save(obj, f, *a, **k):
    if isinstance(obj, dict) and "optimizer" in obj:  # the resume checkpoint
        f.write(b"half a checkpoint")
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real(obj, f, *a, **k)
torch.save = dying_save
from mtbert.settings import Settings
S = Settings.resolve(profile={PROFILE!r}, device="cpu", progress=False, data_dir={str(data)!r},
                     store_root={str(S.store_root)!r})
engine.run({NAME!r}, S, **{TINY!r})
"""
    p = subprocess.run([PY, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO / "lib"), "OMP_NUM_THREADS": "1"},
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == -9, p.stderr
    cfg, result, last = paths(S)
    left = list(last.parent.glob(f".{last.name}.*.tmp"))
    assert len(left) == 1 and not last.exists()  # what the kill leaves behind
    r = run(S, data)
    assert not list(last.parent.glob(".*.tmp")) and not last.exists() and r["run_id"] == cfg.run_id


@needs_data
@pytest.mark.training
@pytest.mark.parametrize("fail_on,kept", [(1, "nothing was kept"), (3, "epoch 1 of"), ("result", "all 2 epochs")])
def test_full_disk_during_a_run_says_truthfully_what_was_kept(sst, monkeypatch, fail_on, kept):
    import errno
    real_save, real_json, calls = store.torch_save, store.write_json, []

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(a[0]))

    def torch_save(path, obj):
        calls.append(path)
        return full(path) if len(calls) == fail_on else real_save(path, obj)
    monkeypatch.setattr(store, "torch_save", torch_save)
    if fail_on == "result":
        monkeypatch.setattr(store, "write_json", lambda path, obj: full(path) if path.parent == sst.results_dir
                            else real_json(path, obj))
    with pytest.raises(engine.StoreWriteFailed) as ei:
        engine.run(NAME, sst, **TINY)
    msg = str(ei.value)
    assert "ENOSPC" in msg and kept in msg.lower() and "run the same command again" in msg
    monkeypatch.undo()
    steps = []
    r = engine.run(NAME, sst, on_step=lambda e, s: steps.append(e), **TINY)
    assert r["best_epoch"] in (1, 2) and (steps == [] if fail_on == "result" else steps)


@needs_data
@pytest.mark.training
@pytest.mark.parametrize("epoch,kept", [(0, "no epoch of t1_sst_pretrain had finished"), (1, "epoch 1 of")])
def test_interrupt_message_says_truthfully_what_was_kept(sst, epoch, kept):
    with pytest.raises(RunInterrupted) as ei:
        engine.run(NAME, sst, on_step=stop_at(epoch, KeyboardInterrupt), **TINY)
    assert kept in str(ei.value)
    assert RunCheckpoints(run_config(NAME, "smoke", **TINY), sst).last.exists() == (epoch == 1)


# -- refused before training -------------------------------------------------------------------------------------------

@needs_data
@pytest.mark.training
def test_unwritable_store_or_a_concurrent_run_is_refused_before_training(sst, tmp_path, lock_holder):
    sst.store_root.mkdir(parents=True, exist_ok=True)
    (sst.store_root / "results").write_text("")  # results/ cannot be created
    steps = []
    with pytest.raises(store.StoreNotWritable):
        engine.run(NAME, sst, on_step=lambda e, s: steps.append(e), **TINY)
    assert steps == []
    (sst.store_root / "results").unlink()
    with lock_holder(sst.store_root, NAME, **TINY) as holder:
        with pytest.raises(store.RunLocked, match=f"pid {holder.pid}"):
            engine.run(NAME, sst, on_step=lambda e, s: steps.append(e), **TINY)
        assert steps == []
