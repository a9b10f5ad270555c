"""Data identity (mtbert.data.identity): the files a run reads are checked against their published checksums
before it trains (a truncated file, a same-size edit with its mtime restored, a link to a doctored copy are all
found), their hashes are part of a result's identity (a result trained on other data is not current), and the
official Quora files (generated stand-ins of their columns) pass by their git blob ids and train end to end.
Everything writes under pytest's tmp dirs; runs use the smoke profile with tiny overrides."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from mtbert.core.experiments import run_config
from mtbert.data import datasets as D
from mtbert.data import fetch
from mtbert.data import identity
from mtbert.data import identity as datahash
from mtbert.results import store
from mtbert.training import engine

DATA = D.default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "ids-sst-train.csv").exists(), reason="run `make data` first")
NAME = "t1_sst_pretrain"  # frozen encoder, cached features: a run takes about a second (conftest.py's `run`)
TINY = dict(n_train={"sst": 6}, batch_size=2, n_dev=6, n_test=6, epochs=2)  # its overrides (conftest.py's TINY)
SST = ("ids-sst-train.csv", "ids-sst-dev.csv")  # the files of the `data` fixture (conftest.py)


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):  # conftest.py
    yield


@pytest.fixture
def S(sst):
    """In this module a test's settings are `sst` (conftest.py): the store under tmp_path/store, the report under
    tmp_path/out, the private SST copy (`data`) as the data folder."""
    return sst


# -- the check before training -----------------------------------------------------------------------------------------

@needs_data
def test_truncated_data_file_is_refused_before_training(S, data, run, paths):
    f = data / "ids-sst-train.csv"
    f.write_bytes(f.read_bytes()[:5000])
    steps = []
    with pytest.raises(D.DataError) as ei:
        run(S, data, steps)
    msg = str(ei.value)
    # the fix fills the folder the run reads, not the repository's data/
    assert "ids-sst-train.csv" in msg and f"python -m mtbert data --dest {data}`" in msg and "checksum" in msg
    assert steps == [] and not paths(S)[1].exists()


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


def test_hash_cache_nested_too_deep_or_huge_is_recomputed(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("x\n")
    for junk in ("[" * 100_000, '{"a.csv": "' + "x" * (identity.CACHE_LIMIT_BYTES + 10) + '"}'):
        (tmp_path / identity.CACHE_NAME).write_text(junk)
        identity._memo.clear()
        assert identity.sha256s([f]) == {"a.csv": fetch.sha256_file(f)}


# -- a result is current only for the data it was trained on -----------------------------------------------------------

@pytest.mark.training
@needs_data
def test_result_records_data_hashes_and_is_current_only_for_them(S, data, run, paths):
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


# -- the official Quora files ------------------------------------------------------------------------------------------

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
