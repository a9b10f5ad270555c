"""Tests for mtbert.data.datasets and mtbert.data.fetch (fast: parse the real files once, plus small synthetic tmp
dirs; fetches from a fake mirror, or from a silent server on 127.0.0.1 that must time out)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from mtbert.data import datasets as D
from mtbert.data import fetch
from mtbert.settings import repo_root


def _real_data_dir() -> Path | None:
    cands = [repo_root() / "data", repo_root().parent / "shared" / "data"]
    for c in cands:
        if c and all((Path(c) / n).is_file() for n in D.FILES if n not in fetch.OPTIONAL_FILES):
            return Path(c)
    return None


REAL = _real_data_dir()
needs_real = pytest.mark.skipif(REAL is None, reason="data files not available (run `make data`)")

# README row counts (data rows, header excluded) and expected skipped rows
README_ROWS = {
    "ids-sst-train.csv": (8544, 0),
    "ids-sst-dev.csv": (1101, 0),
    "ids-sst-test-student.csv": (2210, 0),
    "ids-cfimdb-train.csv": (1707, 0),
    "ids-cfimdb-dev.csv": (245, 0),
    "ids-cfimdb-test-student.csv": (488, 0),
    "quora-dev.csv": (20214, 2),
    "quora-train-partial.csv": (22646, 2),
    "sts-train.csv": (6040, 0),
    "sts-dev.csv": (863, 0),
    "sts-test-student.csv": (1725, 0),
}


@pytest.fixture
def real_dir(monkeypatch):
    if REAL is None:
        pytest.skip("data files not available (run `make data`)")
    monkeypatch.setattr(D, "default_data_dir", lambda: REAL)
    return REAL


# ----------------------------------------------------------------------------- real data

@needs_real
@pytest.mark.parametrize("name", sorted(README_ROWS))
def test_row_counts_and_hashes(name):
    rows, skipped = README_ROWS[name]
    st = D.file_stats(name, REAL)
    assert st["rows"] == rows - skipped
    assert st["skipped"] == skipped
    assert D.sha256_file(REAL / name) == D.FILES[name]


@needs_real
def test_quora_skips_are_empty_labels():
    d = D.load("quora", "dev", REAL)
    assert d.n_skipped == 2
    # both rows have an empty is_duplicate; one also has an empty sentence2 (checked first)
    assert d.skip_reasons == {"empty label": 1, "empty sentence": 1}
    assert set(np.unique(d.labels)) == {0, 1}
    assert "ad118c967d683c93883bf072d" not in d.ids and "9054345d02cd6c5642a4904dc" not in d.ids


@pytest.mark.parametrize("task,split,n", [
    ("sst", "dev", 1101), ("cfimdb", "dev", 245), ("quora", "dev", 20212), ("sts", "dev", 863),
    ("sst", "test-student", 2210), ("cfimdb", "test-student", 488), ("sts", "test-student", 1725),
])
def test_load_sizes(real_dir, task, split, n):
    d = D.load(task, split)
    assert len(d) == n
    if split == "test-student":
        assert d.labels is None
    else:
        assert d.labels is not None and len(d.labels) == n


@pytest.mark.parametrize("task", D.TASKS)
def test_holdout_split(real_dir, task):
    train, test = D.load(task, "train"), D.load(task, "test")
    k = D.HOLDOUT_SIZES[task]
    assert len(test) == k
    if task == "quora":
        info = D.quora_train_info()
        full = info["pairs"]
        assert info["file"] in ("quora-train.csv", "quora-train-partial.csv")
        assert info["train_pairs"] == full - k
    else:
        full = {"sst": 8544, "cfimdb": 1707, "sts": 6040}[task]
    assert len(train) + len(test) == full
    assert not set(train.ids) & set(test.ids)
    assert len(set(test.ids)) == k
    # deterministic: recomputed without the cache gives the same rows
    D._load_cached.cache_clear()
    D._parse_cached.cache_clear()
    assert D.load(task, "test").ids == test.ids
    assert D.load(task, "train").ids == train.ids
    # the selection rule documented in the module docstring
    allids = train.ids + test.ids
    key = lambda i: hashlib.sha256(f"{D.HOLDOUT_SEED}:{task}:{i}".encode()).hexdigest()
    assert set(sorted(allids, key=key)[:k]) == set(test.ids)


def test_holdout_constants():
    assert D.HOLDOUT_SEED == 11711
    assert D.HOLDOUT_SIZES == {"sst": 1000, "cfimdb": 200, "sts": 600, "quora": 2000}


def test_label_types(real_dir):
    sst = D.load("sst", "train")
    assert sst.labels.dtype == np.int64 and set(np.unique(sst.labels)) == set(range(5))
    cf = D.load("cfimdb", "dev")
    assert set(np.unique(cf.labels)) == {0, 1}
    sts = D.load("sts", "dev")
    assert sts.labels.dtype == np.float64
    assert sts.labels.min() >= 0 and sts.labels.max() <= 5
    assert sts.ids[0] == "876d0172eef5db7776e39c5de" and sts.labels[0] == pytest.approx(1.0)


def test_preprocessing_on_real_rows(real_dir):
    sst = D.load("sst", "dev")
    assert sst.ids[0] == "a7d575c9ed86ea9633660c67e"
    assert sst.sents[0] == "it 's a lovely film with lovely performances by buy and accorsi ."
    sts = D.load("sts", "dev")
    assert sts.sents2[1] == "two black dogs are playing in a grassy plain ."
    q = D.load("quora", "dev")
    i = q.ids.index("318658e273ac78f3b1e957b8b")  # quoted field with doubled quotes
    assert q.sents1[i].startswith('"which is correct grammar: i graduated from')
    # csv unquoting as upstream's csv.DictReader: the file's """...""""the""""...""" keeps inner quotes
    assert q.sents1[i].endswith('do i need ""the"" here ?"')


