"""Data layer: parse the CS224N multitask-minBERT data files (fetched and verified by `mtbert.data.fetch`) into :class:`SentenceData`
(SST, CFIMDB) and :class:`PairData` (Quora, STS) objects.  No tokenisation here.

Parsing (mirrors upstream ``datasets.py``)
-----------------------------------------
* Files are read by column name with a real TSV reader (pandas, all columns as
  strings, no NA inference), so quoted Quora fields parse exactly as upstream's
  ``csv.DictReader(fp, delimiter='\\t')`` does.
* Single sentences (SST, CFIMDB): ``s.lower().strip()``.
* Pair sentences (Quora, STS): upstream ``preprocess_string``
  (:func:`preprocess_pair_sentence`).
* Ids: ``id.lower().strip()``.
* Labels: SST ``int`` 0-4, CFIMDB ``int`` 0/1, Quora ``int(float(is_duplicate))``
  in {0, 1}, STS ``float`` similarity in [0, 5].
* Malformed rows (empty/NaN/non-numeric/out-of-range label, empty sentence or id)
  are skipped and counted (``n_skipped``, ``skip_reasons``), never guessed.  In the
  mirror this affects exactly 2 rows of ``quora-dev.csv`` and 2 rows of
  ``quora-train-partial.csv`` (empty ``is_duplicate``).

Splits
------
``load(task, split)`` with ``split`` in:

* ``"train"``  - the train file minus the held-out rows below;
* ``"dev"``    - the official dev file (used for model selection);
* ``"test"``   - a held-out *labelled* test split carved out of the train file
  (the official test files have no labels);
* ``"test-student"`` - the official unlabelled test file (no Quora file in the
  mirror: raises :class:`DataError` unless ``quora-test-student.csv`` exists).

Held-out test split: deterministic, seed ``HOLDOUT_SEED = 11711``, sizes
``HOLDOUT_SIZES`` = SST 1,000, CFIMDB 200, STS 600, Quora 2,000 (taken from
whichever Quora train file is in use, so it differs between the partial and the
full file).  Selection: the rows (after skipping malformed ones) whose
``sha256(f"{HOLDOUT_SEED}:{task}:{id}")`` hex digests are smallest; this depends
only on the row ids (unique in every file), not on row order or on the numpy
version.  Held-out rows are never in the returned ``train`` split; both splits
keep the file's row order.
"""
from __future__ import annotations


import csv
import dataclasses
import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from mtbert.errors import DataError
from mtbert.data.fetch import (FETCH_HINT, FILES, fetch_hint, repair_hint, QUORA_TEST_STUDENT, QUORA_TRAIN_FULL, QUORA_TRAIN_PARTIAL, UPSTREAM,
                    _verify, sha256_file)
from mtbert.core.tasks import QUORA, TASKS, SpecView, get_task
from mtbert.settings import repo_root

__all__ = [
    "HOLDOUT_SEED", "HOLDOUT_SIZES", "TASKS", "SPLITS", "DataError", "SentenceData", "PairData",
    "default_data_dir", "load", "file_for", "quora_train_info", "data_provenance", "file_stats",
    "preprocess_single_sentence", "preprocess_pair_sentence",
]

HOLDOUT_SEED = 11711
HOLDOUT_SIZES = SpecView("holdout_size")  # {task: rows held out}, read from the task specs (mtbert.core.tasks)

SPLITS = ("train", "dev", "test", "test-student")


# --------------------------------------------------------------------------- containers

def _as_index(idx: Any, n: int) -> np.ndarray:
    idx = np.asarray(idx)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise IndexError(f"boolean mask of shape {idx.shape} for {n} rows")
        return np.flatnonzero(idx)
    return idx.astype(np.int64, copy=False).reshape(-1)


class _Rows:
    """Row selection shared by SentenceData and PairData: every per-row column is subset together."""
    TEXT: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx: Iterable[int] | np.ndarray):
        ii = _as_index(idx, len(self))
        cols = {c: [getattr(self, c)[i] for i in ii] for c in ("ids", *self.TEXT)}
        return dataclasses.replace(self, **cols, skip_reasons=dict(self.skip_reasons),
                                   labels=None if self.labels is None else self.labels[ii].copy())


@dataclass
class SentenceData(_Rows):
    """Single-sentence classification data (SST, CFIMDB).

    ``labels`` is an int64 array, or None for unlabelled (test-student) files.
    ``n_skipped`` counts malformed rows of the *source file* (kept by ``subset``).
    """
    TEXT = ("sents",)
    ids: list[str]
    sents: list[str]
    labels: np.ndarray | None
    n_skipped: int
    source: str
    skip_reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class PairData(_Rows):
    """Sentence-pair data (Quora: int64 labels 0/1; STS: float64 similarity 0-5).

    ``labels`` is None for unlabelled (test-student) files.
    """
    TEXT = ("sents1", "sents2")
    ids: list[str]
    sents1: list[str]
    sents2: list[str]
    labels: np.ndarray | None
    n_skipped: int
    source: str
    skip_reasons: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- paths

