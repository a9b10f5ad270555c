"""Run one experiment, in named stages:

    prepare data -> build model and optimizer -> resume -> (train one epoch -> evaluate dev -> checkpoint)*
    -> evaluate the best epoch on the held-out test split -> the result record

`run(name, S)` is the one entry point (command line, notebooks, report): it returns the stored result when
there is one, else trains (`train_run`) and saves the output through the store. `train_run` writes only
checkpoints, so a worker on another machine can train and hand its `RunOutput` back to the driver that owns
the store. An interrupted run resumes from its last finished epoch.
"""
from __future__ import annotations

import errno
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm  # the plain bar: tqdm.auto warns in kernels without ipywidgets

from mtbert.core.metrics import aggregate, task_metric, with_overall
from mtbert.data import datasets as D
from mtbert.data import identity
from mtbert.core.tasks import TASKS
from mtbert.data.fetch import sha256_file
from mtbert.errors import MtbertError, RunInterrupted
from mtbert.model.checkpoint import weights_file
from mtbert.results import store
from mtbert.results.store import RunOutput
from mtbert.settings import Settings
from mtbert.training import curves
from mtbert.training.batches import TaskData, epoch_plan
from mtbert.training.checkpoints import RunCheckpoints, trainable_state
from mtbert.core.config import RunConfig
from mtbert.training.divergence import DivergenceGuard
from mtbert.core.experiments import REGISTRY, run_config
from mtbert.training.optim import make_optimizer, make_scheduler
from mtbert.results.predictions import prediction_files
from mtbert.training.runner import Runner, resolve_device


class MissingResult(MtbertError):
    pass


class StoreWriteFailed(MtbertError):
    """A checkpoint or result could not be written while a run trained (a full or read-only store)."""


def metric(task: str, preds, labels) -> float:
    return task_metric(task, preds, labels)


# -- the entry point -------------------------------------------------------------------------------------

def run(name: str, S: Settings, seed: int | None = None, force=False, on_step=None, **overrides) -> dict:
    """Run (or load) one experiment under settings S and return its result dict.

    `force` re-runs even when a result with the same config exists. `on_step(epoch, step)` is called after
    every optimizer step (tests use it to interrupt a run)."""
    cfg = run_config(name, S.profile, seed, S.encoder, **overrides)
    if not force and (r := store.stored(cfg, S)) is not None:
        return r
    if not S.train:
        raise MissingResult(
            f"no stored result for {cfg.run_id} (profile {cfg.profile}, config {cfg.hash()}) in {S.results_dir}, "
            f"and training is off (`--no-train`, notebook parameter train=False). Train it with "
            f"`python -m mtbert run {cfg.experiment} --profile {cfg.profile}"
            + (f" --seeds {cfg.seed}" if cfg.run_id != cfg.experiment else "") + "` (full: on a GPU).")
    data_files = identity.verify_full(cfg, S.data_dir)  # DataError naming a changed file, before training
    store.check_writable(S)  # a read-only, full or misplaced store, before training
    with store.run_lock(cfg, S):  # RunLocked naming the process that trains this run id now
        if not force and (r := store.stored(cfg, S)) is not None:  # stored while we checked
            return r
        # --force keeps the stored result until the new one is written over it (atomically, by save_run)
        out = train_run(cfg, S, force=force, on_step=on_step, data_files=data_files)
        ck = RunCheckpoints(cfg, S, data_files)
        try:
            record = store.save_run(S, out)
        except OSError as e:
            raise StoreWriteFailed(_write_failed(e, f"the result of {cfg.run_id}", ck, cfg.total_epochs(), cfg)) from e
        ck.discard_resume_state()
    return record


