"""Every training run as a task on a Dask cluster: the runs of `python -m mtbert run`, of the report and of the
search.

By default a command starts its own `distributed.LocalCluster`: worker processes (one thread each) that are
children of the command, with the scheduler inside it, all bound to 127.0.0.1. `--scheduler ADDRESS` (or
MTBERT_SCHEDULER) connects to an existing cluster instead (`dask scheduler` + `dask worker`, dask-jobqueue,
dask-cuda; see the README's "Scaling out").

A worker trains one run per task (`engine.train_run`, checkpoints in the worker's checkpoints folder, so a
re-run on the same host or a shared checkpoints folder resumes) and returns the result record and the
prediction files; the driver, and only the driver, writes them to the store (atomically). A run that raises is
reported with its id and error while the others finish; a run whose worker died is submitted once more, then
reported. Every wait on a cluster is bounded by `Settings.cluster_timeout` (--cluster-timeout): a scheduler file
that does not appear, a scheduler with no worker, and a cluster left with no worker while runs wait (those runs
are then reported as failed); a refused port fails at once.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, TextIO

import dask
import distributed
import torch
from distributed import Client, LocalCluster, get_worker

from mtbert.core.durations import format_duration
from mtbert.errors import MtbertError, UsageError
from mtbert.results import store
from mtbert.core.atomic import ResultFileError, read_json
from mtbert.settings import DEFAULT_CLUSTER_TIMEOUT_S, Settings
from mtbert.training import engine
from mtbert.training.checkpoints import RunCheckpoints, load_resume_state
from mtbert.data import identity as datahash
from mtbert.core.config import RunConfig
from mtbert.core.experiments import DEFAULT_SEED, run_config

LOOPBACK = "127.0.0.1"
EVENT_TOPIC = "mtbert-runs"
ATTEMPTS = 2            # a run whose worker died is submitted once more
GPU_GIB_PER_RUN = 8     # the default --jobs on a GPU: one worker per this much GPU memory (small runs share it)


class TrainingFailed(MtbertError):
    """Some runs failed (each is named with its error); the others finished and are stored."""


class NoWorkers(MtbertError):
    """The cluster had no worker for the cluster timeout while runs waited for one."""


class PruneRun(Exception):
    """Raised in a worker's step callback when the driver decided to stop the run (search pruning)."""

    def __init__(self, epoch: int):
        super().__init__(f"pruned after epoch {epoch}")
        self.epoch = epoch


@dataclass
class Job:
    """One run to train. `key` names it to the user and in Dask (unique per command); `S` are the settings the
    worker trains under (its checkpoints folder included); `report_epochs` makes the worker send the dev overall
    score of each finished epoch to the driver and wait for its prune decision."""
    key: str
    cfg: RunConfig
    S: Settings
    force: bool = False
    report_epochs: bool = False
    token: str = field(default_factory=lambda: uuid.uuid4().hex)  # names its prune answers on a shared scheduler


@dataclass
class TaskResult:
    """What a worker sends back: the run's output (None when pruned) and where it ran."""
    output: object | None
    worker: str
    host: str
    device: str
    seconds: float
    pruned_after: int | None = None


@dataclass
class Outcome:
    job: Job
    status: str                 # trained | stored | failed | pruned
    worker: str = "-"
    device: str = "-"
    seconds: float | None = None
    error: str | None = None
    record: dict | None = None
    attempts: int = 0


@dataclass(frozen=True)
class RunOptions:
    """How a command loads or trains its runs (`run_experiments`, `train_jobs`), built once by the command."""
    force: bool = False                 # train again the runs whose result is stored
    n_workers: int | None = None        # a local cluster's workers; None: default_jobs (train_jobs: 1)
    overrides: dict = field(default_factory=dict)   # knob values for every run (--set)
    on_done: Callable[[Outcome], None] | None = None  # called with each Outcome as its run ends or is loaded
    stream: TextIO | None = None        # where the progress display writes; None: stderr


# -- the worker side ----------------------------------------------------------------------------------------

