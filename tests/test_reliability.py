"""Reliability and security: each defect found by probing, as a test so that none can come back.

Archives cannot run code or escape (mtbert.results.unpack, scripts/gpu_unpack.sh); checkpoints load with
weights_only=True; data files are verified and part of a result's identity; empty splits, divergence, a silent
hub and damaged files are errors that name what to fix; interrupted or forced runs leave no stale state.
Everything writes under pytest's tmp dirs; runs use the smoke profile with tiny overrides."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from mtbert.results import unpack as U
from mtbert.errors import MtbertError

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


# -- 1. archives -------------------------------------------------------------------------------------

def _tar(path: Path, members) -> Path:
    """members: (name, bytes) for a regular file, (name, ('sym'|'lnk', target)) for a link, (name, None) dir."""
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            if data is None:
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif isinstance(data, tuple):
                ti.type = tarfile.SYMTYPE if data[0] == "sym" else tarfile.LNKTYPE
                ti.linkname = data[1]
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return path


EVIL_MAKEFILE = b"setup data:\n\ttouch pwned\n"
PADDING = [(f"results/full/pad{i:05d}.json", b"{}") for i in range(3000)]


@pytest.mark.parametrize("case,members", [
    ("first member outside, then padding (the SIGPIPE case)", [("Makefile", EVIL_MAKEFILE), *PADDING]),
    ("symlink member", [("results/full/", None), ("results/full/x.json", ("sym", "/etc/passwd"))]),
    ("hard link member", [("results/full/a.json", b"{}"), ("results/full/b.json", ("lnk", "results/full/a.json"))]),
    ("'..' member", [("results/full/ok.json", b"{}"), ("results/full/../../../x", b"boom")]),
    ("absolute member", [("results/full/ok.json", b"{}"), ("/tmp/mtbert-abs-x", b"boom")]),
    ("other profile", [("results/quick/x.json", b"{}")]),
    ("bad member last", [*PADDING[:50], ("scripts/gpu_unpack.sh", b"echo pwned")]),
])
def test_unsafe_archive_is_refused_whole(tmp_path, case, members):
    arc = _tar(tmp_path / "results.tar.gz", members)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(U.UnsafeArchive) as ei:
        U.unpack(arc, "full", dest)
    assert "nothing was unpacked" in str(ei.value) and str(arc) in str(ei.value)
    assert list(dest.iterdir()) == []  # refused before anything was extracted
    assert U.main([str(arc), "--profile", "full", "--dest", str(dest)]) == 2
    assert list(dest.iterdir()) == []


def test_safe_archive_unpacks(tmp_path):
    arc = _tar(tmp_path / "results.tar.gz", [("results/full", None), ("results/full/a.json", b'{"x": 1}'),
                                             ("results/full/partial/b.json", b"{}"),
                                             ("predictions/full/sub/sts-dev-output.csv", b"id\n")])
    assert U.main([str(arc), "--profile", "full", "--dest", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "results/full/a.json").read_text()) == {"x": 1}
    assert (tmp_path / "predictions/full/sub/sts-dev-output.csv").is_file()


def _fake_repo(tmp_path) -> Path:
    """A copy of the repo's layout for gpu_unpack.sh: its script, the library, a Makefile that only marks."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "gpu_unpack.sh", repo / "scripts")
    (repo / "lib").symlink_to(REPO / "lib")
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "python").symlink_to(PY)
    (repo / "Makefile").write_text("setup data:\n\ttouch made\n")
    return repo