def test_test_student_read_by_column_name(real_dir):
    sst = D.load("sst", "test-student")
    assert sst.ids[0] == "b7573736a6ddf7be102b7fee0"  # 3rd column, not the odd leading ones
    assert sst.sents[0] == "effective but too-tepid biopic"
    cf = D.load("cfimdb", "test-student")
    assert cf.ids[0] == "c916d7750936543cf3a109be1"
    sts = D.load("sts", "test-student")
    assert sts.ids[0] == "cce9b526b3590d2ca2178584f"
    assert sts.sents1[0] == "a band is performing on a stage ."


def test_quora_test_student_absent(real_dir):
    if (real_dir / "quora-test-student.csv").exists():
        pytest.skip("official quora test-student file present")
    with pytest.raises(D.DataError, match="quora-test-student.csv"):
        D.load("quora", "test-student")


def test_provenance(real_dir):
    p = D.data_provenance()
    assert p["holdout"] == {"seed": 11711, "sizes": D.HOLDOUT_SIZES}
    f = p["files"]["quora-dev.csv"]
    assert f["verified"] is True and f["rows"] == 20212 and f["skipped"] == 2
    assert p["quora_train"]["file"] in ("quora-train.csv", "quora-train-partial.csv")


def test_cache_returns_same_object(real_dir):
    assert D.load("sts", "dev") is D.load("sts", "dev")


# ----------------------------------------------------------------------------- pure functions

def test_preprocess_examples():
    assert D.preprocess_single_sentence("  The Rock IS `` great '' .  ") == "the rock is `` great '' ."
    assert D.preprocess_pair_sentence("What's up, Doc?It's 5.5.") == \
        "what 's up , doc ?it 's 5 .5 ."
    assert D.preprocess_pair_sentence("  A  man\tis  playing.  ") == "a man is playing ."


def test_subset():
    d = D.PairData(["a", "b", "c"], ["x", "y", "z"], ["1", "2", "3"], np.array([0, 1, 0]), 4, "s")
    s = d.subset([2, 0])
    assert s.ids == ["c", "a"] and s.sents2 == ["3", "1"] and list(s.labels) == [0, 0]
    assert s.n_skipped == 4 and s.source == "s" and len(s) == 2
    m = d.subset(np.array([False, True, False]))
    assert m.ids == ["b"]
    u = D.SentenceData(["a", "b"], ["x", "y"], None, 0, "s").subset([1])
    assert u.labels is None and u.sents == ["y"]


# ----------------------------------------------------------------------------- bad inputs

def _write(path: Path, rows: list[list[str]]):
    path.write_text("".join("\t".join(r) + "\n" for r in rows))


def test_missing_file(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "default_data_dir", lambda: tmp_path)
    with pytest.raises(D.DataError) as ei:
        D.load("sst", "dev")
    msg = str(ei.value)
    assert "ids-sst-dev.csv" in msg and "python -m mtbert data" in msg
    with pytest.raises(D.DataError, match="python -m mtbert data"):
        D.load("quora", "train")


