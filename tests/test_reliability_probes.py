"""Second round of reliability probes: each failure found on a fresh clone, as a test so that none comes back.

The official Quora files work (a generated stand-in of the right columns); the data check cannot be fooled by a
restored mtime; nothing a result holds becomes live HTML; concurrent writers never remove each other's files and
two trainings of one run id are kept apart; sizes from a config or an archive are capped; every damaged input is
one message naming the file. Everything writes under pytest's tmp dirs.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from mtbert.data import datasets as D
from mtbert.data import fetch
from mtbert.data import identity
from mtbert.errors import MtbertError, UsageError
from mtbert.model import tokenizer as tok
from mtbert.model.checkpoint import CheckpointError, load_encoder, resolve_encoder
from mtbert.results import store
from mtbert.results import unpack as U
from mtbert.settings import Settings
from mtbert.core.experiments import run_config

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
DATA = D.default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "ids-sst-train.csv").exists(), reason="run `make data` first")
ENV = {**os.environ, "PYTHONPATH": str(REPO / "lib"), "OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):  # conftest.py
    yield


@pytest.fixture
def settings(settings_for):
    """settings(tmp_path, data_dir=None): the store under tmp_path/store, the report and figures under tmp_path/out."""
    return lambda root, data_dir=None: settings_for(root / "store", output_root=root / "out", data_dir=data_dir)


# -- the official Quora files ------------------------------------------------------------------------

def write_quora(path: Path, rows: int, labelled: bool = True, columns=None) -> Path:
    """A stand-in of an official Quora file: the columns of quora-dev.csv (an unnamed index, id, sentence1,
    sentence2, is_duplicate), tab-separated."""
    columns = columns or (["", "id", "sentence1", "sentence2"] + (["is_duplicate"] if labelled else []))
    lines = ["\t".join(columns)]
    for i in range(rows):
        row = {"": str(i), "id": f"{i:025x}", "sentence1": f"How do I learn topic {i}?",
               "sentence2": f"What is the best way to learn topic {i % 7}?", "is_duplicate": f"{float(i % 2)}"}
        lines.append("\t".join(row.get(c, "x") for c in columns))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def quora_data(tmp_path, monkeypatch):
    """A data folder with the mirror's SST, STS and Quora dev files and stand-ins of the official
    quora-train.csv (2,100 pairs: the held-out split takes 2,000) and quora-test-student.csv; the stand-in's git
    blob id is the published one for this test."""
    d = tmp_path / "data"
    d.mkdir()
    for n in ("ids-sst-train.csv", "ids-sst-dev.csv", "ids-sst-test-student.csv", "sts-train.csv", "sts-dev.csv",
              "sts-test-student.csv", "quora-dev.csv", "quora-train-partial.csv"):
        shutil.copy(DATA / n, d / n)
    full = write_quora(d / "quora-train.csv", 2100)
    write_quora(d / "quora-test-student.csv", 20, labelled=False)
    monkeypatch.setitem(fetch.GIT_BLOBS, "quora-train.csv", fetch.git_blob_sha1(full))
    return d


QUORA_TINY = dict(n_train={"sst": 4, "quora": 4, "sts": 4}, batch_size=2, n_dev=4, n_test=4, n_predict=4, epochs=1,
                  quora_per_epoch=4)


@needs_data
def test_official_quora_files_pass_the_identity_check(quora_data):
    cfg = run_config("submission1", "smoke", **QUORA_TINY)
    hashes = identity.verify_full(cfg, quora_data)
    assert hashes["quora-train.csv"] == fetch.sha256_file(quora_data / "quora-train.csv")
    assert hashes["quora-test-student.csv"] == fetch.sha256_file(quora_data / "quora-test-student.csv")
    assert "quora-train-partial.csv" not in hashes  # the full file is used when present


@needs_data
def test_a_changed_full_quora_file_is_refused_by_its_git_blob_id(quora_data):
    write_quora(quora_data / "quora-train.csv", 2101)
    with pytest.raises(D.DataError) as ei:
        identity.verify_full(run_config("submission1", "smoke"), quora_data)
    msg = str(ei.value)
    assert "quora-train.csv" in msg and "git blob" in msg and "quora-train-partial.csv" in msg


@needs_data
@pytest.mark.parametrize("columns,why", [(["", "id", "sentence1"], "sentence2"), (None, "no usable row")])
def test_a_quora_test_student_file_without_checksum_must_parse(quora_data, columns, why):
    write_quora(quora_data / "quora-test-student.csv", 0 if columns is None else 5, labelled=False, columns=columns)
    with pytest.raises(D.DataError) as ei:
        identity.verify_full(run_config("submission1", "smoke"), quora_data)
    assert "quora-test-student.csv" in str(ei.value) and why in str(ei.value)


@needs_data
@pytest.mark.training
def test_a_run_trains_on_the_official_quora_files_end_to_end(settings, quora_data, tmp_path):
    from mtbert.training import engine
    S = settings(tmp_path, quora_data)
    r = engine.run("submission1", S, **QUORA_TINY)
    assert r["data"]["quora_train"]["file"] == "quora-train.csv" and r["data"]["quora_train"]["pairs"] == 2100
    assert set(r["data"]["files"]) >= {"quora-train.csv", "quora-test-student.csv"}
    assert r["predictions"]["quora"]["test"].endswith("para-test-output.csv") and r["predictions"]["quora"]["test_rows"] == 4
    assert store.load_result("submission1", S, **QUORA_TINY)["finished_at"] == r["finished_at"]


# -- the data check before training ------------------------------------------------------------------

@needs_data
def test_same_size_edit_with_restored_mtime_is_found_before_training(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    for n in ("ids-sst-train.csv", "ids-sst-dev.csv"):
        shutil.copy(DATA / n, d / n)
    cfg = run_config("t1_sst_pretrain", "smoke")
    assert identity.verify_full(cfg, d)["ids-sst-dev.csv"] == D.FILES["ids-sst-dev.csv"]
    f = d / "ids-sst-dev.csv"
    st = f.stat()
    raw = bytearray(f.read_bytes())
    i = raw.index(b"\t0\n") if b"\t0\n" in raw else raw.index(b"\t1\n")
    raw[i + 1] = ord("4")  # one label changed, same size
    f.write_bytes(bytes(raw))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    identity._memo.clear()  # a new process
    assert identity.current(cfg, d)["ids-sst-dev.csv"] == D.FILES["ids-sst-dev.csv"]  # the cache is fooled ...
    with pytest.raises(D.DataError, match="ids-sst-dev.csv"):  # ... the check before training is not
        identity.verify_full(cfg, d)
    assert identity.current(cfg, d)["ids-sst-dev.csv"] != D.FILES["ids-sst-dev.csv"]  # and the cache is refreshed


def test_hash_cache_nested_too_deep_or_huge_is_recomputed(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("x\n")
    for junk in ("[" * 100_000, '{"a.csv": "' + "x" * (identity.CACHE_LIMIT_BYTES + 10) + '"}'):
        (tmp_path / identity.CACHE_NAME).write_text(junk)
        identity._memo.clear()
        assert identity.sha256s([f]) == {"a.csv": fetch.sha256_file(f)}


# -- HTML from results -------------------------------------------------------------------------------

MARKUP = '<script>alert(1)</script><img src=x onerror=alert(1)>'


def assert_inert(page: str) -> None:
    assert "<script" not in page.lower() and "<img src=x" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, escaped
    assert re.search(r'<meta[^>]*http-equiv="Content-Security-Policy"', page)
    csp = re.search(r'<meta content="([^"]*)"[^>]*Content-Security-Policy', page).group(1)
    assert "default-src 'none'" in csp and "script-src" not in csp and "unsafe-eval" not in csp
    assert not re.search(r"<(?:script|link|iframe)[^>]*\b(?:src|href)=[\"']?https?://", page, re.I)


@needs_data
@pytest.mark.training
@pytest.mark.report
def test_markup_in_a_result_reaches_the_report_escaped(settings, tmp_path):
    """A stored smoke result with markup in environment.cpu, environment.torch, encoder.name, then the report's
    setup section exported as the report page."""
    from mtbert.report import build
    from mtbert.training import engine
    S = settings(tmp_path)
    engine.run("t1_sst_pretrain", S)
    path = store.result_path(run_config("t1_sst_pretrain", "smoke"), S)
    r = store.read_result(path)
    r["environment"].update(cpu=MARKUP, torch=MARKUP, device=MARKUP)
    r["encoder"]["name"] = MARKUP
    store.write_json(path, r)
    (S.results_dir / "partial").mkdir()
    store.write_json(S.results_dir / "partial" / f"{MARKUP.replace('/', '_')}.json", {"epochs_done": 1})
    store.write_text(S.results_dir / "RUN_NOTES.md", f"Run on a lent GPU. {MARKUP}\n")
    nb = build.merge_notebooks([], build.summary_markdown(ResultSet.load(S)), "probe")
    page = build.export_html(nb, tmp_path / "report.html", "probe").read_text()
    assert_inert(page)
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # encoder, device, torch, run notes


def test_tables_and_styled_frames_escape_their_cells():
    import pandas as pd
    from mtbert.analysis import tables as T
    df = pd.DataFrame({"run": [MARKUP], "device": ["cpu"]})
    assert "<" not in T.markdown_table(df)
    styled = T.show(df).to_html()
    assert "<script>" not in styled and "&lt;script&gt;" in styled


def test_prose_helpers_print_no_raw_dict(settings, tmp_path):
    from mtbert.report import build
    S = settings(tmp_path)
    fake = {"submission1": [{"seed": 11711}, {"seed": 1}], "submission2": [{"seed": 11711}]}
    for text in (build.seed_counts_prose(fake), build.seeds_table_markdown(["submission1"], ResultSet.load(S)), build.seeds_prose(ResultSet.load(S)),
                 build.batch_size_prose({"a": {"config": {"batch_size": 8}}, "b": {"config": {"batch_size": 8}}}, S)):
        assert "{" not in text and "'" not in text.replace("'s", "")
    assert "Batch size 8" in build.batch_size_prose({"a": {"config": {"batch_size": 8}}}, S)


def test_notebook_03_derives_the_batch_size():
    nb = json.loads((REPO / "notebooks" / "03_finetune.ipynb").read_text())
    text = "".join("".join(c["source"]) for c in nb["cells"])
    assert "batch size 32" not in text and "batch_size_prose(" in text


# -- concurrency ---------------------------------------------------------------------------------------

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


def test_run_lock_refuses_a_second_process_naming_the_first(settings, tmp_path):
    S = settings(tmp_path)
    cfg = run_config("t1_sst_pretrain", "smoke")
    code = (f"import time; from mtbert.results import store; from mtbert.settings import Settings\n"
            f"from mtbert.core.experiments import run_config\n"
            f"S = Settings.resolve(profile='smoke', store_root={str(S.store_root)!r})\n"
            f"with store.run_lock(run_config('t1_sst_pretrain', 'smoke'), S):\n"
            f"    print('locked', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([PY, "-c", code], env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(store.RunLocked) as ei:
            with store.run_lock(cfg, S):
                pass
        msg = str(ei.value)
        assert f"pid {holder.pid}" in msg and "started at" in msg and "t1_sst_pretrain" in msg
    finally:
        holder.kill()
        holder.wait()
    with store.run_lock(cfg, S):  # the holder's death released it
        pass


# -- files as other tools create them ------------------------------------------------------------------

@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_are_created_with_the_users_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        store.write_json(tmp_path / "r.json", {"a": 1})
        store.write_text(tmp_path / "t.csv", "a\n")
    finally:
        os.umask(old)
    assert {(tmp_path / n).stat().st_mode & 0o777 for n in ("r.json", "t.csv")} == {mode}


# -- limits --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def default_dir():
    return resolve_encoder(None)


def encoder_copy(tmp_path, default_dir, **config) -> Path:
    d = tmp_path / "enc"
    d.mkdir()
    for n in ("vocab.txt", "model.safetensors", "tokenizer_config.json"):
        (d / n).symlink_to(default_dir / n)
    cfg = json.loads((default_dir / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, **config}))
    return d


@pytest.mark.parametrize("field,value", [
    ("num_hidden_layers", 1_000_000_000), ("num_hidden_layers", 0), ("hidden_size", 100_000),
    ("num_attention_heads", 7), ("vocab_size", 10**9), ("max_position_embeddings", 10**7),
    ("intermediate_size", -1), ("type_vocab_size", 10**8), ("num_hidden_layers", "12"),
])
def test_insane_encoder_config_is_refused_before_allocation(tmp_path, default_dir, field, value):
    d = encoder_copy(tmp_path, default_dir, **{field: value})
    t = time.perf_counter()
    with pytest.raises(CheckpointError) as ei:
        load_encoder(d)
    assert time.perf_counter() - t < 5  # nothing was allocated
    assert str(d / "config.json") in str(ei.value) and field in str(ei.value)


def test_config_within_every_range_but_too_many_parameters_is_refused(tmp_path, default_dir):
    d = encoder_copy(tmp_path, default_dir, num_hidden_layers=48, hidden_size=8192, num_attention_heads=64,
                     intermediate_size=32768)
    with pytest.raises(CheckpointError, match="parameters"):
        load_encoder(d)


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for name, size in members:
            ti = tarfile.TarInfo(name)
            if size is None:
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            else:
                ti.size = size
                tf.addfile(ti, io.BytesIO(b"\0" * size))
    return path


def test_unpacked_member_size_is_capped(tmp_path):
    arc = _tar(tmp_path / "a.tar.gz", [("results/full/big.json", U.MEMBER_LIMIT_BYTES + 1)])
    assert arc.stat().st_size < 200_000  # a small archive of a huge file
    with pytest.raises(U.UnsafeArchive, match="MiB limit per file"):
        U.unpack(arc, "full", tmp_path / "dest")
    assert not (tmp_path / "dest" / "results").exists()


def test_unpacked_total_and_member_count_are_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(U, "TOTAL_LIMIT_BYTES", 3000)
    arc = _tar(tmp_path / "a.tar.gz", [(f"results/full/{i}.json", 1000) for i in range(4)])
    with pytest.raises(U.UnsafeArchive, match="GiB limit"):
        U.unpack(arc, "full", tmp_path)
    monkeypatch.setattr(U, "MEMBER_LIMIT", 50)
    arc = _tar(tmp_path / "b.tar.gz", [(f"results/full/d{i}", None) for i in range(51)])
    with pytest.raises(U.UnsafeArchive, match="more than 50 members"):
        U.unpack(arc, "full", tmp_path)
    assert not (tmp_path / "results").exists()


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


# -- one message instead of a traceback ---------------------------------------------------------------

@pytest.mark.parametrize("case", ["missing", "empty", "no special tokens"])
def test_bad_vocab_is_named(tmp_path, default_dir, case):
    d = encoder_copy(tmp_path, default_dir)
    (d / "vocab.txt").unlink()
    if case == "empty":
        (d / "vocab.txt").write_text("")
    elif case == "no special tokens":
        (d / "vocab.txt").write_text("hello\nworld\n")
    with pytest.raises(CheckpointError) as ei:
        tok.Tokenizer.from_checkpoint(d)
    assert "vocab.txt" in str(ei.value) and str(d) in str(ei.value)


@pytest.mark.parametrize("content", ['{"do_lower_case": tru', "[1]", '{"do_lower_case": "yes"}',
                                     '{"model_max_length": "long"}', "[" * 100_000])
def test_corrupt_tokenizer_config_is_named(tmp_path, default_dir, content):
    d = encoder_copy(tmp_path, default_dir)
    (d / "tokenizer_config.json").unlink()
    (d / "tokenizer_config.json").write_text(content)
    with pytest.raises(CheckpointError) as ei:
        tok.Tokenizer.from_checkpoint(d)
    assert str(d / "tokenizer_config.json") in str(ei.value)


def test_store_dir_that_is_a_file_is_one_message(tmp_path):
    f = tmp_path / "not-a-folder"
    f.write_text("")
    with pytest.raises(UsageError, match="--store-dir .* is a file, not a folder"):
        Settings.resolve(store_root=f)
    p = subprocess.run([PY, "-m", "mtbert", "status", "--profile", "smoke", "--store-dir", str(f)], env=ENV,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "--store-dir" in p.stderr


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


# -- checkpoints belong to one configuration; failures during a run say what was kept ---------------------

import torch  # noqa: E402

from mtbert.errors import RunInterrupted  # noqa: E402
from mtbert.training import engine  # noqa: E402
from mtbert.inference import predict  # noqa: E402
from mtbert.training.checkpoints import RunCheckpoints  # noqa: E402
from mtbert.results.result_set import ResultSet

NAME = "t1_sst_pretrain"  # frozen encoder, cached features: a run takes about a second
TINY = dict(n_train={"sst": 6}, batch_size=2, n_dev=6, n_test=6, epochs=2)


class Interrupt(Exception):
    pass


@pytest.fixture
def sst(settings, tmp_path):
    """Settings with a private copy of the SST files and a store in tmp."""
    d = tmp_path / "data"
    d.mkdir()
    for n in ("ids-sst-train.csv", "ids-sst-dev.csv"):
        shutil.copy(DATA / n, d / n)
    return settings(tmp_path, d)


def stop_at(epoch, exc=Interrupt):
    def on_step(e, s):
        if e == epoch:
            raise exc
    return on_step


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


@needs_data
@pytest.mark.training
def test_predict_refuses_weights_of_another_configuration_or_damaged(settings, tmp_path):
    S = settings(tmp_path)
    r = engine.run(NAME, S)
    ck = RunCheckpoints(run_config(NAME, "smoke"), S, r["data"]["files"])
    good = ck.best.read_bytes()
    assert predict.load_run(NAME, S, 11711)[0].hash() == r["config_hash"]
    st = torch.load(ck.best, weights_only=True)
    for bad in ({**st, "config_hash": "0123456789abcdef"}, {**st, "data_files": {"ids-sst-train.csv": "0" * 64}},
                b"truncated"):
        if isinstance(bad, bytes):
            ck.best.write_bytes(good[:300])
        else:
            torch.save(bad, ck.best)
        with pytest.raises(CheckpointError) as ei:
            predict.load_run(NAME, S, 11711)
        assert str(ck.best) in str(ei.value) and "--force" in str(ei.value) and "nothing was predicted" in str(ei.value)
    ck.best.unlink()
    with pytest.raises(predict.MissingCheckpoint, match="--force"):
        predict.load_run(NAME, S, 11711)


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


def test_cli_prints_the_runs_account_of_an_interrupt(monkeypatch, capsys):
    from mtbert import cli

    def interrupted(*a, **k):
        raise RunInterrupted("no epoch of x had finished and been saved, so nothing was kept")
    from mtbert.training import scheduler
    monkeypatch.setattr(scheduler, "run_experiments", interrupted)
    assert cli.main(["run", NAME, "--profile", "smoke", "--device", "cpu"]) == 130
    err = capsys.readouterr().err
    assert "nothing was kept" in err and "finished epochs are kept" not in err


@needs_data
@pytest.mark.training
def test_unwritable_store_or_a_concurrent_run_is_refused_before_training(sst, tmp_path):
    sst.store_root.mkdir(parents=True, exist_ok=True)
    (sst.store_root / "results").write_text("")  # results/ cannot be created
    steps = []
    with pytest.raises(store.StoreNotWritable):
        engine.run(NAME, sst, on_step=lambda e, s: steps.append(e), **TINY)
    assert steps == []
    (sst.store_root / "results").unlink()
    code = (f"import time; from mtbert.results import store; from mtbert.settings import Settings\n"
            f"from mtbert.core.experiments import run_config\n"
            f"S = Settings.resolve(profile='smoke', store_root={str(sst.store_root)!r})\n"
            f"with store.run_lock(run_config({NAME!r}, 'smoke', **{TINY!r}), S):\n"
            f"    print('locked', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([PY, "-c", code], env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(store.RunLocked, match=f"pid {holder.pid}"):
            engine.run(NAME, sst, on_step=lambda e, s: steps.append(e), **TINY)
        assert steps == []
    finally:
        holder.kill()
        holder.wait()