def test_gpu_unpack_script_refuses_makefile_archive_and_runs_nothing(tmp_path):
    repo = _fake_repo(tmp_path)
    arc = _tar(tmp_path / "results.tar.gz", [("Makefile", EVIL_MAKEFILE), *PADDING])
    p = subprocess.run(["bash", str(repo / "scripts" / "gpu_unpack.sh"), str(arc)], cwd=tmp_path,
                       env={**os.environ, "PROFILE": "full"}, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "refused" in p.stderr and "Makefile" in p.stderr
    assert (repo / "Makefile").read_text() == "setup data:\n\ttouch made\n"
    assert not (repo / "pwned").exists() and not (repo / "made").exists() and not (repo / "results").exists()


# -- shared set-up for runs -------------------------------------------------------------------------

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mtbert.data import datasets as D  # noqa: E402
from mtbert.data import identity as datahash
from mtbert.results import store  # noqa: E402
from mtbert.training import batches  # noqa: E402
from mtbert.training import checkpoints  # noqa: E402
from mtbert.training import divergence  # noqa: E402
from mtbert.training import engine  # noqa: E402
from mtbert.training.checkpoints import RunCheckpoints  # noqa: E402
from mtbert.model.checkpoint import CheckpointError, load_encoder, resolve_encoder  # noqa: E402
from mtbert.core.experiments import run_config  # noqa: E402
from mtbert.model.heads import MultitaskBert  # noqa: E402

PROFILE = "smoke"
NAME = "t1_sst_pretrain"  # frozen encoder, cached features: a run takes about a second
TINY = dict(n_train={"sst": 6}, batch_size=2, n_dev=6, n_test=6, epochs=2)
DATA = D.default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "ids-sst-train.csv").exists(), reason="run `make data` first")


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):  # conftest.py
    yield




def run(S, data_dir, steps=None, **kw):
    o = {**TINY, **kw}
    return engine.run(NAME, S.replace(data_dir=data_dir),
                 on_step=(lambda e, s: steps.append((e, s))) if steps is not None else None, **o)


def paths(S, **kw):
    cfg = run_config(NAME, PROFILE, **{**TINY, **kw})
    return cfg, store.result_path(cfg, S), RunCheckpoints(cfg, S).last


class Interrupt(Exception):
    pass


# -- 2. checkpoints cannot run code ------------------------------------------------------------------

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
def test_crafted_resume_checkpoint_runs_no_code(S, data):
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
def test_resume_checkpoint_is_plain_data_and_resumes(S, data):
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


# -- 3. data identity --------------------------------------------------------------------------------

@needs_data
def test_truncated_data_file_is_refused_before_training(S, data):
    f = data / "ids-sst-train.csv"
    f.write_bytes(f.read_bytes()[:5000])
    steps = []
    with pytest.raises(D.DataError) as ei:
        run(S, data, steps)
    msg = str(ei.value)
    # the fix fills the folder the run reads, not the repository's data/
    assert "ids-sst-train.csv" in msg and f"python -m mtbert data --dest {data}`" in msg and "checksum" in msg
    assert steps == [] and not paths(S)[1].exists()


@pytest.mark.training
@needs_data
def test_result_records_data_hashes_and_is_current_only_for_them(S, data):
    first = run(S, data)
    assert first["data"]["files"] == {n: D.FILES[n] for n in ("ids-sst-train.csv", "ids-sst-dev.csv")}
    assert json.loads((data / datahash.CACHE_NAME).read_text())["ids-sst-dev.csv"]["sha256"] == D.FILES["ids-sst-dev.csv"]
    steps = []
    assert run(S, data, steps)["finished_at"] == first["finished_at"] and steps == []  # cached
    cfg, result, _ = paths(S)
    # a result trained on other data (e.g. a truncated file, by an older version) is not current
    r = store.read_result(result)
    r["data"]["files"]["ids-sst-train.csv"] = "0" * 64
    store.write_json(result, r)
    assert store.load_result(NAME, S.replace(data_dir=data), **TINY) is None
    again = run(S, data, steps)
    assert steps and again["data"]["files"] == first["data"]["files"]
    assert again["dev"] == first["dev"]
    # a result without recorded hashes (pre-migration) is not current either
    del r["data"]["files"]
    store.write_json(result, r)
    assert store.load_result(NAME, S.replace(data_dir=data), **TINY) is None
    # a file damaged after the result was stored: the stored result is not returned, and nothing trains
    (data / "ids-sst-dev.csv").write_text("id\tsentence\tsentiment\n")
    store.write_json(result, again)
    assert store.load_result(NAME, S.replace(data_dir=data), **TINY) is None
    with pytest.raises(D.DataError, match="ids-sst-dev.csv"):
        run(S, data)


# -- 4. empty or fully invalid splits ----------------------------------------------------------------