def test_malformed_rows_skipped_and_counted(tmp_path):
    hdr = ["", "id", "sentence", "sentiment"]
    _write(tmp_path / "ids-sst-dev.csv", [
        hdr,
        ["0", "aaa", " Good film .", "4"],
        ["1", "bbb", " Empty label .", ""],
        ["2", "ccc", " Out of range .", "7"],
        ["3", "ddd", " ", "2"],
        ["4", "eee", " Not a number", "x"],
        ["5", "FFF", " Fine .", "0"],
    ])
    d = D.load("sst", "dev", tmp_path)
    assert d.ids == ["aaa", "fff"]
    assert d.sents == ["good film .", "fine ."]
    assert list(d.labels) == [4, 0]
    assert d.n_skipped == 4
    assert d.skip_reasons == {"empty label": 1, "invalid label": 2, "empty sentence": 1}


def test_malformed_pairs(tmp_path):
    _write(tmp_path / "sts-dev.csv", [
        ["", "id", "sentence1", "sentence2", "similarity"],
        ["0", "a", "A b.", "C d?", "3.2"],
        ["1", "b", "A b.", "C d?", "5.5"],
        ["2", "c", "A b.", "C d?", "nan"],
        ["3", "d", "A b.", "", "1"],
    ])
    d = D.load("sts", "dev", tmp_path)
    assert d.ids == ["a"] and d.sents1 == ["a b ."] and d.sents2 == ["c d ?"]
    assert d.labels.tolist() == [3.2] and d.n_skipped == 3
    _write(tmp_path / "quora-dev.csv", [
        ["", "id", "sentence1", "sentence2", "is_duplicate"],
        ["0", "a", "x", "y", "1.0"], ["1", "b", "x", "y", "0.5"], ["2", "c", "x", "y", ""],
        ["3", "d", "x", "y", "0"],
    ])
    q = D.load("quora", "dev", tmp_path)
    assert q.ids == ["a", "d"] and q.labels.tolist() == [1, 0] and q.n_skipped == 2


def test_missing_column(tmp_path):
    _write(tmp_path / "ids-sst-dev.csv", [["", "id", "text", "sentiment"], ["0", "a", "x", "1"]])
    with pytest.raises(D.DataError, match="sentence"):
        D.load("sst", "dev", tmp_path)


