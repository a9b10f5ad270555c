"""Where results, checkpoints and predictions live, and atomic writes (a crash never leaves half a file)."""
from __future__ import annotations

import glob
import json
import os
import platform
import tempfile
from pathlib import Path

from .data import repo_root
from .errors import MtbertError


def results_dir(profile: str, root=None) -> Path:
    base = Path(root) if root else Path(os.environ.get("MTBERT_RESULTS_DIR", repo_root() / "results"))
    return base / profile


def checkpoints_dir(profile: str) -> Path:
    return Path(os.environ.get("MTBERT_CHECKPOINTS_DIR", repo_root() / "checkpoints")) / profile


def predictions_dir(profile: str) -> Path:
    return Path(os.environ.get("MTBERT_PREDICTIONS_DIR", repo_root() / "predictions")) / profile


def recorded_path(p) -> str:
    """How a result JSON names a file: relative to the repository when inside it (portable), else absolute."""
    p = Path(p).resolve()
    try:
        return str(p.relative_to(repo_root()))
    except ValueError:
        return str(p)


class ResultFileError(MtbertError, ValueError):
    """A results JSON that cannot be read (truncated, not JSON, not an object)."""


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


def read_result(path) -> dict:
    """A results JSON as a dict; ResultFileError naming the file and the fix when it is damaged."""
    path = Path(path)
    fix = ("delete it, or re-run the experiment with --force (`force=True`), which replaces it")
    try:
        r = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ResultFileError(f"results file {path} is damaged (not valid JSON: {e}); {fix}") from e
    if not isinstance(r, dict) or not isinstance(r.get("config_hash"), str):
        what = "a JSON object" if isinstance(r, dict) else f"JSON {type(r).__name__}"
        raise ResultFileError(f"results file {path} is not a result ({what} without a config_hash); {fix}")
    return r


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
