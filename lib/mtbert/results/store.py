"""The results store: reading and writing run results (one JSON per run), with atomic writes (a crash never
leaves half a file). Where the store lives is a setting (`Settings.store_root`); tables, figures, the report
and the tests read results through this module, never through the training engine."""
from __future__ import annotations

import glob
import json
import os
import platform
import re
import tempfile
from dataclasses import dataclass, field
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
