"""Data identity: which data files a run reads, their sha256 (cached by size and mtime), and verification.

A result records `data.files = {file name: sha256}`; a stored result is current only while the files it was
trained on are still the files in the data folder (`mtbert.training.engine._stored`). Before training, every file a run
will read is checked against its published sha256 (`mtbert.data.fetch.FILES`), so a truncated or edited file is
refused with a message naming it, instead of training and being stored.

A file that is not in the published list (the data of a task added with `mtbert.data.tasks.register_task`) has its
sha256 *recorded, not checked*: nothing says what it should be, but a stored result is current only while the file
still has the recorded hash.
"""
from __future__ import annotations

import json
from pathlib import Path

from mtbert.data import datasets as D
from mtbert.data.fetch import FILES, GIT_BLOBS, git_blob_sha1, sha256_file

CACHE_NAME = ".sha256-cache.json"
_memo: dict[tuple, str] = {}  # (path, size, mtime_ns) -> sha256, in this process


def files_for(cfg, data_dir=None) -> list[Path]:
    """The data files a run of `cfg` reads: train (also the source of the held-out test split) and dev files of
    every trained or evaluated task, and the test-student files it writes predictions for (when present)."""
    out = []
    for t in dict.fromkeys((*cfg.train_tasks, *cfg.eval_tasks)):
        for split in ("train", "dev"):
            out.append(D.file_for(t, split, data_dir))
    for t in cfg.predictions:
        try:
            out.append(D.file_for(t, "test-student", data_dir))
        except D.DataError:  # e.g. no Quora test-student file: predictions say "not written"
            pass
    return list(dict.fromkeys(p.resolve() for p in out))


def _cache_path(folder: Path) -> Path:
    return folder / CACHE_NAME


def _read_cache(folder: Path) -> dict:
    try:
        c = json.loads(_cache_path(folder).read_text())
        return c if isinstance(c, dict) else {}
    except (OSError, ValueError):
        return {}  # absent or damaged: recomputed (and rewritten) below


def sha256s(paths) -> dict[str, str]:
    """{file name: sha256} of `paths`; a file's hash is recomputed only when its size or mtime changed (cache:
    `<data folder>/.sha256-cache.json`, written atomically)."""
    from mtbert.results import store
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
                store.write_json(_cache_path(folder), cache)
            except OSError:  # a read-only data folder: hashes are just not cached
                pass
    return out


def current(cfg, data_dir=None) -> dict[str, str]:
    """{file name: sha256} of the data files a run of `cfg` reads, as they are now."""
    return sha256s(files_for(cfg, data_dir))


def verify(cfg, data_dir=None) -> dict[str, str]:
    """Check every file a run of `cfg` reads against its published sha256 (the full Quora train file, which has
    none, against its upstream git blob id); DataError naming the first bad file. Returns {name: sha256}."""
    paths = files_for(cfg, data_dir)
    hashes = sha256s(paths)
    for p in paths:
        expected = FILES.get(p.name)
        if expected is not None:
            ok = hashes[p.name] == expected
        elif p.name in GIT_BLOBS:
            ok = git_blob_sha1(p) == GIT_BLOBS[p.name]
            expected = f"git blob {GIT_BLOBS[p.name]}"
        else:  # not a published file: recorded, not checked
            continue
        if not ok:
            raise D.DataError(
                f"data file '{p.name}' ({p}) does not match its published checksum (expected {expected}, "
                f"got sha256 {hashes[p.name]}): it is truncated or changed. Fix: run `make data` (or "
                f"`python -m mtbert data`), which re-fetches it; nothing was trained.")
    return hashes