def _prepare(task, split, data_dir):
    batches.prepare.cache_clear()
    return batches.prepare(batches.SplitKey(task, split, str(resolve_encoder(None)), 64, None, str(data_dir)))


@needs_data
@pytest.mark.parametrize("content,reason", [
    ("id\tsentence\tsentiment\n", "no data rows"),
    ("id\tsentence\tsentiment\na1\tfine film\t9\na2\tbad film\tx\n", "2 invalid label"),
])
def test_empty_or_invalid_sst_dev_split_is_an_error(data, content, reason):
    (data / "ids-sst-dev.csv").write_text(content)
    with pytest.raises(D.DataError) as ei:
        _prepare("sst", "dev", data)
    msg = str(ei.value)
    assert "ids-sst-dev.csv" in msg and reason in msg and "empty" in msg and f"mtbert data --dest {data}`" in msg


@needs_data
def test_sts_comma_decimals_are_skipped_rows_and_an_error(tmp_path):
    rows = ["id\tsentence1\tsentence2\tsimilarity"] + [f"s{i}\ta man sings\ta man plays\t{i % 5},5" for i in range(8)]
    (tmp_path / "sts-dev.csv").write_text("\n".join(rows) + "\n")
    d = D.load("sts", "dev", tmp_path)
    assert len(d) == 0 and d.n_skipped == 8 and d.skip_reasons == {"invalid label": 8}
    with pytest.raises(D.DataError, match=r"sts-dev.csv.*8 rows skipped: 8 invalid label"):
        _prepare("sts", "dev", tmp_path)


@needs_data
def test_header_only_dev_file_stores_nothing(S, data):
    (data / "ids-sst-dev.csv").write_text("id\tsentence\tsentiment\n")
    with pytest.raises(D.DataError, match="ids-sst-dev.csv"):
        run(S, data)
    monkeypatched = pytest.MonkeyPatch()
    try:  # even past the checksum (a file not in the published list), the empty split stops the run
        monkeypatched.setattr(datahash, "verify_full", lambda cfg, data_dir=None: {})
        with pytest.raises(D.DataError, match="sst dev split is empty"):
            run(S, data)
    finally:
        monkeypatched.undo()
    assert not paths(S)[1].exists()


# -- 5. divergence -----------------------------------------------------------------------------------

@pytest.mark.training
@needs_data
def test_diverging_lr_stops_the_run_and_stores_nothing(S, data):
    cfg, result, last = paths(S, lr=0.99, n_train={"sst": 48}, epochs=1)
    with pytest.raises(divergence.TrainingDiverged) as ei:
        run(S, data, lr=0.99, n_train={"sst": 48}, epochs=1)
    msg = str(ei.value)
    assert "lr 0.99" in msg and "10x its starting value" in msg and "No epoch had finished" in msg
    assert "last.pt" not in msg and not last.exists() and not result.exists()


@pytest.mark.training
@needs_data
def test_divergence_in_a_later_epoch_keeps_earlier_epochs_resumable(S, data, monkeypatch):
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


# -- 6. the hub --------------------------------------------------------------------------------------