def _event(what: str, key: str, **info):
    try:
        w = get_worker()
    except ValueError:  # not on a worker (called directly): nobody listens
        return
    w.log_event(EVENT_TOPIC, {"what": what, "key": key, "worker": w.address, **info})


class _EpochReporter:
    """A step callback that, at the first step of each epoch, sends the previous epoch's dev overall score (from
    the run's resume checkpoint, written at every epoch's end) to the driver and stops the run when the driver
    answers that it should be pruned."""

    def __init__(self, job: Job, timeout_s: float = 60.0):
        self.job, self.timeout_s, self.seen = job, timeout_s, None

    def __call__(self, epoch: int, step: int):
        if self.seen is None or epoch == self.seen:
            self.seen = epoch
            return
        self.seen = epoch
        done = load_resume_state(RunCheckpoints(self.job.cfg, self.job.S).last)["history"][-1]
        value = done["dev"].get("overall", done["dev"]["aggregate"])  # the search's objective; one task: its score
        _event("epoch", self.job.key, epoch=int(done["epoch"]), value=float(value), token=self.job.token)
        try:
            answer = distributed.Variable(prune_variable(self.job.token, done["epoch"]))
            decision = answer.get(timeout=self.timeout_s)
        except TimeoutError:  # the driver did not answer: keep training
            return
        if decision:
            raise PruneRun(int(done["epoch"]))


def prune_variable(token: str, epoch: int) -> str:
    return f"mtbert-prune-{token}-{epoch}"


def train_task(job: Job) -> TaskResult:
    """The Dask task: train one run on this worker and return its output (nothing is written to the store)."""
    t0 = time.time()
    device = str(engine.resolve_device(job.S.device))
    _event("started", job.key, host=socket.gethostname(), pid=os.getpid(), device=device)
    where = dict(host=socket.gethostname(), device=device)
    try:
        worker = get_worker().address
    except ValueError:
        worker = "in-process"
    try:
        out = engine.train_run(job.cfg, job.S, force=job.force,
                               on_step=_EpochReporter(job) if job.report_epochs else None)
    except PruneRun as p:
        RunCheckpoints(job.cfg, job.S).discard_resume_state()
        return TaskResult(None, worker, seconds=time.time() - t0, pruned_after=p.epoch, **where)
    return TaskResult(out, worker, seconds=time.time() - t0, **where)


# -- the cluster --------------------------------------------------------------------------------------------

