"""A resumable search over the beyond-the-paper recipe options at CPU scale, on Optuna, its trials trained as
Dask tasks (mtbert.training.scheduler).

    python -m mtbert.training.search [--sampler grid|tpe] [--n-trials N] [--budget-s S] [--jobs N]
                                     [--scheduler ADDRESS] [--storage URL] [--epochs E] [--dry-run]

Every point is submission 2 (the paper's recipe) with some RunConfig fields changed, trained on a subsample
(SCALE: Quora 3,000 / STS 1,500 / SST 1,500 training rows, one epoch, dev and held-out test capped at 800 and
400 rows per task, no leaderboard files). The space is the factorial grid AXES (mean pooling); `--sampler grid`
(the default) visits every point once, in a seeded order (grid_order), `--sampler tpe` searches the same space
with TPE. The objective is dev overall.

The study lives in SQLite, `results/search/study.db` (or `--storage URL`, e.g. a database a cluster shares);
only this driver process writes it (ask/tell), the workers train. Each finished point is also one JSON under
results/search/ (`<point id>.json`: the run's result plus `search_point`), and a point whose JSON has the same
config hash is never trained again: stored points are imported into the study as completed trials. A trial left
running by a killed driver is told FAIL by the next call and its point taken up by a new trial (user attribute
`resumes`), which trains on from the point's checkpoint rather than afresh. The two references (`paper`:
submission 2 itself; `mean`: with mean pooling) lie outside the grid; they are plain runs stored beside the
study.

Pruning: with `--epochs E > 1` each trial reports its dev overall score at every epoch's end and Optuna's
median pruner stops trials below the median of earlier ones at the same epoch. A one-epoch search (the default
scale) has no epoch boundary inside a trial, so nothing is pruned.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import os
import random
import socket
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import TqdmWarning

with warnings.catch_warnings():  # optuna imports tqdm.auto, which warns (with a machine path) in a kernel without ipywidgets
    warnings.simplefilter("ignore", TqdmWarning)
    import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from mtbert.core.durations import format_duration
from mtbert.errors import MtbertError, UsageError
from mtbert.results import store
from mtbert.settings import Settings, repo_root
from mtbert.training import scheduler
from mtbert.core.experiments import run_config

BASE = "submission2"
SCALE = dict(n_train={"sst": 1500, "quora": 3000, "sts": 1500}, quora_per_epoch=3000, epochs=1,
             n_dev=800, n_test=400, predictions=(), batch_size=32, lr=1e-5)  # batch and lr pinned: the quick
# profile's own (batch 8, lr x10) do not apply to the search; a point's lr replaces the 1e-5
# the axes of the grid (pooling is mean everywhere except the paper reference: that is how MiniLM was trained)
AXES = dict(lr=(2e-5, 5e-5), head_lr=(1e-3, 1e-4), warmup=(0.1, 0.0), para_encoding=("cross", "bi"),
            sts_encoding=("bi", "cross"))
CENTRE = {k: v[0] for k, v in AXES.items()}
REFERENCES = ({}, {"pooling": "mean"})
OBJECTIVE = "overall"   # the dev score the study maximises
SEED = 0                # of the samplers: the same call visits points in the same order
PRUNE_STARTUP_TRIALS = 4
MAX_ANSWERED_ASKS = 1000  # a sampler that keeps asking for stored points stops after this many such asks


def _point(**p) -> dict:
    if p.get("warmup"):
        p["lr_schedule"] = "linear"  # warm-up on = warm-up 10% + linear decay
    return p


def point_of(params: dict) -> dict:
    """The grid point of a trial's parameters (values of AXES)."""
    return _point(pooling="mean", **params)


