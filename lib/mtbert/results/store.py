"""The results store: reading and writing run results (one JSON per run), written atomically with bounded reads
(`mtbert.core.atomic`). Where the store lives is a setting (`Settings.store_root`); tables, figures, the
report and the tests read results through this module, never through the training engine.

Before a run trains: `check_writable` finds a read-only, full or misplaced store, and `run_lock` keeps two
processes from training the same run id (the second is refused with a message naming the first).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import platform
import re
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from mtbert.data import identity as datahash
from mtbert.errors import MtbertError
# the store's writers and readers, for every module that writes results
from mtbert.core.atomic import (JSON_LIMIT_BYTES, ResultFileError, read_json, remove_stale_tmp,  # noqa: F401
                                   torch_save, write_json, write_text)
from mtbert.settings import DEFAULT_SEED, Settings
from mtbert.core.config import RunConfig
from mtbert.core.experiments import run_config


@dataclass
class RunOutput:
    """What a finished training run hands to the store: its result record and the prediction files it names
    ({path relative to the store root: text}). A worker that trains returns one; the driver saves it."""
    record: dict
    files: dict = field(default_factory=dict)


def save_run(S: Settings, output: RunOutput, path=None) -> dict:
    """Write a run's prediction files, then its record at `path` (default: results/<profile>/<run_id>.json).
    The record goes last: a run counts as stored only once every file it names is on disk."""
    root = Path(S.store_root)
    for rel, text in output.files.items():
        p = Path(rel)
        if p.is_absolute() or ".." in p.parts:
            raise MtbertError(f"run {output.record.get('run_id')}: prediction file {rel!r} is outside the store")
        write_text(root / p, text)
    write_json(path if path is not None else S.results_dir / f"{output.record['run_id']}.json", output.record)
    return output.record


def result_path(cfg: RunConfig, S: Settings) -> Path:
    return S.results_dir / f"{cfg.run_id}.json"


def stored(cfg: RunConfig, S: Settings):
    """The stored result of exactly this config on exactly the current data files (their sha256, recorded as
    `data.files`), else None. A damaged file is a ResultFileError naming it."""
    path = result_path(cfg, S)
    if path.exists():
        r = read_result(path)
        if r.get("config_hash") == cfg.hash():
            recorded = (r.get("data") or {}).get("files")
            if isinstance(recorded, dict) and recorded == datahash.current(cfg, S.data_dir):
                return r
    return None


def load_result(name: str, S: Settings, seed=None, **overrides):
    """The stored result of a run, or None when it has not been run with this exact config."""
    return stored(run_config(name, S.profile, seed, S.encoder, **overrides), S)


def stored_seeds(name: str, S: Settings) -> list[int]:
    """Seeds with a stored (config-matching) result of `name`."""
    seeds = set()
    if S.results_dir.is_dir():
        for p in S.results_dir.glob(f"{name}*.json"):
            m = re.fullmatch(re.escape(name) + r"(?:__seed(\d+))?(?:__.*)?\.json", p.name)
            if m:
                seeds.add(int(m.group(1)) if m.group(1) else DEFAULT_SEED)
    return sorted(s for s in seeds if load_result(name, S, s) is not None)


def recorded_path(p, S: Settings) -> str:
    """How a result JSON names a file of the store: relative to the store root (portable, no machine path)."""
    p = Path(p).resolve()
    try:
        return str(p.relative_to(Path(S.store_root).resolve()))
    except ValueError:
        return p.name


def stored_file(recorded: str, S: Settings) -> Path:
    """The path of a file a result names (see recorded_path)."""
    return Path(S.store_root) / recorded


class StoreNotWritable(MtbertError):
    """A folder of the store cannot be written (read-only, full, not a folder)."""


class RunLocked(MtbertError):
    """Another process is training the same run id in the same store."""


_RESULT_FIX = "delete it, or re-run the experiment with --force (`force=True`), which replaces it"


def _numbers(d) -> bool:
    return isinstance(d, dict) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in d.values())


def read_result(path) -> dict:
    """A results JSON as a dict; ResultFileError naming the file and the fix when it is damaged or its scores
    (`dev`, `test`) and `data` are not what a result holds."""
    path = Path(path)
    r = read_json(path, what="results file", fix=_RESULT_FIX)
    if not isinstance(r, dict) or not isinstance(r.get("config_hash"), str):
        what = "a JSON object" if isinstance(r, dict) else f"JSON {type(r).__name__}"
        raise ResultFileError(f"results file {path} is not a result ({what} without a config_hash); {_RESULT_FIX}")
    for key in ("dev", "test"):
        if key in r and not _numbers(r[key]):
            raise ResultFileError(f"results file {path} is not a result: its {key!r} is "
                                  f"{type(r[key]).__name__} {str(r[key])[:60]!r}, not scores by task; {_RESULT_FIX}")
    if "data" in r and not isinstance(r["data"], dict):
        raise ResultFileError(f"results file {path} is not a result: its 'data' is a {type(r['data']).__name__}, "
                              f"not an object; {_RESULT_FIX}")
    return r


# -- before training: can the store be written, and is nobody else training this run -----------------------

def check_writable(S: Settings) -> None:
    """Write (and remove) a probe file in results/, predictions/ and checkpoints/ of the profile, so that a
    read-only, full or misplaced store is found before a run trains; StoreNotWritable naming the folder."""
    for folder in (S.results_dir, S.predictions_dir, S.checkpoints_dir):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            remove_stale_tmp(folder / "write-probe")  # a probe of a process that was killed
            fd, probe = tempfile.mkstemp(dir=folder, prefix=f".write-probe.{os.getpid()}.", suffix=".tmp")
            try:
                os.write(fd, b"\0" * 4096)
                os.fsync(fd)
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError as e:
            raise StoreNotWritable(
                f"the results store cannot be written: {folder}: {e.strerror or e} "
                f"({errno.errorcode.get(e.errno, e.errno)}). Nothing was trained. Fix: free space or make "
                f"{S.store_root} writable, or pass another store with --store-dir (notebook parameter "
                f"store_dir, MTBERT_STORE_DIR).") from e


def lock_path(cfg: RunConfig, S: Settings) -> Path:
    return S.checkpoints_dir / f"{cfg.run_id}.lock"


@contextlib.contextmanager
def run_lock(cfg: RunConfig, S: Settings):
    """Hold an exclusive lock on training `cfg.run_id` in this store (checkpoints/<profile>/<run_id>.lock,
    fcntl.flock, released when the process ends however it ends). A second process is refused at once with
    RunLocked naming the holder (pid, host, start time, command). The lock file itself stays: removing it would
    let a third process lock a new file while the second still holds the old one."""
    path = lock_path(cfg, S)

    def refuse(who: str) -> MtbertError:
        return RunLocked(
            f"{cfg.run_id} (profile {cfg.profile}) is being trained by another process ({who}); its lock is "
            f"{path}. Nothing was trained. Wait for it to finish (this run's result is then stored and "
            f"loaded), or stop it and re-run.")
    with exclusive_lock(path, refuse, config_hash=cfg.hash()):
        yield path


@contextlib.contextmanager
def exclusive_lock(path: Path, refuse, **about):
    """Hold an exclusive fcntl lock on file `path` (created when missing, never removed), with this process's
    pid, host, start time and command (and `about`) written into it; when another process holds it, raise
    `refuse(who)` at once, `who` naming that holder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            try:
                h = json.loads(holder)
                who = (f"pid {h['pid']} on {h['host']}, started at {h['started_at']}: "
                       f"{' '.join(h.get('argv', []))[:200]}")
            except (ValueError, KeyError, TypeError):
                who = "a process that has not written its name yet"
            raise refuse(who) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "argv": sys.argv,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **about}).encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock


def environment(device) -> dict:
    import numpy
    import tokenizers
    import torch
    env = {"python": platform.python_version(), "torch": torch.__version__, "tokenizers": tokenizers.__version__,
           "numpy": numpy.__version__, "platform": platform.platform(), "device": str(device),
           "threads": torch.get_num_threads()}
    if str(device).startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(0)
    else:
        env["cpu"] = platform.processor() or platform.machine()
    return env