def _fake_mirror(tmp_path: Path, monkeypatch, corrupt: str | None = None) -> Path:
    """A mirror with tiny files whose sha256 are patched into FILES."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    files = {}
    for name in D.FILES:
        if name in fetch.OPTIONAL_FILES:
            continue
        content = f"\tid\tsentence\n0\t{name}\tx\n".encode()
        (mirror / name).write_bytes(content)
        files[name] = hashlib.sha256(content).hexdigest()
        if name == corrupt:
            (mirror / name).write_bytes(content + b"junk")
    files["quora-train.csv"] = None
    monkeypatch.setattr(fetch, "FILES", files)
    monkeypatch.setattr(fetch, "UPSTREAM", "http://127.0.0.1:9/")  # never reaches the internet
    monkeypatch.delenv("MTBERT_DATA_MIRROR", raising=False)
    return mirror


def test_fetch_from_mirror(tmp_path, monkeypatch):
    mirror = _fake_mirror(tmp_path, monkeypatch)
    dest = tmp_path / "dest"
    monkeypatch.setattr(D, "quora_train_info", lambda d=None: {"file": "stub"})
    s = fetch.fetch_data(dest, mirror=mirror, verbose=False, timeout=1)
    assert s["files"]["sts-dev.csv"]["status"] == "copied"
    assert s["files"]["quora-train.csv"]["status"] == "unavailable"
    assert (dest / "sts-dev.csv").read_bytes() == (mirror / "sts-dev.csv").read_bytes()
    assert not [p for p in dest.iterdir() if p.name.endswith(".tmp")]
    # second run: everything present; a damaged local file is replaced from the mirror
    (dest / "sts-dev.csv").write_text("damaged")
    s = fetch.fetch_data(dest, mirror=mirror, verbose=False, timeout=1)
    assert s["files"]["ids-sst-dev.csv"]["status"] == "present"
    assert s["files"]["sts-dev.csv"]["status"] == "replaced"
    assert (dest / "sts-dev.csv").read_bytes() == (mirror / "sts-dev.csv").read_bytes()


def test_fetch_sha_mismatch(tmp_path, monkeypatch):
    mirror = _fake_mirror(tmp_path, monkeypatch, corrupt="sts-dev.csv")
    dest = tmp_path / "dest"
    with pytest.raises(D.DataError) as ei:
        fetch.fetch_data(dest, mirror=mirror, verbose=False, timeout=1)
    msg = str(ei.value)
    assert "sts-dev.csv" in msg
    assert fetch.FILES["sts-dev.csv"] in msg
    assert "python -m mtbert data" in msg
    assert not (dest / "sts-dev.csv").exists()  # nothing unverified lands in dest
    assert not [p for p in dest.iterdir() if p.name.endswith(".tmp")]


def test_fetch_unreachable(tmp_path, monkeypatch):
    _fake_mirror(tmp_path, monkeypatch)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(D.DataError, match="could not fetch data file 'ids-sst-train.csv'"):
        fetch.fetch_data(tmp_path / "dest", mirror=empty, verbose=False, timeout=1)


def test_real_sha_mismatch_message(tmp_path, monkeypatch):
    """Real FILES table: a corrupt mirror copy of sst-train is rejected with its expected hash."""
    mirror = tmp_path / "m"
    mirror.mkdir()
    (mirror / "ids-sst-train.csv").write_text("\tid\tsentence\tsentiment\n")
    with pytest.raises(D.DataError) as ei:
        fetch.fetch_data(tmp_path / "d", mirror=mirror, verbose=False, timeout=1)
    assert "ids-sst-train.csv" in str(ei.value)
    assert "03b2b625c090f94a6afd59f114cde5282e2053aab0b101e87ed695d8a0c5b1df" in str(ei.value)


def test_git_blob_hash(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"hello\n")
    assert fetch.git_blob_sha1(p) == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object`


def test_quora_train_prefers_full_file(tmp_path):
    hdr = ["", "id", "sentence1", "sentence2", "is_duplicate"]
    _write(tmp_path / "quora-train-partial.csv", [hdr, ["0", "a", "x", "y", "1.0"]])
    assert D.file_for("quora", "train", tmp_path).name == "quora-train-partial.csv"
    assert D.file_for("quora", "test", tmp_path).name == "quora-train-partial.csv"
    _write(tmp_path / "quora-train.csv", [hdr, ["0", "a", "x", "y", "1.0"], ["1", "b", "x", "y", ""]])
    assert D.file_for("quora", "train", tmp_path).name == "quora-train.csv"
    info = D.quora_train_info(tmp_path)
    assert info["file"] == "quora-train.csv" and info["full"] is True
    assert info["pairs"] == 1 and info["n_skipped"] == 1


def test_data_subcommand(tmp_path, monkeypatch, capsys):
    from mtbert import cli

    mirror = _fake_mirror(tmp_path, monkeypatch)
    dest = tmp_path / "dest"
    # the fake files are single-sentence-shaped; stub the per-file stats and quora info
    monkeypatch.setattr(D, "file_stats", lambda name, d=None: {"rows": 1, "skipped": 0})
    monkeypatch.setattr(D, "quora_train_info", lambda d=None: {
        "file": "quora-train-partial.csv", "pairs": 1, "n_skipped": 0, "train_pairs": 0,
        "heldout_pairs": 1, "full": False})
    assert cli.main(["data", "--dest", str(dest), "--mirror", str(mirror), "-q"]) == 0
    out = capsys.readouterr().out
    assert "sts-dev.csv" in out and "copied ok" in out and "unavailable (optional)" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["data", "--dest", str(tmp_path / "d2"), "--mirror", str(empty), "-q"]) == 1
    assert "could not fetch" in capsys.readouterr().err


def test_task_specs_name_exactly_the_published_files():
    from mtbert.core.tasks import BUILTIN
    named = {n for spec in BUILTIN for n in spec.all_files()}
    assert set(D.FILES) <= named  # every published file is read by some task
    assert named - set(D.FILES) == {D.QUORA_TEST_STUDENT}  # not in the mirror: predictions say "not written"



@pytest.mark.parametrize("task", ["sst", "cfimdb", "quora", "sts"])
def test_a_spec_parses_labels_in_its_range_only(task):
    spec = D.TASKS[task]
    lo, hi = spec.label_range
    assert spec.parse_label(f" {lo} ") == lo and spec.parse_label(str(hi)) == hi
    assert spec.parse_label(str(hi + 1)) is None and spec.parse_label("") is None and spec.parse_label("x") is None
    assert spec.parse_label("1.0") == 1  # Quora's is_duplicate is written as a float in some rows
    assert (spec.parse_label("1.5") is None) != spec.is_regression


# -- a silent server times out; the repair hint names the folder -------------------------------------------------------

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


def test_repair_hint_names_the_folder_and_what_cannot_be_fetched(tmp_path):
    from mtbert.data.fetch import repair_hint
    assert repair_hint("ids-sst-dev.csv", repo_root() / "data").startswith("run `python -m mtbert data` (or")
    assert f"--dest {tmp_path}`" in repair_hint("ids-sst-dev.csv", tmp_path)
    quora = repair_hint("quora-test-student.csv", tmp_path)
    assert "cannot fetch it" in quora and "replace it with the official file or remove it" in quora