def grid() -> list[dict]:
    """The references, then the factorial grid in the order of the tables: its centre, the centre's one-factor
    neighbours, then the rest."""
    pts = [*REFERENCES, _point(pooling="mean", **CENTRE)]
    for k, vals in AXES.items():  # one factor at a time from the centre
        pts.append(_point(pooling="mean", **{**CENTRE, k: vals[1]}))
    for combo in itertools.product(*AXES.values()):  # then the full factorial grid
        pts.append(_point(pooling="mean", **dict(zip(AXES, combo))))
    out, seen = [], set()
    for p in pts:
        key = point_id(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def point_id(p: dict) -> str:
    """A readable, file-name-safe id of a grid point ('paper' for submission 2 itself)."""
    if not p:
        return "paper"
    short = {"pooling": "", "lr": "lr", "head_lr": "hlr", "warmup": "wu", "para_encoding": "q",
             "sts_encoding": "s", "lr_schedule": None}
    parts = []
    for k in ("pooling", "lr", "head_lr", "warmup", "para_encoding", "sts_encoding"):
        if k in p:
            v = p[k]
            parts.append(short[k] + (f"{v:g}" if isinstance(v, float) else str(v)))
    return "_".join(parts)


def search_dir(S: Settings) -> Path:
    return Path(S.store_root) / "results" / "search"


def search_settings(store_root=None, **kw) -> Settings:
    """Settings of the search: profile quick (scaled by SCALE), CPU; its resume checkpoints live in a folder
    of their own (git-ignored), its results under <store_root>/results/search/."""
    if isinstance(store_root, str) and not store_root.strip():  # Path("") would be the current folder
        raise UsageError("--store-dir is empty: name a folder, or leave it out for the repository")
    root = Path(store_root) if store_root is not None else repo_root()
    return Settings.resolve(**{"profile": "quick", "device": "cpu", "store_root": root, "output_root": root,
                               "progress": False, **kw})


def scale_for(epochs: int | None = None, scale: dict | None = None) -> dict:
    s = dict(SCALE if scale is None else scale)
    if epochs is not None:
        s["epochs"] = epochs
    return s


def config_of(p: dict, scale: dict | None = None):
    return run_config(BASE, "quick", **{**(SCALE if scale is None else scale), **p})


def point_settings(p: dict, S: Settings) -> Settings:
    """Where a point trains: checkpoints (and its prediction files) in a folder of its own, as every point has
    the run id of submission 2 and points train side by side."""
    return S.replace(store_root=Path(S.store_root) / "checkpoints" / "search" / point_id(p))


def stored_point(p: dict, S: Settings, scale: dict | None = None):
    path = search_dir(S) / f"{point_id(p)}.json"
    if path.exists():
        r = store.read_result(path)
        cfg = config_of(p, scale)
        if r.get("config_hash") == cfg.hash():
            from mtbert.data import identity as datahash  # current only for the same data files
            if (r.get("data") or {}).get("files") == datahash.current(cfg, S.data_dir):
                return r
    return None


def store_point(p: dict, S: Settings, output) -> dict:
    """Driver side: a trained point's files into its own folder, its result (plus `search_point`) as
    results/search/<point id>.json."""
    output.record["search_point"] = {"id": point_id(p), **p}
    return store.save_run(point_settings(p, S), output, search_dir(S) / f"{point_id(p)}.json")


def results(S: Settings, scale: dict | None = None) -> list[dict]:
    """The stored results of the grid, in grid order (missing points left out)."""
    return [r for p in grid() if (r := stored_point(p, S, scale)) is not None]


# -- the study -------------------------------------------------------------------------------------------------

def distributions() -> dict:
    return {k: CategoricalDistribution(list(v)) for k, v in AXES.items()}


def default_study_url(S: Settings) -> str:
    return f"sqlite:///{search_dir(S) / 'study.db'}"


def study_name(scale: dict) -> str:
    return f"recipe-{scale['epochs']}epoch"


def make_sampler(kind: str) -> optuna.samplers.BaseSampler:
    """The study's sampler: TPE for `tpe`; for `grid` the driver enqueues every trial with its point
    (grid_order), so the sampler (a seeded RandomSampler) chooses nothing."""
    if kind == "grid":
        return optuna.samplers.RandomSampler(seed=SEED)
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=SEED)
    raise scheduler.UsageError(f"--sampler must be grid or tpe, got {kind!r}")


def factorial() -> list[dict]:
    """The parameters (values of AXES) of every point of the factorial grid, in the order of AXES."""
    return [dict(zip(AXES, combo)) for combo in itertools.product(*AXES.values())]


def grid_order() -> list[dict]:
    """The factorial grid in the order `--sampler grid` visits it: shuffled with SEED, the same at each call
    (a partial search spreads over the grid rather than varying the last axes only)."""
    order = factorial()
    random.Random(SEED).shuffle(order)
    return order


def _user_attrs(p: dict, r: dict) -> dict:
    return {"point": point_id(p), "wall_time_s": r.get("wall_time_s"),
            **{f"dev_{t}": v for t, v in r["dev"].items()}, **{f"test_{t}": v for t, v in r["test"].items()}}


