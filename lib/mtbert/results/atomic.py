"""Atomic writes: a file is written to a temporary file beside it and renamed into place, so a crash (or SIGKILL)
never leaves half a file; the temporary files a killed write leaves are removed before the next write."""
from __future__ import annotations

import glob
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def remove_stale_tmp(path) -> list[Path]:
    """Remove the temporary files that an atomic write of `path` left when it was killed (SIGKILL, power loss):
    `.<name>.*.tmp` next to it. Called before every write of `path` and when a run starts."""
    path = Path(path)
    gone = []
    for t in glob.glob(os.path.join(glob.escape(str(path.parent)), f".{glob.escape(path.name)}.*.tmp")):
        try:
            os.unlink(t)
            gone.append(Path(t))
        except FileNotFoundError:
            pass
    return gone


def _atomic(path: Path, write):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path, obj):
    _atomic(path, lambda f: f.write(json.dumps(obj, indent=1, default=_jsonable).encode()))


def write_text(path, text: str):
    _atomic(path, lambda f: f.write(text.encode()))


def torch_save(path, obj):
    import torch
    _atomic(path, lambda f: torch.save(obj, f))


def read_json(path):
    return json.loads(Path(path).read_text())


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")
