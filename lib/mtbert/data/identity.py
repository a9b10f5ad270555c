"""Data identity: which data files a run reads, their sha256, and verification before training.

A result records `data.files = {file name: sha256}`; a stored result is current only while the files it was
trained on are still the files in the data folder (`mtbert.results.store.stored`).

Two ways to hash, for two purposes:

* `verify_full` (before a run trains): every file the run reads is hashed in full, ignoring any cache, and
  checked against its identity (below). A same-size edit whose mtime was restored is found. The cost is one read
  of each file: for all eleven mirror files (12.2 MB) 0.09 s cold, 0.03 s warm on the project's 2-core CPU
  (the cache saves about 0.03 s per check).
* `current` / `sha256s` (status-like reads: is a stored result current?): a file's hash is recomputed only when
  its size or mtime changed (cache `<data folder>/.sha256-cache.json`); a run that would train never relies on it.

The identity of a data file, by what is known about it:

* a file of the mirror (`mtbert.data.fetch.FILES`): its published sha256;
* the official full `quora-train.csv`, which the mirror does not hold: its upstream git blob id
  (`mtbert.data.fetch.GIT_BLOBS`: sha1 of `blob <size>\0` + content, what `git hash-object` prints); another
  content is refused;
* a file nobody published a checksum of (the official `quora-test-student.csv`, the data of a task added with
  `mtbert.core.tasks.register_task`): it must parse as its task's file (the right columns, at least one usable
  row); its sha256 is recorded in the result like every other file's, so the result still names the exact bytes
  it was made from, and a stored result is current only while the file still has that hash.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from mtbert.data import datasets as D
from mtbert.core.atomic import write_json
from mtbert.data.fetch import FILES, GIT_BLOBS, git_blob_sha1, repair_hint, sha256_file

CACHE_NAME = ".sha256-cache.json"
_memo: dict[tuple, str] = {}  # (path, size, mtime_ns) -> sha256, in this process


def files_for(cfg, data_dir=None) -> list[Path]:
    """The data files a run of `cfg` reads: train (also the source of the held-out test split) and dev files of
    every trained or evaluated task, the parse trees of a task trained on phrases (or in a phrase stage), and the test-student files it
    writes predictions for (when present)."""
    out = []
    for t in dict.fromkeys((*cfg.train_tasks, *cfg.eval_tasks)):
        for split in ("train", "dev"):
            out.append(D.file_for(t, split, data_dir))
        if t in cfg.train_tasks and (cfg.train_units(t) == "phrases" or cfg.phrase_stage(t) > 0):
            out.append(D.trees_file_for(t, data_dir))
    for t in cfg.predictions:
        try:
            out.append(D.file_for(t, "test-student", data_dir))
        except D.DataError:  # e.g. no Quora test-student file: predictions say "not written"
            pass
    # absolute but not resolved: a link is read through, and its content checked under the name the run asked
    # for (a link named ids-sst-dev.csv must hold that file's published bytes, whatever its target is called)
    return list(dict.fromkeys(Path(os.path.abspath(p)) for p in out))


def _cache_path(folder: Path) -> Path:
    return folder / CACHE_NAME


CACHE_LIMIT_BYTES = 1 << 20  # a cache of the data files' hashes is about 2 kB


def _read_cache(folder: Path) -> dict:
    """The hash cache of a data folder; {} when absent, damaged, over CACHE_LIMIT_BYTES or nested too deep
    (then it is recomputed and rewritten)."""
    try:
        with open(_cache_path(folder), "rb") as f:
            raw = f.read(CACHE_LIMIT_BYTES + 1)
        if len(raw) > CACHE_LIMIT_BYTES:
            return {}
        c = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return c if isinstance(c, dict) else {}


def sha256s(paths) -> dict[str, str]:
    """{file name: sha256} of `paths`; a file's hash is recomputed only when its size or mtime changed (cache:
    `<data folder>/.sha256-cache.json`, written atomically)."""
    out, by_folder = {}, {}
    for p in map(Path, paths):
        by_folder.setdefault(p.parent, []).append(p)
    for folder, ps in by_folder.items():
        cache, dirty = None, False
        for p in ps:
            st = p.stat()
            key = (str(p), st.st_size, st.st_mtime_ns)
            if key not in _memo:
                if cache is None:
                    cache = _read_cache(folder)
                c = cache.get(p.name)
                if isinstance(c, dict) and c.get("size") == st.st_size and c.get("mtime_ns") == st.st_mtime_ns \
                        and isinstance(c.get("sha256"), str):
                    _memo[key] = c["sha256"]
                else:
                    _memo[key] = sha256_file(p)
                    cache[p.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _memo[key]}
                    dirty = True
            out[p.name] = _memo[key]
        if dirty:
            try:
                write_json(_cache_path(folder), cache)
            except OSError:  # a read-only data folder: hashes are just not cached
                pass
    return out


def current(cfg, data_dir=None) -> dict[str, str]:
    """{file name: sha256} of the data files a run of `cfg` reads, as they are now (cached: for status-like
    reads only)."""
    return sha256s(files_for(cfg, data_dir))


def full_sha256s(paths) -> dict[str, str]:
    """{file name: sha256} of `paths`, each file read in full (no cache trusted); the cache is refreshed."""
    out, by_folder = {}, {}
    for p in map(Path, paths):
        by_folder.setdefault(p.parent, []).append(p)
    for folder, ps in by_folder.items():
        cache = _read_cache(folder)
        for p in ps:
            st = p.stat()
            out[p.name] = sha256_file(p)
            _memo[(str(p), st.st_size, st.st_mtime_ns)] = out[p.name]
            cache[p.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": out[p.name]}
        try:
            write_json(_cache_path(folder), cache)
        except OSError:  # a read-only data folder: hashes are just not cached
            pass
    return out


def _refuse(p: Path, why: str) -> D.DataError:
    via = f" (a link to {os.path.realpath(p)})" if p.is_symlink() else ""
    return D.DataError(f"data file '{p.name}' ({p}{via}) {why}: it is truncated or changed. Fix: "
                       f"{repair_hint(p.name, p.parent)}; nothing was trained.")


def check_identity(p: Path, sha256: str) -> None:
    """DataError unless file `p` (whose sha256 is `sha256`) is the file its name says (see the module doc)."""
    expected = FILES.get(p.name)
    if expected is not None:
        if sha256 != expected:
            raise _refuse(p, f"does not match its published checksum (expected sha256 {expected}, got {sha256})")
    elif p.name in GIT_BLOBS:
        blob = git_blob_sha1(p)
        if blob != GIT_BLOBS[p.name]:
            raise _refuse(p, f"does not match its upstream git blob id (expected {GIT_BLOBS[p.name]}, got {blob})")
    elif p.name in D._file_kind():  # no published checksum: it must at least parse as a file of its task
        if D.file_stats(p.name, p.parent)["rows"] == 0:
            raise _refuse(p, "has no usable row")


def verify_full(cfg, data_dir=None) -> dict[str, str]:
    """Before training: hash every file a run of `cfg` reads in full and check its identity (module doc);
    DataError naming the first bad file. Returns {name: sha256} (what the result records)."""
    paths = files_for(cfg, data_dir)
    hashes = full_sha256s(paths)
    for p in paths:
        check_identity(p, hashes[p.name])
    return hashes