def _points(study: optuna.Study, states) -> set:
    """The point ids of the study's trials in `states`."""
    return {t.user_attrs.get("point") for t in study.get_trials(deepcopy=False, states=states)}


VISITED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)


def unvisited(study: optuna.Study, busy=()) -> list[dict]:
    """The parameters of the factorial points that no trial of the study has, nor `busy` (point ids), in
    grid order: a point is visited once a trial of it is finished (failed included), running or enqueued."""
    seen = _points(study, VISITED) | set(busy)
    return [params for params in grid_order() if point_id(point_of(params)) not in seen]


def import_stored(study: optuna.Study, S: Settings, scale: dict) -> int:
    """Add every stored factorial point that the study lacks as a completed trial; returns how many."""
    # a point whose trial a killed driver left running is that trial's (it is answered when taken up again)
    have = _points(study, (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING))
    n = 0
    for params in factorial():
        p = point_of(params)
        if point_id(p) in have or (r := stored_point(p, S, scale)) is None:
            continue
        study.add_trial(optuna.trial.create_trial(
            value=r["dev"][OBJECTIVE], params=params, distributions=distributions(),
            user_attrs={**_user_attrs(p, r), "imported": True},
            intermediate_values={int(h["epoch"]): h["dev"][OBJECTIVE] for h in r["history"]}))
        n += 1
    return n