def default_data_dir() -> Path:
    """``<repo>/data`` (a settings object passes another folder explicitly)."""
    return repo_root() / "data"


def _data_dir(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir).expanduser() if data_dir is not None else default_data_dir()


# --------------------------------------------------------------------------- parsing

def preprocess_single_sentence(s: str) -> str:
    """Upstream preprocessing of SST/CFIMDB sentences."""
    return s.lower().strip()


def preprocess_pair_sentence(s: str) -> str:
    """Upstream ``preprocess_string`` for Quora/STS sentences."""
    return " ".join(s.lower().replace(".", " .").replace("?", " ?").replace(",", " ,")
                    .replace("'", " '").split())


def _file_kind() -> dict[str, tuple[str, bool]]:
    """file name -> (task, labelled?) of every file a task spec names (for provenance)."""
    return {name: (t.name, split != "test-student") for t in TASKS.values()
            for split in t.files for name in t.file_candidates(split)}


def _missing(name: str, data_dir: Path) -> DataError:
    return DataError(
        f"data file '{name}' not found in {data_dir}. Fetch the data: {fetch_hint(data_dir)}, or pass a data "
        "folder that holds it (`--data-dir`, notebook parameter `data_dir`).")


def _read_tsv(path: Path, columns: list[str]):
    import pandas as pd  # local import: keeps `import mtbert.data.datasets` light

    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False,
                         quoting=csv.QUOTE_MINIMAL, engine="c")
    except Exception as e:
        raise DataError(f"cannot parse data file '{path.name}' ({path}): {e}. "
                        f"Fix: {repair_hint(path.name, path.parent)}.") from e
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"data file '{path.name}' ({path}) lacks column(s) {missing}; "
                        f"has {list(df.columns)}. Fix: {repair_hint(path.name, path.parent)}.")
    return df


def _parse(path: Path, task: str, labelled: bool) -> SentenceData | PairData:
    spec = get_task(task)
    label_col = spec.label_column
    sent_cols = ["sentence1", "sentence2"] if spec.is_pair else ["sentence"]
    cols = ["id", *sent_cols] + ([label_col] if labelled else [])
    df = _read_tsv(path, cols)
    prep = preprocess_pair_sentence if spec.is_pair else preprocess_single_sentence
    raw = {c: df[c].tolist() for c in cols}
    ids: list[str] = []
    sents: list[list[str]] = [[] for _ in sent_cols]
    labels: list = []
    reasons: dict[str, int] = {}
    for r in range(len(df)):
        sid = raw["id"][r].lower().strip()
        ss = [prep(raw[c][r]) for c in sent_cols]
        why = None
        if not sid:
            why = "empty id"
        elif any(not s for s in ss):
            why = "empty sentence"
        lab = None
        if why is None and labelled:
            lab = spec.parse_label(raw[label_col][r])
            if lab is None:
                why = "empty label" if not raw[label_col][r].strip() else "invalid label"
        if why is not None:
            reasons[why] = reasons.get(why, 0) + 1
            continue
        ids.append(sid)
        for lst, s in zip(sents, ss):
            lst.append(s)
        if labelled:
            labels.append(lab)
    lab_arr = np.asarray(labels, dtype=spec.dtype) if labelled else None
    n_skipped = sum(reasons.values())
    if spec.is_pair:
        return PairData(ids, sents[0], sents[1], lab_arr, n_skipped, str(path), reasons)
    return SentenceData(ids, sents[0], lab_arr, n_skipped, str(path), reasons)


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=64)
def _parse_cached(path: str, task: str, labelled: bool, stamp: tuple[int, int]):
    return _parse(Path(path), task, labelled)


def _holdout_mask(data: SentenceData | PairData, task: str) -> np.ndarray:
    k = get_task(task).holdout_size
    if k >= len(data):
        raise DataError(f"{task}: train file {data.source} has only {len(data)} usable rows, "
                        f"cannot hold out {k}")
    keys = [hashlib.sha256(f"{HOLDOUT_SEED}:{task}:{i}".encode()).hexdigest() for i in data.ids]
    order = sorted(range(len(keys)), key=lambda j: (keys[j], j))
    mask = np.zeros(len(data), dtype=bool)
    mask[order[:k]] = True
    return mask


