"""Fetch and verify the CS224N data files (no parsing: that is `mtbert.data.datasets`).

The eleven files of ``gpoesia/minbert-default-final-project`` (folder ``data/`` at commit
7ac8260577fc12a86c7aaf38918056c30054ef39) plus the optional official ``quora-train.csv`` (141,506 pairs).
:func:`fetch_data` copies them from a local mirror (``--mirror``, default ``<repo>/../shared/data``) or
downloads them from :data:`UPSTREAM` (with a timeout), and verifies each file's sha256 (:data:`FILES`).
The official Quora train file has no known sha256; it is verified against its upstream git blob id
instead (:data:`GIT_BLOBS`). Writes are atomic: nothing unverified lands in the data folder.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from mtbert.core.tasks import (QUORA_TEST_STUDENT, QUORA_TRAIN_FULL, QUORA_TRAIN_PARTIAL,  # noqa: F401
                               SST_TRAIN_TREES)
from mtbert.errors import DataError
from mtbert.settings import repo_root

UPSTREAM = ("https://raw.githubusercontent.com/gpoesia/minbert-default-final-project/"
            "7ac8260577fc12a86c7aaf38918056c30054ef39/data/")

#: file name -> expected sha256 (None: unknown, see GIT_BLOBS)
FILES: dict[str, str | None] = {
    "ids-sst-train.csv": "03b2b625c090f94a6afd59f114cde5282e2053aab0b101e87ed695d8a0c5b1df",
    "ids-sst-dev.csv": "a186ce94577635fbe10beaaddd50f16cccf6c30973221cefdf90deed2a584bfe",
    "ids-sst-test-student.csv": "bdd5a767faa0c26782117e37767ece154c30d5d04fb8727d09c71e3850a55c7b",
    "ids-cfimdb-train.csv": "140fc513045a966109faed46a5c7a898767b96714d71bcb9c15f659129fadcea",
    "ids-cfimdb-dev.csv": "3087f571b66860fe5d035b5a018d08202ad3fd3720e4821c04b2acf6c7ded559",
    "ids-cfimdb-test-student.csv": "7ae611548c9eac879e9ebb406cc9f8ae68ff12f78090e4965af5cbdfa06240f4",
    "quora-dev.csv": "bfa3cc954a9ba300ae776a980141de65f622a3c1b97e3fd905d63245bc36d5ad",
    "quora-train-partial.csv": "09783b73ab8a539ef7a4d41d25dea2c3a2a224ebb78557541ba39ee3a62299f4",
    "sts-train.csv": "15d12efc2d656fffb1d61ac1f08ec4227f43925fd16f420c037cbd063699c21b",
    "sts-dev.csv": "ce3cad6f16062586ac7ba462c28b010a9be10c530fd5074165860d7b7ab4e93d",
    "sts-test-student.csv": "dee455745b72e9ca3ff74e7c056bd73e34bad5b8d5641045a2c1e7e131866f47",
    # official full Quora train file: optional, sha256 unknown (verified by git blob id)
    "quora-train.csv": None,
    # the SST treebank's training trees (phrase-level labels; the data mirror's, not upstream's): optional
    "sst-train-trees.txt": "e2f3f41b0b1e6d4dddc0effe3bfc2d27ed8928079aa9a03d652311614fc5feb7",
}

#: optional files: fetching them may fail without failing fetch_data; what runs do without them
OPTIONAL_FILES = {"quora-train.csv": "runs use quora-train-partial.csv",
                  "sst-train-trees.txt": "runs that train on SST phrases cannot run; sentence runs are unaffected"}

#: upstream git blob ids (sha1 of b"blob <size>\0" + content) for files without a known sha256
GIT_BLOBS: dict[str, str] = {
    "quora-train.csv": "a3b5546f6a0e65b60a328a5d294d1038f5bed1da",
}

FETCH_HINT = "run `python -m mtbert data` (or `make data`)"


def fetch_hint(folder=None) -> str:
    """The command that fills `folder` (FETCH_HINT for the repository's data/; `--dest` for any other)."""
    if folder is None or Path(os.path.abspath(folder)) == Path(os.path.abspath(repo_root() / "data")):
        return FETCH_HINT
    return f"run `python -m mtbert data --dest {folder}`"


def repair_hint(name: str, folder) -> str:
    """How to replace a bad data file `name` of `folder`: re-fetch what the mirror or upstream holds; a file
    neither holds (an official test-student file, a registered task's data) can only be replaced or removed."""
    if name in FILES and FILES[name] is not None:
        return f"{fetch_hint(folder)}, which re-fetches it"
    if name == QUORA_TRAIN_FULL:
        return (f"remove it (runs then use {QUORA_TRAIN_PARTIAL}), or {fetch_hint(folder)}, which downloads the "
                "official file when upstream is reachable")
    return (f"replace it with the official file or remove it ({name} is not in the data mirror, so `mtbert data` "
            "cannot fetch it; without it no predictions are written for it)")
DOWNLOAD_TIMEOUT_S = 10.0


def default_mirror() -> Path | None:
    """``<repo>/../shared/data`` if it exists, else None."""
    cand = repo_root().parent / "shared" / "data"
    return cand if cand.is_dir() else None


# --------------------------------------------------------------------------- hashing

def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_blob_sha1(path: str | os.PathLike) -> str:
    size = os.path.getsize(path)
    h = hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify(name: str, path: Path) -> tuple[bool | None, str, str | None]:
    """-> (ok, actual_sha256, expected) ; ok None when nothing to verify against."""
    actual = sha256_file(path)
    expected = FILES.get(name)
    if expected is not None:
        return actual == expected, actual, expected
    blob = GIT_BLOBS.get(name)
    if blob is not None:
        return git_blob_sha1(path) == blob, actual, f"git blob {blob}"
    return None, actual, None


# --------------------------------------------------------------------------- fetching

def _download(url: str, out, timeout: float) -> None:
    req = urllib.request.Request(url, headers={"User-Agent": "mtbert-data/0.1"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        shutil.copyfileobj(resp, out, 1 << 20)


def _fetch_one(name: str, dest: Path, mirror: Path | None, timeout: float) -> tuple[str, str]:
    """Fetch ``name`` into ``dest`` atomically and verify it. -> (source, actual sha256)."""
    src_path = mirror / name if mirror is not None else None
    errors = []
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=dest)
    try:
        source = None
        with os.fdopen(fd, "wb") as out:
            if src_path is not None and src_path.is_file():
                with open(src_path, "rb") as inp:
                    shutil.copyfileobj(inp, out, 1 << 20)
                source = str(src_path)
            else:
                errors.append(f"not in mirror ({mirror})" if mirror is not None else "no mirror")
                url = UPSTREAM + name
                try:
                    _download(url, out, timeout)
                    source = url
                except Exception as e:  # network errors of all kinds
                    errors.append(f"download of {url} failed (timeout {timeout:g} s): {e}")
            out.flush()
            os.fsync(out.fileno())
        if source is None:
            raise DataError(
                f"could not fetch data file '{name}': " + "; ".join(errors)
                + ". Fix: pass `--mirror DIR` (or set MTBERT_DATA_MIRROR) to a folder holding the "
                "data files (e.g. ../shared/data), or run on a machine that can reach "
                f"{UPSTREAM}, then {FETCH_HINT}.")
        ok, actual, expected = _verify(name, Path(tmp))
        if ok is False:
            raise DataError(
                f"sha256 mismatch for data file '{name}' (from {source}): expected {expected}, "
                f"got sha256 {actual}. Fix: delete {dest / name} and re-run `python -m mtbert data` "
                "(or `make data`); if the mirror copy itself is corrupt, repair it or unset "
                "MTBERT_DATA_MIRROR / pass another --mirror.")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest / name)
        tmp = None
        return source, actual
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


def fetch_data(dest: str | os.PathLike | None = None, mirror: str | os.PathLike | None = None,
               verbose: bool = True, timeout: float = DOWNLOAD_TIMEOUT_S) -> dict:
    """Make sure every data file is in ``dest`` (default :func:`default_data_dir`) and verified.

    Per file: keep it if present with the right sha256; else copy from ``mirror``
    (default :func:`default_mirror`); else download from :data:`UPSTREAM`.  Writes are
    atomic (temp file + ``os.replace``), and nothing unverified lands in ``dest``.
    Raises :class:`DataError` for a required file that cannot be fetched or whose
    hash does not match.  The optional official ``quora-train.csv`` is tried
    (mirror, then upstream) and on failure noted in the summary.

    Returns ``{"dest", "mirror", "files": {name: {"status", "sha256", "source", ...}},
    "quora_train": quora_train_info(dest)}``; status is one of ``present``,
    ``copied``, ``downloaded``, ``replaced`` (a wrong local file was re-fetched) or
    ``unavailable`` (optional file only).
    """
    dest = Path(dest).expanduser() if dest is not None else repo_root() / "data"
    mirror = Path(mirror).expanduser() if mirror is not None else default_mirror()
    dest.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict] = {}

    def say(msg: str) -> None:
        if verbose:
            print(msg, flush=True)

    for name in FILES:
        target = dest / name
        info: dict[str, Any] = {"expected_sha256": FILES[name]}
        was_bad = False
        if target.is_file():
            ok, actual, _ = _verify(name, target)
            if ok is not False:
                info.update(status="present", sha256=actual, source=str(target), verified=ok)
                files[name] = info
                continue
            was_bad = True
            say(f"{name}: local copy has wrong hash (sha256 {actual}); re-fetching")
        try:
            source, actual = _fetch_one(name, dest, mirror, timeout)
        except DataError as e:
            if name in OPTIONAL_FILES and not was_bad:
                info.update(status="unavailable", sha256=None, source=None, verified=None,
                            note=str(e))
                files[name] = info
                why = str(e).split(": ", 1)[-1].split(". Fix:")[0]
                say(f"{name}: optional file not available ({why}); {OPTIONAL_FILES[name]}")
                continue
            raise
        status = "replaced" if was_bad else ("copied" if not source.startswith("http") else "downloaded")
        info.update(status=status, sha256=actual, source=source,
                    verified=True if (FILES[name] or GIT_BLOBS.get(name)) else None)
        files[name] = info
        say(f"{name}: {status} from {source}")

    return {"dest": str(dest), "mirror": str(mirror) if mirror else None, "files": files}
