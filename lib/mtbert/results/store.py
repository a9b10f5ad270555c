"""The results store: reading and writing run results (one JSON per run), with atomic writes (a crash never
leaves half a file). Where the store lives is a setting (`Settings.store_root`); tables, figures, the report
and the tests read results through this module, never through the training engine.

Concurrency: an atomic write goes through a temporary file `.<name>.<pid>.<random>.tmp` next to its target,
so two processes writing the same file never share one, and the sweep of files left by killed writes
(`remove_stale_tmp`) removes only those whose process is gone. Two processes training the same run id are
kept apart by `run_lock` (the second is refused with a message naming the first). Files are created with the
user's umask (0644 under the default umask 022), as any other tool would create them.

Limits: a JSON file read through `read_json` / `read_result` may be at most JSON_LIMIT_BYTES long, and one
nested too deep for the parser is a ResultFileError naming the file, never a RecursionError.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import json
import os
import platform
import re
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from mtbert.errors import MtbertError
from mtbert.settings import DEFAULT_SEED, Settings
from mtbert.training.config import RunConfig
from mtbert.training.experiments import run_config


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
            from mtbert.data import identity as datahash
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


class ResultFileError(MtbertError, ValueError):
    """A results JSON that cannot be read (truncated, not JSON, not an object, too large, too deep)."""


class StoreNotWritable(MtbertError):
    """A folder of the store cannot be written (read-only, full, not a folder)."""


class RunLocked(MtbertError):
    """Another process is training the same run id in the same store."""


#: the largest JSON file the store reads (a result is a few hundred kB; the largest committed one is under 1 MB)
JSON_LIMIT_BYTES = 64 * 2**20

_umask_lock = threading.Lock()


def _umask() -> int:
    """The process's umask: from /proc on Linux, else by setting and restoring it (under a lock)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _tmp_owner(tmp_name: str, target_name: str) -> int | None:
    """The pid in a temporary file's name `.<target>.<pid>.<random>.tmp`, None for a name without one (written
    by an older version, whose writer cannot be told apart: treated as stale)."""
    middle = tmp_name[len(target_name) + 2:-len(".tmp")]
    pid, _, rest = middle.partition(".")
    return int(pid) if pid.isdigit() and rest else None


def remove_stale_tmp(path) -> list[Path]:
    """Remove the temporary files that an atomic write of `path` left when it was killed (SIGKILL, power loss):
    `.<name>.<pid>.*.tmp` next to it whose process <pid> is no longer running (a live writer's file, e.g. a
    concurrent run's, is never touched). Called before every write of `path` and when a run starts."""
    path = Path(path)
    gone = []
    for t in glob.glob(os.path.join(glob.escape(str(path.parent)), f".{glob.escape(path.name)}.*.tmp")):
        pid = _tmp_owner(os.path.basename(t), path.name)
        if pid is not None and (pid == os.getpid() or _pid_alive(pid)):
            continue
        try:
            os.unlink(t)
            gone.append(Path(t))
        except FileNotFoundError:  # another process swept it first
            pass
    return gone


def _atomic(path: Path, write):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path, obj):
    _atomic(path, lambda f: f.write(json.dumps(obj, indent=1, default=_jsonable).encode()))


def write_text(path, text: str):
    _atomic(path, lambda f: f.write(text.encode()))


def torch_save(path, obj):
    import torch
    _atomic(path, lambda f: torch.save(obj, f))


_RESULT_FIX = "delete it, or re-run the experiment with --force (`force=True`), which replaces it"


def read_json(path, limit: int = JSON_LIMIT_BYTES, what: str = "JSON file", fix: str = "delete or replace it"):
    """A JSON file's value; ResultFileError naming the file when it is over `limit` bytes, not UTF-8 JSON, or
    nested too deep to parse."""
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise ResultFileError(f"{what} {path} is over the {limit // 2**20} MiB limit for a JSON file of the store "
                              f"({os.path.getsize(path):,} bytes): it is not one this project wrote; {fix}")
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ResultFileError(f"{what} {path} is damaged (not valid JSON: {e}); {fix}") from e
    except RecursionError as e:
        raise ResultFileError(f"{what} {path} is nested too deep to be read (not a file this project wrote); "
                              f"{fix}") from e


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
            raise RunLocked(
                f"{cfg.run_id} (profile {cfg.profile}) is being trained by another process ({who}); its lock is "
                f"{path}. Nothing was trained. Wait for it to finish (this run's result is then stored and "
                f"loaded), or stop it and re-run.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "argv": sys.argv,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config_hash": cfg.hash()}).encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock


def _jsonable(o):
    import numpy as np
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


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