def test_silent_hub_times_out(tmp_path):
    import socket
    import time
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)  # accepts connections (the kernel completes the handshake) and never answers
    port = srv.getsockname()[1]
    code = ("from mtbert.model.checkpoint import resolve_encoder, CheckpointError\n"
            "try:\n    resolve_encoder('some-org/some-bert', timeout=2)\n"
            "except CheckpointError as e:\n    print('ERR', e)\n")
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HOME": str(tmp_path / "hf"),
           "PYTHONPATH": str(REPO / "lib")}
    env.pop("HF_HUB_OFFLINE", None)
    t0 = time.time()
    try:
        p = subprocess.run([PY, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    finally:
        srv.close()
    assert time.time() - t0 < 30
    assert "ERR could not fetch encoder 'some-org/some-bert'" in p.stdout, p.stdout + p.stderr
    assert "within 2 s" in p.stdout and "TimeoutError" in p.stdout and "local directory" in p.stdout


def test_silent_data_server_times_out(tmp_path, monkeypatch):
    import socket
    import time
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    from mtbert.data import fetch
    monkeypatch.setattr(fetch, "UPSTREAM", f"http://127.0.0.1:{srv.getsockname()[1]}/data/")
    t0 = time.time()
    try:
        with pytest.raises(D.DataError) as ei:
            fetch._fetch_one("ids-sst-dev.csv", tmp_path, None, 1.0)
    finally:
        srv.close()
    assert time.time() - t0 < 10 and "timeout 1 s" in str(ei.value) and "--mirror" in str(ei.value)
    assert list(tmp_path.iterdir()) == []  # no temporary file left


@pytest.mark.parametrize("typo", ["defualt", "Default", "DEFAULT", "deafult", "dafault", "all-minilm-l6-v2",
                                  "sentence-transformers/ALL-MiniLM-L6-V2"])
def test_default_typos_are_not_sent_to_the_hub(typo, monkeypatch):
    import huggingface_hub
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("sent to the hub"))
    with pytest.raises(CheckpointError) as ei:
        resolve_encoder(typo)
    assert repr(typo) in str(ei.value) and "did you mean 'default'" in str(ei.value)


def test_surrounding_spaces_are_not_a_typo():
    from mtbert.model.checkpoint import canonical_encoder
    assert canonical_encoder(" default ") == canonical_encoder("all-MiniLM-L6-v2") == "default"


@pytest.mark.parametrize("hub_id", ["sentence-transformers/all-MiniLM-L12-v2", "bert-base-uncased", "prajjwal1/bert-tiny"])
def test_real_hub_ids_are_not_taken_for_typos(hub_id, monkeypatch, tmp_path):
    from mtbert.model import checkpoint
    asked = []
    monkeypatch.setattr(checkpoint, "_hub_download", lambda name, timeout: asked.append(name) or tmp_path)
    assert resolve_encoder(hub_id) == tmp_path and asked == [hub_id]


# -- 7. damaged files are named ----------------------------------------------------------------------

@pytest.mark.training
@needs_data
@pytest.mark.parametrize("content", ['{"run_id": "t1_sst_pre', "[1, 2]", "\xff\xfe", '{"dev": {}}'])
def test_damaged_results_json_is_named(S, data, content):
    cfg, result, _ = paths(S)
    result.parent.mkdir(parents=True)
    result.write_bytes(content.encode("latin-1"))
    for call in (lambda: run(S, data), lambda: store.load_result(NAME, S.replace(data_dir=data), **TINY)):
        with pytest.raises(store.ResultFileError) as ei:
            call()
        assert isinstance(ei.value, MtbertError) and str(result) in str(ei.value) and "--force" in str(ei.value)
    assert run(S, data, force=True)["run_id"] == cfg.run_id  # --force replaces it


@pytest.fixture(scope="module")
def default_dir():
    return resolve_encoder(None)


def test_corrupt_config_json_is_named(tmp_path, default_dir):
    for n in ("vocab.txt", "model.safetensors"):
        (tmp_path / n).symlink_to(default_dir / n)
    for bad in ('{"hidden_size": 38', "[]", '{"hidden_size": "big"}'):
        (tmp_path / "config.json").write_text(bad)
        with pytest.raises(CheckpointError) as ei:
            load_encoder(tmp_path)
        assert str(tmp_path / "config.json") in str(ei.value)


def test_truncated_safetensors_is_named(tmp_path, default_dir):
    shutil.copy(default_dir / "config.json", tmp_path / "config.json")
    with open(default_dir / "model.safetensors", "rb") as f:
        (tmp_path / "model.safetensors").write_bytes(f.read(100_000))
    with pytest.raises(CheckpointError) as ei:
        load_encoder(tmp_path)
    assert str(tmp_path / "model.safetensors") in str(ei.value) and "truncated" in str(ei.value)


# -- 8. leftovers and stale state --------------------------------------------------------------------

@pytest.mark.training
@needs_data
def test_stale_tmp_files_of_killed_writes_are_removed(S, data):
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
def test_interrupted_force_rerun_keeps_the_stored_result(S, data):
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


@pytest.mark.training
@needs_data
def test_force_removes_a_stale_resume_checkpoint_first(S, data):
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


@pytest.mark.training
@needs_data
def test_sigkill_during_checkpoint_write_leaves_nothing_after_the_next_run(S, data):
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