def file_for(task: str, split: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The file ``load(task, split)`` reads (``test`` reads the train file; where a spec names several train files,
    the first present); DataError if absent."""
    spec = get_task(task)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    d = _data_dir(data_dir)
    names = spec.file_candidates(split)
    for name in names:
        if (d / name).is_file():
            return d / name
    if split == "test-student" and (not names or names[0] not in FILES):
        raise DataError(
            f"no {spec.display} test-student file: "
            + (f"'{names[0]}' is not part of the data mirror and is not in {d}" if names else "its spec names none")
            + ". Use split='test' (held-out labelled split) or place the official file there.")
    if len(names) > 1:
        raise DataError(
            f"data file '{names[-1]}' (or " + ", ".join(f"'{n}'" for n in names[:-1]) + f") not found in "
            f"{d}. Fetch the data: {fetch_hint(d)}, or pass a "
            "data folder that holds it (`--data-dir`).")
    raise _missing(names[0], d)


@functools.lru_cache(maxsize=64)
def _load_cached(task: str, split: str, path: str, stamp: tuple[int, int]):
    labelled = split != "test-student"
    full = _parse_cached(path, task, labelled, stamp)
    if split in ("dev", "test-student"):
        return full
    mask = _holdout_mask(full, task)
    return full.subset(np.flatnonzero(mask if split == "test" else ~mask))


def load(task: str, split: str, data_dir: str | os.PathLike | None = None) -> SentenceData | PairData:
    """Parsed rows of ``task`` (a name in ``mtbert.core.tasks.TASKS``) and ``split``
    ("train", "dev", "test" = held-out labelled, "test-student" = official unlabelled).

    Results are cached in-process per (task, split, resolved file, mtime/size): treat
    them as read-only (use ``subset`` to derive new objects).
    """
    p = file_for(task, split, data_dir).resolve()
    return _load_cached(task, split, str(p), _stamp(p))


def load_file(path: Path, task: str) -> SentenceData | PairData:
    """Every usable row of one labelled file of `task` (no held-out split), cached like `load`."""
    p = Path(path).resolve()
    return _parse_cached(str(p), task, True, _stamp(p))


def trees_file_for(task: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The parse-tree file of a task's train rows (its spec's `trees_file`); DataError if it has none or it is
    absent."""
    spec = get_task(task)
    if spec.trees_file is None:
        raise DataError(f"task {task!r} has no parse trees, so it cannot train on phrases")
    d = _data_dir(data_dir)
    if not (d / spec.trees_file).is_file():
        raise DataError(f"data file '{spec.trees_file}' not found in {d}: runs that train {spec.display} on phrases "
                        f"need it. Fix: {fetch_hint(d)} (it copies the file from the data mirror), or pass a data folder "
                        "that holds it (`--data-dir`).")
    return d / spec.trees_file


def train_file_info(task: str, data_dir: str | os.PathLike | None = None) -> dict:
    """Which train file of a task is used (its spec may name a full and a partial one) and how many rows it had
    (for provenance)."""
    spec = get_task(task)
    p = file_for(task, "train", data_dir).resolve()
    full = _parse_cached(str(p), task, True, _stamp(p))
    k = min(spec.holdout_size, len(full))
    return {
        "file": p.name,
        "full": p.name == spec.file_candidates("train")[0],
        "pairs": len(full),
        "n_skipped": full.n_skipped,
        "train_pairs": len(full) - k,
        "heldout_pairs": k,
    }


def quora_train_info(data_dir: str | os.PathLike | None = None) -> dict:
    """Which Quora train file is used, the full or the partial one, and how many pairs it had."""
    return train_file_info(QUORA.name, data_dir)


def file_stats(name: str, data_dir: str | os.PathLike | None = None) -> dict:
    """rows kept / skipped of one data file (whole file, before any held-out split)."""
    d = _data_dir(data_dir)
    p = (d / name).resolve()
    if not p.is_file():
        raise _missing(name, d)
    if name in {t.trees_file for t in TASKS.values()}:  # one parse tree per line, one per row of the train file
        with open(p, "rb") as f:
            return {"rows": sum(1 for line in f if line.strip()), "skipped": 0, "skip_reasons": {}}
    task, labelled = _file_kind()[name]
    data = _parse_cached(str(p), task, labelled, _stamp(p))
    return {"rows": len(data), "skipped": data.n_skipped, "skip_reasons": dict(data.skip_reasons)}


def data_provenance(data_dir: str | os.PathLike | None = None) -> dict:
    """sha256 (and whether it verified), rows kept and skipped for every present data file,
    plus the Quora train file info and the held-out split parameters."""
    d = _data_dir(data_dir)
    files = {}
    for name in FILES:
        p = d / name
        if not p.is_file():
            continue
        ok, actual, expected = _verify(name, p)
        entry = {"sha256": actual, "expected": expected, "verified": ok}
        entry.update(file_stats(name, d))
        files[name] = entry
    out: dict[str, Any] = {
        "data_dir": str(d.resolve()),
        "upstream": UPSTREAM,
        "files": files,
        "holdout": {"seed": HOLDOUT_SEED, "sizes": dict(HOLDOUT_SIZES)},
    }
    try:
        out["quora_train"] = quora_train_info(d)
    except DataError as e:
        out["quora_train"] = {"error": str(e)}
    return out
