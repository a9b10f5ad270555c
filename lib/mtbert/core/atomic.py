"""Atomic writes and bounded reads of the store's files.

A file is written to a temporary file `.<name>.<pid>.<random>.tmp` beside it and renamed into place, so a crash
(or SIGKILL) never leaves half a file and two processes writing the same file never share a temporary one; the
sweep of files left by killed writes (`remove_stale_tmp`) removes only those whose process is gone. Files are
created with the user's umask (0644 under the default umask 022), as any other tool would create them.

A JSON file read through `read_json` may be at most JSON_LIMIT_BYTES long, and one nested too deep for the
parser is a ResultFileError naming the file, never a RecursionError.
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

from mtbert.errors import MtbertError


class ResultFileError(MtbertError, ValueError):
    """A results JSON that cannot be read (truncated, not JSON, not an object, too large, too deep)."""


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


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")