def _kept(ck: RunCheckpoints, epochs_kept: int, cfg: RunConfig) -> str:
    """What an interrupted or failed run kept, truthfully: the epochs its resume checkpoint holds, or none."""
    if epochs_kept <= 0:
        return (f"no epoch of {cfg.run_id} had finished and been saved, so nothing was kept; running the same "
                "command again starts it from its first epoch")
    if epochs_kept >= cfg.total_epochs():
        return (f"all {cfg.total_epochs()} epochs of {cfg.run_id} are kept in {ck.last}; running the same command again "
                "only evaluates the selected epoch and writes the result")
    done = "epoch 1 of" if epochs_kept == 1 else f"epochs 1-{epochs_kept} of"
    return (f"{done} {cfg.run_id} {'is' if epochs_kept == 1 else 'are'} kept in {ck.last}; running the same command "
            f"again resumes after epoch {epochs_kept}")


def _sentence(s: str) -> str:
    return s[:1].upper() + s[1:]


def _write_failed(e: OSError, what: str, ck: RunCheckpoints, epochs_kept: int, cfg: RunConfig) -> str:
    return (f"writing {what} failed: {e.filename or ''}: {e.strerror or e} "
            f"({errno.errorcode.get(e.errno, e.errno)}). {_sentence(_kept(ck, epochs_kept, cfg))}. Fix: free space "
            "on the store or make it writable (or pass another --store-dir), then run the same command again.")


def train_run(cfg: RunConfig, S: Settings, force=False, on_step=None, data_files: dict | None = None) -> RunOutput:
    """Train one run (resuming from its last finished epoch unless `force`) and return its output; writes
    checkpoints only, never results or predictions. `data_files` (their sha256) when the caller verified them."""
    if data_files is None:
        data_files = identity.verify_full(cfg, S.data_dir)  # DataError naming a changed file, before training
    ck = RunCheckpoints(cfg, S, data_files)
    ck.remove_stale_tmp()
    store.remove_stale_tmp(store.result_path(cfg, S))
    if force:
        ck.discard_resume_state()
    t_start = time.time()
    R = Runner(cfg, S, resolve_device(S.device))
    train, dev = prepare_data(R, cfg)
    stage = stage_data(R, cfg)
    opt = make_optimizer(R.model, cfg)
    sched = make_scheduler(opt, cfg, total_steps(cfg, train, stage))
    state = resume(ck, R, opt, sched, S.progress)
    run = Training(R, train, opt, sched, state, on_step=on_step, progress=S.progress, ck=ck, dev=dev, S=S,
                   data_files=data_files, t_start=t_start, stage=stage)
    try:
        return _train_epochs_and_test(run)
    except KeyboardInterrupt:
        if force:  # a forced run starts afresh when run again, and the result it was to replace is still there
            raise RunInterrupted(f"the forced re-run of {cfg.run_id} was interrupted; its stored result, if any, "
                                 "is unchanged (--force replaces it only once the new one is written), and "
                                 "running the same command again trains it from its first epoch") from None
        raise RunInterrupted(_kept(ck, state.saved_epochs, cfg)) from None


def _train_epochs_and_test(run: Training) -> RunOutput:
    dev_out = {}
    for epoch in range(run.state.start_epoch, run.cfg.total_epochs()):
        dev_out = _train_and_keep_epoch(run, epoch)
    return _test_selected_epoch(run, dev_out)


def _train_and_keep_epoch(run: Training, epoch: int) -> dict:
    """Train one epoch, evaluate it on dev, add it to the history and save the checkpoints; its dev outputs."""
    cfg, R, ck, state = run.cfg, run.R, run.ck, run.state
    t0 = time.time()
    losses, seen, n_steps = train_epoch(run, epoch)
    dev_m, dev_out = evaluate(R, run.dev)
    dev_m["aggregate"] = aggregate(dev_m)
    state.history.append({
        "epoch": epoch + 1,
        "train_loss": {t: float(np.mean(v)) for t, v in losses.items()},
        "train": {t: metric(t, np.concatenate(p), np.concatenate(g)) for t, (p, g) in seen.items()},
        "dev": dev_m,
        "steps": n_steps,
        "seconds": time.time() - t0,
        # a resumed run may train its epochs at different thread counts, and its digits depend on them
        "threads": torch.get_num_threads(),
    })
    curves.log_epoch(run.S.tensorboard, cfg.profile, cfg.run_id, state.history[-1])
    try:
        if state.best is None or dev_m["aggregate"] > state.best["aggregate"]:
            state.best = {"epoch": epoch + 1, "aggregate": dev_m["aggregate"]}
            ck.save_best(R.model)
        ck.save_resume_state(resume_state(run, epoch, state.prior_seconds + time.time() - run.t_start))
    except OSError as e:
        raise StoreWriteFailed(_write_failed(e, f"a checkpoint of {cfg.run_id} after epoch {epoch + 1}", ck,
                                             state.saved_epochs, cfg)) from e
    state.saved_epochs = epoch + 1
    if run.progress:
        print(f"[{cfg.run_id}] epoch {epoch + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in dev_m.items()),
              file=sys.stderr)
    return dev_out