def default_jobs(S: Settings, n_runs: int) -> int:
    """1 on a CPU; on a GPU one worker per GPU_GIB_PER_RUN of its memory, at most one per run."""
    device = engine.resolve_device(S.device)
    if device.type != "cuda":
        return 1
    gib = torch.cuda.get_device_properties(device).total_memory / 2**30
    return max(1, min(n_runs, int(gib // GPU_GIB_PER_RUN)))


def worker_environment(n_workers: int, environ=None) -> dict:
    """Thread counts for a local cluster's workers: what the command was given (OMP_NUM_THREADS, else
    MKL_NUM_THREADS), else the cores shared out (Dask would otherwise set one thread each). Both variables get
    the same value: a run's CPU results depend on its thread count, so one count decides."""
    environ = os.environ if environ is None else environ
    threads = (environ.get("OMP_NUM_THREADS") or environ.get("MKL_NUM_THREADS")
               or str(max(1, (os.cpu_count() or 1) // n_workers)))
    return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")  # Dask's network transports (inproc is one process's own)
SETTING = "--scheduler / MTBERT_SCHEDULER"
TIMEOUT_SETTING = "--cluster-timeout / MTBERT_CLUSTER_TIMEOUT"


class ClusterUnavailable(UsageError):
    """The cluster named by --scheduler cannot be used: a bad address or scheduler file, nothing listening,
    no answer, or no worker within the cluster timeout."""


def _is_scheduler_file(setting: str) -> bool:
    return "://" not in setting and (setting.endswith(".json") or os.path.sep in setting or os.path.isfile(setting))


def _await_scheduler_file(path: str, timeout: float, stream=None) -> str:
    """The address in a scheduler file (what `dask scheduler --scheduler-file` writes), waiting up to `timeout`
    s for the file to appear; ClusterUnavailable naming the file when it does not, or holds no address."""
    stream = sys.stderr if stream is None else stream
    t0 = time.monotonic()
    if not os.path.exists(path):
        print(f"waiting up to {timeout:g} s ({TIMEOUT_SETTING}) for the scheduler file {path} ({SETTING})",
              file=stream, flush=True)
        while not os.path.exists(path):
            if time.monotonic() - t0 > timeout:
                raise ClusterUnavailable(
                    f"the scheduler file {path} ({SETTING}) did not appear within {timeout:g} s "
                    f"({TIMEOUT_SETTING}). Start the scheduler with `dask scheduler --scheduler-file {path}`, "
                    "fix the path, or leave the setting out to use a local cluster.")
            time.sleep(0.2)
    if not os.path.isfile(path):
        raise ClusterUnavailable(f"the scheduler file {path} ({SETTING}) is not a file: name the file that "
                                 "`dask scheduler --scheduler-file` writes, or give tcp://HOST:PORT")
    try:
        info = read_json(path, limit=1 << 20, what="scheduler file",
                         fix="name the file that `dask scheduler --scheduler-file` writes")
    except (OSError, ResultFileError) as e:
        raise ClusterUnavailable(f"{e} ({SETTING})") from None
    if not isinstance(info, dict) or not isinstance(info.get("address"), str):
        raise ClusterUnavailable(f"the scheduler file {path} ({SETTING}) holds no scheduler address (a JSON "
                                 "object with \"address\" is what `dask scheduler --scheduler-file` writes): "
                                 "name that file, or give tcp://HOST:PORT")
    return info["address"]


def check_address(address: str, timeout: float, named: str | None = None) -> str:
    """`address` (tcp://HOST:PORT, or HOST:PORT) checked before Dask sees it: a known transport, a host and a
    port, and something listening (a refused port fails at once, a silent one after `timeout` s)."""
    named = named or address
    scheme, _, loc = address.rpartition("://")
    scheme = scheme or "tcp"
    if scheme not in SCHEMES:
        raise ClusterUnavailable(f"--scheduler {named!r}: unknown transport {scheme!r}; give tcp://HOST:PORT "
                                 f"(or {', '.join(SCHEMES)}), or a scheduler file ({SETTING})")
    try:
        host, port = distributed.comm.addressing.parse_host_port(loc)
    except (ValueError, TypeError):
        raise ClusterUnavailable(f"--scheduler {named!r} is neither an address with a port (tcp://HOST:PORT, "
                                 f"e.g. tcp://127.0.0.1:8786) nor an existing scheduler file ({SETTING})") from None
    if scheme == "ucx":
        return address
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except ConnectionRefusedError:
        raise ClusterUnavailable(f"nothing listens at {host}:{port} (connection refused): no Dask scheduler at "
                                 f"{named} ({SETTING}). Start it with `dask scheduler`, or leave the setting out "
                                 "to use a local cluster.") from None
    except (socket.timeout, TimeoutError):
        raise ClusterUnavailable(f"no answer from {host}:{port} within {timeout:g} s ({TIMEOUT_SETTING}): no Dask "
                                 f"scheduler reachable at {named} ({SETTING}). Check the address and the network, or "
                                 "leave the setting out to use a local cluster.") from None
    except OSError as e:  # unknown host, no route, ...
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {named} ({SETTING}): {e.strerror or e}. "
                                 "Check the address, or leave the setting out to use a local cluster.") from None
    return address if "://" in address else f"tcp://{address}"


class _QuietTrainFailures(logging.Filter):
    """Drops a worker's "Compute Failed ... Traceback" record of a training task: the driver reports that run's
    error as one line (with --debug, the traceback), so the worker's copy only buries it."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (str(record.msg).startswith("Compute Failed") and args and str(args[0]).startswith("train-"))


class QuietTrainFailures(distributed.diagnostics.plugin.WorkerPlugin):
    """Installs _QuietTrainFailures on every worker of the cluster, present and future."""
    name = "mtbert-quiet-train-failures"

    def setup(self, worker):
        log = logging.getLogger("distributed.worker")
        if not any(isinstance(f, _QuietTrainFailures) for f in log.filters):
            log.addFilter(_QuietTrainFailures())


def _quiet_worker_logs(client: Client) -> None:
    try:
        client.register_plugin(QuietTrainFailures())
    except Exception:  # noqa: BLE001 -- a cluster that refuses plugins only stays verbose
        pass


class Cluster:
    """`with Cluster(n_workers, address) as client:` a client of the cluster at `address` (tcp://HOST:PORT or a
    scheduler file), or of a LocalCluster of n_workers single-threaded worker processes on 127.0.0.1 that lives
    as long as the block (and the command: the workers are its children and exit with it). Every wait on an
    external cluster (its scheduler file, its answer, its first worker) ends within `timeout` s."""

    def __init__(self, n_workers: int = 1, address: str | None = None, timeout: float | None = None):
        if n_workers < 1:
            raise UsageError(f"--jobs must be at least 1, got {n_workers}")
        self.n_workers, self.address = n_workers, address or None
        self.timeout = float(timeout) if timeout is not None else DEFAULT_CLUSTER_TIMEOUT_S
        self.cluster = self.client = None

    def _connect(self) -> Client:
        named = self.address
        address = (_await_scheduler_file(named, self.timeout) if _is_scheduler_file(named) else named)
        address = check_address(address, self.timeout, named)
        try:
            client = Client(address, timeout=self.timeout)
        except (OSError, TimeoutError, ValueError) as e:
            raise ClusterUnavailable(f"cannot reach the Dask scheduler at {named} ({SETTING}) within "
                                     f"{self.timeout:g} s ({TIMEOUT_SETTING}): {e}. Start it with `dask scheduler`, "
                                     "or leave the setting out to use a local cluster.") from None
        _quiet_worker_logs(client)
        if not client.nthreads():
            print(f"waiting up to {self.timeout:g} s ({TIMEOUT_SETTING}) for a worker of the Dask scheduler at "
                  f"{named}", file=sys.stderr, flush=True)
            try:
                client.wait_for_workers(1, timeout=self.timeout)
            except (TimeoutError, OSError):
                client.close()
                raise ClusterUnavailable(
                    f"the Dask scheduler at {named} ({SETTING}) has no worker after {self.timeout:g} s "
                    f"({TIMEOUT_SETTING}); nothing was trained. Start one with `dask worker {address}`, or leave "
                    "the setting out to use a local cluster.") from None
        return client

    def __enter__(self) -> Client:
        if self.address:
            self.client = self._connect()
            return self.client
        # the driver resubmits a run whose worker died (ATTEMPTS), so the scheduler does not retry it itself
        with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                              "distributed.scheduler.worker-saturation": 1.0}):
            self.cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1, processes=True,
                                        host=LOOPBACK, dashboard_address=None, worker_dashboard_address=None,
                                        # the scheduler's HTTP routes (health, metrics) start even without a
                                        # dashboard, on port 8787 unless told: a free loopback port instead
                                        scheduler_kwargs={"dashboard_address": f"{LOOPBACK}:0"},
                                        env=worker_environment(self.n_workers), silence_logs=logging.ERROR)
        self.client = Client(self.cluster)
        _quiet_worker_logs(self.client)
        return self.client

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


# -- progress -----------------------------------------------------------------------------------------------

class Progress:
    """One display for many runs: done / running / failed, elapsed and ETA. A line per update on stderr; a tqdm
    bar when stderr is a terminal."""

    def __init__(self, total: int, stream=None, bar: bool | None = None):
        self.total, self.done, self.failed, self.running = total, 0, 0, {}
        self.t0 = time.time()
        self.stream = sys.stderr if stream is None else stream
        self.bar = None
        if (self.stream.isatty() if bar is None else bar) and total:
            from tqdm import tqdm
            self.bar = tqdm(total=total, file=self.stream, unit="run", dynamic_ncols=True)

    def eta(self) -> float | None:
        if not self.done or self.done >= self.total:
            return None
        return (time.time() - self.t0) / self.done * (self.total - self.done)

    def line(self) -> str:
        return (f"{self.done}/{self.total} done, {len(self.running)} running, {self.failed} failed; elapsed "
                f"{format_duration(time.time() - self.t0)}, ETA {format_duration(self.eta())}")

    def note(self, msg: str):
        text = f"[{format_duration(time.time() - self.t0):>6}] {msg} | {self.line()}"
        if self.bar is not None:
            self.bar.set_postfix_str(f"{len(self.running)} running, {self.failed} failed", refresh=False)
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def started(self, key: str, worker: str, device: str):
        self.running[key] = worker
        self.note(f"{key}: started on {worker} ({device})")

    def finished(self, key: str, ok: bool, msg: str):
        self.running.pop(key, None)
        self.done += 1
        self.failed += not ok
        if self.bar is not None:
            self.bar.update(1)
        self.note(f"{key}: {msg}")

    def close(self):
        if self.bar is not None:
            self.bar.close()


def summary_table(outcomes: list[Outcome]) -> str:
    """The end-of-command table: run, worker, device, wall time, status (with the error of a failed run)."""
    rows = [("run", "worker", "device", "wall time", "status")]
    for o in outcomes:
        status = o.status + (f" ({o.attempts} attempts)" if o.attempts > 1 else "")
        if o.error:
            status += f": {o.error}"
        rows.append((o.job.key, o.worker, o.device, format_duration(o.seconds), status))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w[i]) for i, c in enumerate(r[:4])) + "  " + r[4] for r in rows)


# -- the driver ---------------------------------------------------------------------------------------------

def describe(exc: BaseException) -> str:
    first = (str(exc).splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class Driver:
    """Submits jobs to a cluster and collects them: `submit(job)`, then `collect()` until `pending` is 0.
    Start events of the workers go to `progress`; epoch reports (search pruning) go to `on_epoch(key, epoch,
    value) -> prune?`, whose answer is sent back to the waiting worker."""

    def __init__(self, client: Client, progress: Progress | None = None,
                 on_epoch: Callable[[str, int, float], bool] | None = None,
                 worker_timeout: float = DEFAULT_CLUSTER_TIMEOUT_S):
        self.client, self.progress, self.on_epoch = client, progress, on_epoch
        self.worker_timeout, self.no_worker_since = worker_timeout, None
        self.futures: dict = {}          # future -> (job, attempt)
        self.events: queue.Queue = queue.Queue()
        client.subscribe_topic(EVENT_TOPIC, lambda ev: self.events.put(ev[1]))
        self.where: dict[str, tuple[str, str]] = {}

    @property
    def pending(self) -> int:
        return len(self.futures)

    def submit(self, job: Job, attempt: int = 1):
        fut = self.client.submit(train_task, job, key=f"train-{job.key}-{attempt}-{time.time_ns()}", pure=False)
        self.futures[fut] = (job, attempt)

    def _drain_events(self):
        while True:
            try:
                ev = self.events.get_nowait()
            except queue.Empty:
                return
            if ev.get("what") == "started":
                self.where[ev["key"]] = (ev["worker"], ev.get("device", "-"))
                if self.progress is not None:
                    self.progress.started(ev["key"], f"{ev['worker']} pid {ev.get('pid')}", ev.get("device", "-"))
            elif ev.get("what") == "epoch":
                prune = bool(self.on_epoch(ev["key"], ev["epoch"], ev["value"])) if self.on_epoch else False
                distributed.Variable(prune_variable(ev["token"], ev["epoch"]), client=self.client).set(prune)

    def collect(self, timeout: float = 1.0) -> list[tuple[Job, TaskResult | None, BaseException | None, int]]:
        """Wait up to `timeout` s; the jobs that ended: (job, result, error, attempt). A job whose worker died
        is resubmitted (up to ATTEMPTS) rather than returned."""
        self._drain_events()
        if not self.futures:
            return []
        try:
            done = distributed.wait(list(self.futures), timeout=timeout, return_when="FIRST_COMPLETED").done
        except TimeoutError:
            done = set()
        self._drain_events()
        if not done and (left := self._without_workers()):
            return left
        out = []
        for fut in done:
            job, attempt = self.futures.pop(fut)
            if fut.status == "finished":
                out.append((job, fut.result(), None, attempt))
                continue
            try:
                exc = fut.exception()
            except distributed.client.FutureCancelledError as e:  # cancelled (e.g. the cluster went away)
                exc = e
            if isinstance(exc, distributed.KilledWorker) and attempt < ATTEMPTS:
                worker = self.where.get(job.key, ("a worker", "-"))[0]
                if self.progress is not None:
                    self.progress.note(f"{job.key}: its worker {worker} died ({describe(exc)}); submitting it "
                                       f"again (attempt {attempt + 1} of {ATTEMPTS}), it resumes from its "
                                       f"checkpoint where that folder is reachable")
                self.submit(dataclasses.replace(job, force=False), attempt + 1)  # resume, do not restart
                continue
            out.append((job, None, exc, attempt))
        return out

    def _without_workers(self) -> list:
        """When the cluster has had no worker for `worker_timeout` s (none came, or all died or left), every
        pending job ends as failed with NoWorkers; otherwise []."""
        try:
            n = len(self.client.nthreads())
        except Exception:  # noqa: BLE001 -- the scheduler is unreachable: counts as no worker
            n = 0
        if n:
            self.no_worker_since = None
            return []
        now = time.monotonic()
        if self.no_worker_since is None:
            self.no_worker_since = now
            if self.progress is not None:
                self.progress.note(f"the cluster has no worker; waiting up to {self.worker_timeout:g} s "
                                   f"({TIMEOUT_SETTING}) for one")
            return []
        if now - self.no_worker_since < self.worker_timeout:
            return []
        exc = NoWorkers(f"the cluster had no worker for {self.worker_timeout:g} s ({TIMEOUT_SETTING}); start one "
                        "(`dask worker SCHEDULER`) and re-run the same command, which resumes from its checkpoint")
        out = [(job, None, exc, attempt) for job, attempt in self.futures.values()]
        self.cancel()
        return out

    def cancel(self):
        if self.futures:
            self.client.cancel(list(self.futures))
        self.futures.clear()


def outcome_of(job: Job, result: TaskResult | None, exc: BaseException | None, attempt: int,
               save: Callable | None = None) -> Outcome:
    """An Outcome of an ended job; `save(job, output) -> record` stores a trained run (driver side)."""
    if exc is not None:
        worker, device = "-", "-"
        error = describe(exc)
        if isinstance(exc, distributed.KilledWorker):
            error = f"its worker died {attempt} times ({error})"
        return Outcome(job, "failed", worker, device, error=error, attempts=attempt)
    if result.pruned_after is not None:
        return Outcome(job, "pruned", result.worker, result.device, result.seconds,
                       error=f"after epoch {result.pruned_after}", attempts=attempt)
    record = save(job, result.output) if save is not None else result.output.record
    return Outcome(job, "trained", result.worker, result.device, result.seconds, record=record, attempts=attempt)


def save_to_store(job: Job, output) -> dict:
    """Store a trained run, then drop its resume state where this process can reach it (a local cluster, or a
    checkpoints folder shared with the workers; elsewhere it stays on the worker's host)."""
    record = store.save_run(job.S, output)
    RunCheckpoints(job.cfg, job.S).discard_resume_state()
    return record


def train_jobs(jobs: list[Job], options: RunOptions = RunOptions(), address: str | None = None,
               save: Callable = save_to_store, timeout: float = DEFAULT_CLUSTER_TIMEOUT_S) -> list[Outcome]:
    """Train `jobs` on the cluster at `address` (see Cluster; None: a local one of `options.n_workers`, default
    1) and store each with `save(job, output) -> record` as it finishes; returns one Outcome per job, in the
    order given. `options.on_done(outcome)` is called as each ends. Does not raise for a failed run."""
    if not jobs:
        return []
    n_workers = 1 if options.n_workers is None else options.n_workers
    progress = Progress(len(jobs), options.stream)
    ended: dict[str, Outcome] = {}
    try:
        with Cluster(min(n_workers, len(jobs)), address, timeout) as client:
            driver = Driver(client, progress, worker_timeout=timeout)
            for job in jobs:
                driver.submit(job)
            try:
                while driver.pending:
                    for job, result, exc, attempt in driver.collect():
                        try:
                            o = outcome_of(job, result, exc, attempt, save)
                        except Exception as e:  # storing failed (disk full, ...): that run failed, not the rest
                            o = Outcome(job, "failed", error=f"storing its result failed: {describe(e)}",
                                        attempts=attempt)
                        ended[job.key] = o
                        progress.finished(job.key, o.status == "trained",
                                          f"{o.status} in {format_duration(o.seconds)}" + (f": {o.error}" if o.error else ""))
                        if options.on_done is not None:
                            options.on_done(o)
            finally:
                driver.cancel()
    finally:
        progress.close()
    return [ended[j.key] for j in jobs]


def raise_for_failures(outcomes: list[Outcome]):
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise TrainingFailed(
            f"{len(failed)} of {len(outcomes)} runs failed: " + "; ".join(f"{o.job.key}: {o.error}" for o in failed)
            + ". The other runs are stored; re-run the same command to retry the failed ones (an interrupted run "
              "resumes from its last finished epoch).")


# -- experiments ---------------------------------------------------------------------------------------------

def run_experiments(runs: list[tuple[str, int]], S: Settings, options: RunOptions = RunOptions()) -> list[Outcome]:
    """Load or train the (experiment, seed) runs under S: stored results are loaded here (unless
    `options.force`), the rest are trained on the cluster (S.scheduler, else a local one of `options.n_workers`,
    default `default_jobs`) and stored by this process. One Outcome per run, in the order given; failed runs are
    outcomes, not exceptions."""
    cfgs = [run_config(n, S.profile, s, S.encoder, **options.overrides) for n, s in runs]  # bad values fail here
    ended: dict[str, Outcome] = {}
    jobs = []
    S_worker = S.replace(progress=False)  # the driver's display replaces the per-run bars of parallel runs
    for cfg in cfgs:
        r = None if options.force else store.stored(cfg, S)
        if r is not None:
            ended[cfg.run_id] = o = Outcome(Job(cfg.run_id, cfg, S), "stored", record=r)
            if options.on_done is not None:
                options.on_done(o)
            continue
        if not S.train:
            raise engine.MissingResult(
                f"no stored result for {cfg.run_id} (profile {cfg.profile}, config {cfg.hash()}) in {S.results_dir}, "
                f"and training is off (`--no-train`). Train it with `python -m mtbert run {cfg.experiment} "
                f"--profile {cfg.profile}` (full: on a GPU).")
        datahash.verify_full(cfg, S.data_dir)  # a changed data file fails here, before anything trains
        jobs.append(Job(cfg.run_id, cfg, S_worker, options.force))
    # the long multitask runs of the paper's rows first, single-task ones after, extra seeds last
    jobs.sort(key=lambda j: (j.cfg.seed != DEFAULT_SEED, j.cfg.experiment.startswith("t1_")))
    n = options.n_workers if options.n_workers is not None else default_jobs(S, len(jobs))
    with contextlib.ExitStack() as locks:
        if jobs:  # a read-only or full store is found before anything trains
            store.check_writable(S)
        for job in jobs:  # the driver, which writes the store, holds each run id until it is stored
            locks.enter_context(store.run_lock(job.cfg, S))
        on_cluster = dataclasses.replace(options, n_workers=n)
        for o in train_jobs(jobs, on_cluster, S.scheduler, timeout=S.cluster_timeout):
            ended[o.job.key] = o
    return [ended[c.run_id] for c in cfgs]