def _driver_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(driver: str | None) -> bool:
    host, _, pid = (driver or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's driver: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphaned_trials(study: optuna.Study) -> list:
    """Trials left running by a driver of this host that no longer exists (killed): taken up again."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if not _alive(t.user_attrs.get("driver"))]


SQLITE_HEADER = b"SQLite format 3\0"
REBUILD = ("move it aside (e.g. `mv {db} {db}.bad`): the next search rebuilds the study from the stored points "
           "(results/search/*.json), or pass another --storage")


class StudyUnavailable(UsageError):
    """The study's storage cannot be used: a bad URL, a folder, a damaged or read-only database."""


def sqlite_file(url: str) -> Path | None:
    """The database file of an sqlite URL (None for another backend or an in-memory database); a URL that
    SQLAlchemy cannot parse is a StudyUnavailable naming --storage."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError
    try:
        u = make_url(url)
    except (ArgumentError, ValueError):
        raise StudyUnavailable(f"--storage {url!r} is not a database URL: give e.g. sqlite:///results/search/"
                               "study.db or postgresql://host/db (or leave --storage out)") from None
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return None
    return Path(u.database)


def check_study_file(url: str) -> None:
    """Before Optuna opens it: an sqlite database must be a file that is empty or an SQLite database."""
    db = sqlite_file(url)
    if db is None:
        return
    if db.is_dir():
        raise StudyUnavailable(f"--storage {url}: {db} is a folder, not a database file; name a file in it, e.g. "
                               f"sqlite:///{db / 'study.db'}")
    if db.is_file():
        with open(db, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
        if head and head != SQLITE_HEADER:
            raise StudyUnavailable(f"the study database {db} is not an SQLite database (it starts with "
                                   f"{head[:8]!r}); " + REBUILD.format(db=db))


def _study_failed(url: str, e: Exception) -> StudyUnavailable:
    cause = str(getattr(e, "orig", None) or e.__cause__ or e).splitlines()[0][:200]
    db = sqlite_file(url)
    where = f"the study database {db}" if db is not None else f"the study storage {url}"
    if "readonly" in cause.replace("-", "").replace(" ", "").lower() or isinstance(e, PermissionError):
        fix = "make it (and its folder) writable, or pass another --storage"
    else:
        fix = REBUILD.format(db=db if db is not None else "DB")
    return StudyUnavailable(f"{where} cannot be used ({type(e).__name__}: {cause}); {fix}")


def search_lock(S: Settings, url: str):
    """One search at a time per study storage: an sqlite database is locked beside it (`<db>.lock`), another
    storage in results/search/search.lock; a second search is refused naming the first."""
    db = sqlite_file(url)
    path = db.with_name(db.name + ".lock") if db is not None else search_dir(S) / "search.lock"

    def refuse(who: str) -> StudyUnavailable:
        return StudyUnavailable(f"another search is using the study storage {url} ({who}); its lock is {path}. "
                                "Nothing was trained. Wait for it to finish, or stop it; the next search picks up "
                                "what it stored.")
    return store.exclusive_lock(path, refuse, storage=url)


def open_study(S: Settings, storage: str | None = None, sampler: str = "grid", scale: dict | None = None):
    import sqlalchemy.exc
    scale = scale_for(scale=scale)
    search_dir(S).mkdir(parents=True, exist_ok=True)
    url = storage or default_study_url(S)
    check_study_file(url)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=PRUNE_STARTUP_TRIALS, n_warmup_steps=0)
              if scale["epochs"] > 1 else optuna.pruners.NopPruner())
    try:
        study = optuna.create_study(study_name=study_name(scale), storage=url, sampler=make_sampler(sampler),
                                    pruner=pruner, direction="maximize", load_if_exists=True)
        import_stored(study, S, scale)
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError, OSError) as e:
        raise _study_failed(url, e) from e
    return study


@dataclass(frozen=True)
class SearchOptions:
    """What a search runs (the command line's options): the sampler (grid or tpe); at most n_trials new
    points trained, none started after budget_s seconds; n_workers trials at once on a local cluster, or on
    the cluster at `address`; the study's storage URL (default: results/search/study.db); the scale of every
    point (default SCALE); where progress lines go (default stderr)."""
    sampler: str = "grid"
    n_trials: int | None = None
    budget_s: float | None = None
    n_workers: int = 1
    address: str | None = None
    storage: str | None = None
    scale: dict | None = None
    stream: Any = None


def search(S: Settings, sampler: str = "grid", **options) -> dict:
    """run_search with the options as keywords (the fields of SearchOptions after `sampler`)."""
    return run_search(S, SearchOptions(sampler, **options))


def run_search(S: Settings, opts: SearchOptions) -> dict:
    """Run the study: up to n_workers trials at once on the cluster; stored points answer without training.
    Returns {"trained": [...], "stored": [...], "pruned": [...], "failed": [(point, error)], "study": study}.
    A second search on the same storage while this one runs is refused (StudyUnavailable naming this one)."""
    url = opts.storage or default_study_url(S)
    sqlite_file(url)  # a bad URL is refused before anything is created
    search_dir(S).mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(search_lock(S, url))
        except OSError as e:  # the lock cannot be created beside the database
            raise _study_failed(url, e) from e
        opts = dataclasses.replace(opts, storage=url, scale=scale_for(scale=opts.scale))
        study = open_study(S, url, opts.sampler, opts.scale)
        return _SearchDriver(S, opts, study).run()


class _SearchDriver:
    """The driver loop of one search: asks the study for trials, answers those of stored points, trains the
    others as Dask tasks (scheduler.Driver) and tells the study how each ended. `asked` counts the trials that
    train a new point (what n_trials limits), `answered` those a stored or training point answered."""

    def __init__(self, S: Settings, opts: SearchOptions, study: optuna.Study):
        self.S, self.opts, self.study = S, opts, study
        self.t0 = time.time()
        self.out = {"trained": [], "stored": [], "pruned": [], "failed": [], "study": study}
        self.asked = self.answered = 0
        self.in_flight: dict[str, list] = {}  # point id -> the trials it answers; the first reports its epochs
        self.progress = scheduler.Progress(0, opts.stream)
        self.stack = contextlib.ExitStack()  # the cluster starts with the first point that needs training
        self.driver: scheduler.Driver | None = None

    def run(self) -> dict:
        """Take up the trials a killed driver left running, then keep n_workers trials training until the
        budget is spent or the grid is done; the summary of search()."""
        self.resume_orphans()
        with self.stack:
            try:
                self.fill()
                while self.driver is not None and self.driver.pending:
                    self.collect()
                    self.fill()
            finally:
                self.progress.close()
        return self.out

    def resume_orphans(self) -> None:
        """Each trial a killed driver left running is told FAIL, and its point enqueued again (user attr
        `resumes`: the numbers of the trials it takes up), so that it is asked before any new point and trains
        on from its checkpoint. A point already enqueued again is not enqueued twice."""
        orphans = orphaned_trials(self.study)
        by_point: dict[str, tuple[dict, list[int]]] = {}
        for t in orphans:
            params = _params_of(t)
            if params is not None:
                by_point.setdefault(point_id(point_of(params)), (params, []))[1].append(t.number)
        waiting = _points(self.study, (TrialState.WAITING,))
        for pid, (params, numbers) in by_point.items():
            if pid not in waiting:
                self.study.enqueue_trial(params, user_attrs={"point": pid, "driver": _driver_id(),
                                                             "resumes": numbers})
        for t in orphans:
            self.study.tell(t.number, state=TrialState.FAIL)

    def budget_left(self) -> bool:
        """Whether a new point may be asked for: n_trials and budget_s not reached, a point of the grid left."""
        o = self.opts
        return ((o.n_trials is None or self.asked < o.n_trials)
                and (o.budget_s is None or time.time() - self.t0 < o.budget_s)
                and bool(unvisited(self.study, self.in_flight)) and self.answered < MAX_ANSWERED_ASKS)

    def next_trial(self) -> optuna.trial.Trial | None:
        """The next trial: an enqueued one first (whatever the budget), then a new one while the budget lasts
        (grid: the first unvisited point of grid_order, enqueued; tpe: the sampler's choice)."""
        if not self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            if not self.budget_left():
                return None
            if self.opts.sampler == "grid":
                params = unvisited(self.study, self.in_flight)[0]
                self.study.enqueue_trial(params, user_attrs={"point": point_id(point_of(params)),
                                                             "driver": _driver_id()})
        trial = self.study.ask(distributions())
        trial.set_user_attr("driver", _driver_id())
        trial.set_user_attr("point", point_id(point_of(trial.params)))
        return trial

    def fill(self) -> None:
        """Start trials until n_workers train or no trial is left to ask for."""
        while (self.driver.pending if self.driver else 0) < self.opts.n_workers:
            trial = self.next_trial()
            if trial is None:
                return
            self.start(trial)

    def start(self, trial: optuna.trial.Trial) -> None:
        """A stored point answers its trial at once (never trained twice); a point training now answers it
        when done (TPE may ask for it again); any other point is submitted."""
        p = point_of(trial.params)
        pid = point_id(p)
        if (r := stored_point(p, self.S, self.opts.scale)) is not None:
            self.tell_result(trial, p, r)
            self.out["stored"].append(pid)
            self.answered += 1
        elif pid in self.in_flight:
            self.in_flight[pid].append(trial)
            self.answered += 1
        else:
            self.submit(trial, p)

    def submit(self, trial: optuna.trial.Trial, p: dict) -> None:
        """Train the point of `trial` on the cluster (started with the first point that needs it)."""
        if self.driver is None:
            client = self.stack.enter_context(scheduler.Cluster(self.opts.n_workers, self.opts.address))
            self.driver = scheduler.Driver(client, self.progress, on_epoch=self.on_epoch)
            self.stack.callback(self.driver.cancel)
        self.asked += 1
        self.in_flight[point_id(p)] = [trial]
        self.progress.total += 1
        scale = self.opts.scale
        self.driver.submit(scheduler.Job(point_id(p), config_of(p, scale), point_settings(p, self.S),
                                         report_epochs=scale["epochs"] > 1))

    def on_epoch(self, key: str, epoch: int, value: float) -> bool:
        """A training point's dev score after `epoch`: reported to its trial; whether the pruner stops it."""
        if key not in self.in_flight:  # a late report of a job that has ended
            return False
        trial = self.in_flight[key][0]
        trial.report(value, epoch)
        return trial.should_prune()

    def collect(self) -> None:
        """Wait for finished jobs and tell the study how each ended (failed, pruned or trained)."""
        for job, result, exc, _attempt in self.driver.collect():
            trials = self.in_flight.pop(job.key)
            if exc is not None:
                self.tell_all(trials, TrialState.FAIL)
                self.out["failed"].append((job.key, scheduler.describe(exc)))
                self.progress.finished(job.key, False, f"failed: {scheduler.describe(exc)}")
            elif result.pruned_after is not None:
                self.tell_all(trials, TrialState.PRUNED)
                self.out["pruned"].append(job.key)
                self.progress.finished(job.key, True, f"pruned after epoch {result.pruned_after}")
            else:
                p = point_of(trials[0].params)
                r = store_point(p, self.S, result.output)
                for trial in trials:
                    self.tell_result(trial, p, r)
                self.out["trained"].append(job.key)
                self.progress.finished(job.key, True, f"dev overall {r['dev']['overall']:.3f} in "
                                                      f"{format_duration(result.seconds)}")

    def tell_all(self, trials: list, state: TrialState) -> None:
        """End every trial of a point with `state` (failed or pruned)."""
        for trial in trials:
            self.study.tell(trial, state=state)

    def tell_result(self, trial: optuna.trial.Trial, p: dict, r: dict) -> None:
        """Complete `trial` with the stored result `r` of its point: its dev objective, and its scores as user
        attributes."""
        for k, v in _user_attrs(p, r).items():
            trial.set_user_attr(k, v)
        self.study.tell(trial, r["dev"][OBJECTIVE])


def _params_of(t: optuna.trial.FrozenTrial) -> dict | None:
    """The parameters of a trial's point: its own when it has all of them, else those of its `point` user
    attr (a driver killed while Optuna set them); None for a trial of neither."""
    if set(AXES) <= set(t.params):
        return {k: t.params[k] for k in AXES}
    return next((params for params in factorial() if point_id(point_of(params)) == t.user_attrs.get("point")),
                None)


def run_references(S: Settings, n_workers: int = 1, address: str | None = None, scale: dict | None = None,
                   stream=None) -> list:
    """The two reference points (outside the grid), trained as plain Dask tasks when they are not stored."""
    scale = scale_for(scale=scale)
    jobs = [scheduler.Job(point_id(p), config_of(p, scale), point_settings(p, S)) for p in REFERENCES
            if stored_point(p, S, scale) is None]
    by_id = {point_id(p): p for p in REFERENCES}
    return scheduler.train_jobs(jobs, scheduler.RunOptions(n_workers=n_workers, stream=stream), address,
                                save=lambda job, o: store_point(by_id[job.key], S, o))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m mtbert.training.search", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sampler", choices=("grid", "tpe"), default="grid",
                    help="grid: every point of the factorial grid once; tpe: TPE over the same space")
    ap.add_argument("--n-trials", type=int, default=None, help="ask at most this many new trials")
    ap.add_argument("--budget-s", type=float, default=None, help="start no new trial after this many seconds")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per trial (default 1; > 1 enables pruning)")
    ap.add_argument("--jobs", type=int, default=1, help="workers of the local Dask cluster")
    ap.add_argument("--scheduler", default=os.environ.get("MTBERT_SCHEDULER") or None,
                    help="an existing Dask scheduler (tcp://host:port or a scheduler file; $MTBERT_SCHEDULER)")
    ap.add_argument("--storage", default=None, help="Optuna storage URL (default: sqlite:///results/search/study.db)")
    ap.add_argument("--no-references", action="store_true", help="skip the two reference points")
    ap.add_argument("--dry-run", action="store_true", help="list the points and whether they are stored")
    ap.add_argument("--store-dir", default=None)
    ap.add_argument("--data-dir", default=None, help="folder with the data files (default: data/)")
    ap.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    a = ap.parse_args(argv)
    try:
        return _main(a)
    except MtbertError as e:
        if a.debug:
            raise
        print(f"mtbert search: error: {e}", file=sys.stderr)
        return e.exit_code


def _main(a) -> int:
    for flag, v, low in (("--n-trials", a.n_trials, 1), ("--epochs", a.epochs, 1), ("--jobs", a.jobs, 1)):
        if v is not None and v < low:
            raise UsageError(f"{flag} must be at least {low}, got {v}")
    if a.budget_s is not None and not a.budget_s > 0:
        raise UsageError(f"--budget-s must be a positive number of seconds, got {a.budget_s}")
    S = search_settings(a.store_dir, **({"data_dir": a.data_dir} if a.data_dir else {}))
    scale = scale_for(a.epochs)
    if a.dry_run:
        for p in grid():
            print(("stored  " if stored_point(p, S, scale) else "missing ") + point_id(p))
        return 0
    if not a.no_references:
        for o in run_references(S, a.jobs, a.scheduler, scale):
            print(f"{o.job.key:45s} {o.status}" + (f": {o.error}" if o.error else ""), flush=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = run_search(S, SearchOptions(a.sampler, a.n_trials, a.budget_s, a.jobs, a.scheduler, a.storage, scale))
    study = out["study"]
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    print(f"study {study.study_name}: {len(done)} completed trials ({len(out['trained'])} trained now, "
          f"{len(out['stored'])} answered from stored points, {len(out['pruned'])} pruned, "
          f"{len(out['failed'])} failed)")
    if done:
        b = study.best_trial
        print(f"best: {b.user_attrs.get('point')} dev overall {b.value:.3f}")
    for pid, err in out["failed"]:
        print(f"failed: {pid}: {err}", file=sys.stderr)
    return 1 if out["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