def _test_selected_epoch(run: Training, dev_out: dict) -> RunOutput:
    """Reload the selected epoch's weights, score the held-out test splits, write the prediction files."""
    cfg, R, ck, state = run.cfg, run.R, run.ck, run.state
    ck.load_best(R.model, R.device, fix=f"The run cannot finish without them (its resume checkpoint {ck.last} "
                 f"selected epoch {state.best['epoch']}): run it again with --force, which trains it from its first "
                 "epoch")
    # the dev outputs of the last epoch trained here are those of the selected model when it is that epoch
    trained_here = state.start_epoch < cfg.total_epochs()
    outputs = dict(dev_out) if trained_here and state.best["epoch"] == state.history[-1]["epoch"] else {}
    test_sets = {t: R.data(t, "test", cfg.cap("n_test", t)) for t in cfg.eval_tasks}
    test, test_out = evaluate(R, test_sets)
    outputs.update(test_out)
    files, preds = prediction_files(R, cfg, {"dev": run.dev, "test": test_sets}, run.S, outputs)
    record = result_record(run, test_sets, test, preds, wall_time_s=state.prior_seconds + time.time() - run.t_start)
    return RunOutput(record, files)


# -- the stages ----------------------------------------------------------------------------------------

def prepare_data(R: Runner, cfg: RunConfig) -> tuple[dict, dict]:
    """({task: train TaskData}, {task: dev TaskData}); a frozen encoder's features are cached here."""
    train = {t: R.data(t, "train", cfg.n_train.get(t)) for t in cfg.train_tasks}
    dev = {t: R.data(t, "dev", cfg.cap("n_dev", t)) for t in cfg.eval_tasks}
    for td in list(train.values()) + list(dev.values()):
        R.cache_features(td)
    return train, dev


def stage_data(R: Runner, cfg: RunConfig) -> dict:
    """{task: every phrase of its training rows} of the tasks with a phrase stage ({} for most runs)."""
    stage = {t: R.stage_data(t, cfg.n_train.get(t)) for t in cfg.train_tasks if cfg.phrase_stage(t) > 0}
    for td in stage.values():
        R.cache_features(td)
    return stage


def total_steps(cfg: RunConfig, train: dict, stage: dict) -> int:
    """The optimizer steps of every epoch (the schedule's length): the phrase stage's, then `cfg.epochs` of the
    configured tasks (every epoch of one kind has the same number of batches)."""
    stage_steps = sum(len(epoch_plan({t: stage[t] for t in cfg.stage_tasks(e)}, cfg, e))
                      for e in range(cfg.total_epochs() - cfg.epochs))
    return stage_steps + cfg.epochs * len(epoch_plan(train, cfg, 0))


@dataclass
class TrainingState:
    """Where a run stands: finished epochs' history, the best epoch so far, and counters that survive a resume."""
    history: list
    best: dict | None = None
    start_epoch: int = 0
    prior_seconds: float = 0.0
    loss_ref: dict | None = None
    step: int = 0          # optimizer steps so far, across a resume too
    saved_epochs: int = 0  # epochs the resume checkpoint on disk holds


@dataclass
class Training:
    """One run in training: what its epochs share. `train_epoch(Training(R, train, opt), epoch)` is enough for one
    epoch on its own (a fresh divergence guard, no scheduler); `train_run` fills in the rest."""
    R: Runner
    train: dict[str, TaskData]
    opt: torch.optim.Optimizer
    sched: object | None = None  # a learning-rate scheduler, stepped after every optimizer step, or None
    state: TrainingState = field(default_factory=lambda: TrainingState(history=[], loss_ref={}))
    guard: DivergenceGuard | None = None  # default: one for this config, from the state's first-batch losses
    on_step: Callable[[int, int], None] | None = None  # on_step(epoch, step) after every optimizer step
    progress: bool = False
    ck: RunCheckpoints | None = None
    dev: dict[str, TaskData] = field(default_factory=dict)
    S: Settings | None = None
    data_files: dict = field(default_factory=dict)
    t_start: float = 0.0
    stage: dict[str, TaskData] = field(default_factory=dict)  # a phrase stage's data (stage_data)

    def __post_init__(self):
        if self.guard is None:
            self.guard = DivergenceGuard(self.cfg, self.ck.last if self.ck else None, self.state.loss_ref)

    @property
    def cfg(self) -> RunConfig:
        return self.R.cfg

    def train_for(self, epoch: int) -> dict[str, TaskData]:
        """What epoch `epoch` trains on: in a phrase stage its tasks' phrases alone, after it `train`."""
        tasks = self.cfg.stage_tasks(epoch)
        return {t: self.stage[t] for t in tasks} if tasks else self.train


def resume(ck: RunCheckpoints, R: Runner, opt, sched, progress=False) -> TrainingState:
    """Load this config's resume state into the model, optimizer, scheduler and RNGs; a fresh state if none."""
    st = ck.resume_state(R.device)
    if st is None:
        return TrainingState(history=[], loss_ref={})
    R.model.load_state_dict(st["model"], strict=False)
    opt.load_state_dict(st["optimizer"])
    if sched is not None:
        sched.load_state_dict(st["scheduler"])
    torch.set_rng_state(st["torch_rng"].cpu())  # map_location moved it to the device
    if R.device.type == "cuda" and st.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(st["cuda_rng"].cpu())
    if progress:
        print(f"[{ck.cfg.run_id}] resuming after epoch {st['epoch'] + 1}", file=sys.stderr)
    return TrainingState(history=st["history"], best=st["best"], start_epoch=st["epoch"] + 1,
                         prior_seconds=st.get("seconds", 0.0), loss_ref=st.get("loss_ref", {}),
                         step=sum(h["steps"] for h in st["history"]), saved_epochs=st["epoch"] + 1)


def resume_state(run: Training, epoch: int, seconds: float) -> dict:
    """What a resume needs after `epoch`: plain tensors and Python values only (loads with weights_only=True)."""
    R, opt, sched, state, guard = run.R, run.opt, run.sched, run.state, run.guard
    return {
        "epoch": epoch, "model": trainable_state(R.model, R.cfg), "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict() if sched is not None else None, "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state() if R.device.type == "cuda" else None,
        "history": state.history, "best": state.best, "seconds": seconds, "loss_ref": dict(guard.ref)}


def train_epoch(run: Training, epoch: int):
    """One epoch of optimizer steps over `epoch_plan` (no evaluation); the run's guard stops a diverging run with
    TrainingDiverged; its scheduler (if any) steps after each step; `run.state.step` counts the steps.

    Returns (losses, seen, n_steps): per-task training losses, per-task (predictions, labels) lists, and the
    number of batches in the epoch."""
    R, opt, sched, guard, on_step, cfg = run.R, run.opt, run.sched, run.guard, run.on_step, run.cfg
    train = run.train_for(epoch)
    model, step = R.model, run.state.step
    plan = epoch_plan(train, cfg, epoch)
    model.train()
    if cfg.mode == "pretrain":
        model.encoder.eval()
    losses = {t: [] for t in train}
    seen = {t: ([], []) for t in train}
    bar = tqdm(plan, desc=f"{cfg.run_id} epoch {epoch + 1}/{cfg.total_epochs()}", disable=not run.progress,
               mininterval=2, leave=False)
    for t, idx in bar:
        td = train[t]
        y = torch.as_tensor(td.labels[idx], device=R.device)
        with R.autocast():
            u, v = R.embed(td, idx)
            raw, pred = model.task_outputs(t, u, v)
            loss = model.loss(t, raw, y)
        loss_value = loss.item()
        guard.batch(t, loss_value, epoch, step)
        opt.zero_grad(set_to_none=True)
        weight = cfg.loss_weights.get(t, 1.0)
        (loss if weight == 1.0 else weight * loss).backward()
        if cfg.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        opt.step()
        if sched is not None:
            sched.step()
        losses[t].append(loss_value)
        seen[t][0].append(pred.detach().cpu().numpy())
        seen[t][1].append(td.labels[idx])
        step += 1
        if on_step is not None:
            on_step(epoch, step)
    guard.epoch_end(losses, epoch, step)
    run.state.step = step
    return losses, seen, len(plan)


def evaluate(R: Runner, sets: dict[str, TaskData]) -> tuple[dict, dict]:
    """(metrics with the overall score, {(split, task): (raw scores, predictions)}) of one split's tasks."""
    metrics, outputs = {}, {}
    for t, td in sets.items():
        outputs[(td.split, t)] = raw_pred = R.predict(td)
        metrics[t] = metric(t, raw_pred[1], td.labels)
    return with_overall(metrics), outputs


def result_record(run: Training, test_sets: dict, test: dict, preds: dict, wall_time_s: float) -> dict:
    """The result JSON of a finished run: config and its hash, encoder and data identity, history, dev scores of
    the selected epoch, held-out test scores, the prediction files, wall time and environment."""
    cfg, R, state, data_files, data_dir = run.cfg, run.R, run.state, run.data_files, run.S.data_dir
    sets = {"train": run.train, "dev": run.dev, "test": test_sets}
    e = REGISTRY[cfg.experiment]
    enc = R.model.encoder
    return {
        "run_id": cfg.run_id, "experiment": cfg.experiment, "profile": cfg.profile, "seed": cfg.seed,
        "tables": list(e.tables), "description": e.description,
        "config": cfg.to_dict(), "config_hash": cfg.hash(),
        "encoder": {"name": cfg.encoder, "weights_sha256": weights_sha256(R.ckpt_dir),
                    # a copy carried in float16 and restored (scripts/gpu_full_run.sh leaves TRANSFER.json)
                    **({"transfer": "fp16"} if (R.ckpt_dir / "TRANSFER.json").exists() else {}),
                    "hidden_size": enc.config.hidden_size,
                    "layers": enc.config.num_hidden_layers, "params": sum(p.numel() for p in enc.parameters())},
        "data": {
            **{f"{t.name}_train": D.train_file_info(t.name, data_dir) if t.name in cfg.eval_tasks else None
               for t in TASKS.values() if len(t.file_candidates("train")) > 1},  # which of its train files
            "sizes": {split: {t: len(td) for t, td in s.items()} for split, s in sets.items()},
            "skipped_rows": {f"{t}/{td.split}": td.n_skipped for s in sets.values() for t, td in s.items()},
            "holdout_sizes": dict(D.HOLDOUT_SIZES),
            "files": dict(data_files),
            # a task trained on phrases: which phrases, from how many rows and words (mtbert.data.trees)
            **({"train_units": units} if (units := {t: td.units for t, td in sets["train"].items() if td.units})
               else {}),
            # a phrase stage: its epochs, and which phrases
            **({"phrase_stage": {t: {"epochs": cfg.phrase_stage(t), **td.units} for t, td in run.stage.items()}}
               if run.stage else {}),
        },
        "history": state.history, "best_epoch": state.best["epoch"],
        "dev": state.history[state.best["epoch"] - 1]["dev"], "test": test,
        "predictions": preds,
        "wall_time_s": wall_time_s,
        "environment": store.environment(R.device),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


@lru_cache(maxsize=8)
def weights_sha256(ckpt_dir) -> str:
    return sha256_file(weights_file(ckpt_dir))
