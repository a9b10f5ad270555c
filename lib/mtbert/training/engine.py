"""Run one experiment: tokenised data -> length-grouped batches -> AdamW steps -> dev every epoch ->
best epoch -> held-out test -> one results JSON. Re-running loads the result; an interrupted run resumes
from its last finished epoch."""
from __future__ import annotations

from mtbert.errors import MtbertError

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

import numpy as np
import torch
from tqdm import tqdm  # the plain bar: tqdm.auto warns in kernels without ipywidgets

from mtbert.data import datasets as D
from mtbert.data.tasks import TASKS, get_task
from mtbert.data import identity as datahash
from mtbert.results import store
from mtbert.model.checkpoint import CheckpointError, load_encoder
from mtbert.training.experiments import REGISTRY, RunConfig, run_config
from mtbert.settings import Settings
from mtbert.model.heads import MultitaskBert
from mtbert.analysis.metrics import aggregate, task_metric, with_overall
from mtbert.model.encoder import layer_index
from mtbert.model.tokenizer import Tokenizer

DATA_SEED = 0          # which rows a profile's subsample keeps: the same for every experiment and seed

# Divergence rule (DivergenceGuard): per task, the reference is the loss of the task's first batch in the run
# (before any step on that task: about ln(classes) for a fresh classification head), floored at LOSS_FLOOR.
# Training stops when a loss is not finite, when the mean of the task's last DIVERGE_WINDOW batch losses (once it
# has DIVERGE_MIN_BATCHES of them) or its mean epoch loss exceeds DIVERGE_FACTOR x the reference.
DIVERGE_FACTOR = 10.0
DIVERGE_WINDOW = 10
DIVERGE_MIN_BATCHES = 5
LOSS_FLOOR = 0.1


class TrainingDiverged(MtbertError):
    pass


class MissingResult(MtbertError):
    pass


@dataclass
class TaskData:
    """One tokenised split of one task (pairs have `b`)."""
    task: str
    split: str
    ids: list
    a: list
    b: list | None
    labels: np.ndarray | None
    lengths: np.ndarray
    n_skipped: int
    source: str

    def __len__(self):
        return len(self.a)


# -- data ------------------------------------------------------------------------------------------

def _limit(n_total: int, limit: int | None, salt: str) -> np.ndarray | None:
    if limit is None or limit >= n_total:
        return None
    rng = np.random.default_rng([DATA_SEED, sum(map(ord, salt))])
    return np.sort(rng.choice(n_total, limit, replace=False))


@lru_cache(maxsize=64)
def _tokenizer(ckpt_dir: str, max_length: int) -> Tokenizer:
    return Tokenizer.from_checkpoint(ckpt_dir, max_length)


@lru_cache(maxsize=64)
def prepare(task: str, split: str, ckpt_dir: str, max_length: int, limit: int | None, data_dir: str | None):
    """Load, subsample (deterministically) and tokenise a split once per process."""
    d = D.load(task, split, data_dir)
    if len(d) == 0:
        why = ", ".join(f"{n} {r}" for r, n in sorted(d.skip_reasons.items())) or "the file has no data rows"
        raise D.DataError(
            f"{task} {split} split is empty: data file '{os.path.basename(d.source)}' ({d.source}) has no usable "
            f"row ({d.n_skipped} rows skipped: {why}). Fix: run `make data` (or `python -m mtbert data`) to "
            f"restore the published file.")
    idx = _limit(len(d), limit, f"{task}/{split}")
    if idx is not None:
        d = d.subset(idx)
    tok = _tokenizer(ckpt_dir, max_length)
    if get_task(task).is_pair:
        a, b = tok.encode(d.sents1), tok.encode(d.sents2)
        lengths = np.maximum([len(x) for x in a], [len(x) for x in b])
    else:
        a, b = tok.encode(d.sents), None
        lengths = np.array([len(x) for x in a])
    return TaskData(task, split, list(d.ids), a, b, d.labels, lengths, d.n_skipped, d.source)


def length_grouped_batches(lengths: np.ndarray, order: np.ndarray, batch_size: int, window: int = 50):
    """Cut `order` into batches of similar length: sort within windows of `window` batches, so that
    padding is small while the batches stay random."""
    w = batch_size * window
    out = []
    for s in range(0, len(order), w):
        chunk = order[s:s + w]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        out += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return out


# -- model pieces ------------------------------------------------------------------------------------

def layerwise_lrs(model: MultitaskBert, lr: float, decay: float) -> dict[str, float]:
    """Layer-wise learning-rate decay (paper §3.2): the top layer (and pooler and heads) get `lr`, each
    layer below gets `decay` times the rate of the one above; embeddings sit below layer 1."""
    L = model.encoder.config.num_hidden_layers
    out = {}
    for n, p in model.named_parameters():
        if n.startswith("encoder."):
            depth = min(layer_index(n[len("encoder."):], L), L)
            out[n] = lr * decay ** (L - depth)
        else:
            out[n] = lr
    return out


def make_optimizer(model: MultitaskBert, cfg: RunConfig, device) -> torch.optim.Optimizer:
    params = dict(model.named_parameters())
    if cfg.mode == "pretrain":
        lrs = {n: cfg.lr for n in params if not n.startswith("encoder.")}
    else:
        lrs = layerwise_lrs(model, cfg.lr, cfg.lr_decay)
    if cfg.head_lr is not None:  # the task heads get their own rate
        lrs = {n: cfg.head_lr if not n.startswith("encoder.") else lr for n, lr in lrs.items()}
    groups: dict[float, list] = {}
    for n, lr in lrs.items():
        groups.setdefault(lr, []).append(params[n])
    param_groups = [{"params": ps, "lr": lr} for lr, ps in groups.items()]
    try:
        return torch.optim.AdamW(param_groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(param_groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(opt: torch.optim.Optimizer, cfg: RunConfig, total_steps: int):
    """Linear warm-up over `cfg.warmup` of all steps (from 1/W of the rate), then constant or linear decay to 0
    at the last step; None for the paper's constant rate (no scheduler, so its runs are unchanged)."""
    if cfg.warmup == 0 and cfg.lr_schedule == "constant":
        return None
    W = int(round(cfg.warmup * total_steps))

    def factor(s: int) -> float:  # s = optimizer steps taken so far
        if s < W:
            return (s + 1) / W
        if cfg.lr_schedule == "linear":
            return max(0.0, (total_steps - s) / max(1, total_steps - W))
        return 1.0
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


class Runner:
    """Holds the model and the tokenised data of one run, and knows how to embed and score batches."""

    def __init__(self, cfg: RunConfig, S: Settings, device):
        self.cfg, self.S, self.device, self.data_dir = cfg, S, device, S.data_dir
        torch.manual_seed(cfg.seed)
        encoder, self.ckpt_dir = load_encoder(cfg.encoder, encoder_dir=S.encoder_dir)
        # CPU: skip padding tokens in the position-wise layers (same outputs at real tokens). On CUDA this small
        # encoder is launch-bound and the extra gathers/syncs cost more than the padding (bench/README.md).
        encoder.unpad = device.type == "cpu" and S.unpad
        self.tok = _tokenizer(str(self.ckpt_dir), cfg.max_length)
        self.model = MultitaskBert(encoder=encoder, tasks=cfg.eval_tasks, pooling=cfg.pooling, dropout=cfg.dropout,
                                   para_head=cfg.para_head, sts_head=cfg.sts_head,
                                   para_encoding=cfg.para_encoding, sts_encoding=cfg.sts_encoding).to(device)
        if cfg.mode == "pretrain":
            self.model.encoder.requires_grad_(False)
        # bf16 autocast on CUDA; the amp setting forces it on or off (CPU rehearsals of the GPU path)
        self.amp = device.type == "cuda" if S.amp is None else S.amp
        self.eval_bs = 512 if device.type == "cuda" else 128
        self.features: dict[tuple, tuple] = {}

    def data(self, task, split, limit):
        return prepare(task, split, str(self.ckpt_dir), self.cfg.max_length, limit,
                       None if self.data_dir is None else str(self.data_dir))

    def autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _encode(self, seqs):
        ids, mask = self.tok.pad_batch(seqs, self.device)
        return self.model.embed(ids, mask)

    def _encode_cross(self, td: TaskData, idx):
        """Joint embeddings of pairs: [CLS] a [SEP] b [SEP] with token types 0 then 1, built from the two
        sentences' token ids (b's [CLS] dropped); over max_length, a's and b's tokens are cut from the end."""
        seqs, types = [], []
        for i in idx:
            a, b = td.a[i], td.b[i][1:]
            while len(a) + len(b) > self.cfg.max_length:  # longest first, keeping each [SEP]
                if len(a) >= len(b):
                    a = a[:-2] + a[-1:]
                else:
                    b = b[:-2] + b[-1:]
            seqs.append(a + b)
            types.append([0] * len(a) + [1] * len(b))
        ids, mask = self.tok.pad_batch(seqs, self.device)
        tt = torch.zeros_like(ids)
        for r, t in enumerate(types):
            tt[r, :len(t)] = torch.as_tensor(t)
        return self.model.embed(ids, mask, tt)

    def embed(self, td: TaskData, idx):
        """Sentence embeddings (u, v) of rows idx: cached frozen features in pretrain mode, else the encoder.
        Pairs run through the encoder as one batch of 2B sentences; cross-encoded pairs as B joint sequences
        (u = the joint embedding, v = None)."""
        if td.b is not None and self.cfg.encoding(td.task) == "cross":
            return self._encode_cross(td, idx), None
        if self.cfg.mode == "pretrain":
            U, V = self.features[(td.task, td.split)]
            t = torch.as_tensor(idx, device=U.device)
            return U[t], (V[t] if V is not None else None)
        if td.b is None:
            return self._encode([td.a[i] for i in idx]), None
        uv = self._encode([td.a[i] for i in idx] + [td.b[i] for i in idx])
        return uv[:len(idx)], uv[len(idx):]

    @torch.no_grad()
    def cache_features(self, td: TaskData):
        """Frozen-encoder features, computed once per split (encoder in eval mode)."""
        if self.cfg.mode != "pretrain" or (td.task, td.split) in self.features:
            return
        self.model.encoder.eval()
        order = np.argsort(td.lengths, kind="stable")
        U = torch.empty(len(td), self.model.encoder.config.hidden_size, device=self.device)
        V = torch.empty_like(U) if td.b is not None else None
        for s in range(0, len(order), self.eval_bs):
            idx = order[s:s + self.eval_bs]
            with self.autocast():
                if td.b is None:
                    U[torch.as_tensor(idx)] = self._encode([td.a[i] for i in idx]).float()
                else:
                    uv = self._encode([td.a[i] for i in idx] + [td.b[i] for i in idx]).float()
                    U[torch.as_tensor(idx)], V[torch.as_tensor(idx)] = uv[:len(idx)], uv[len(idx):]
        self.features[(td.task, td.split)] = (U, V)

    @torch.no_grad()
    def predict(self, td: TaskData):
        """(raw scores, predictions) for every row of a split, in the split's order."""
        self.model.eval()
        self.cache_features(td)
        order = np.argsort(td.lengths, kind="stable")
        raws, preds = [], []
        for s in range(0, len(order), self.eval_bs):
            idx = order[s:s + self.eval_bs]
            with self.autocast():
                u, v = self.embed(td, idx)
                raw, pred = self.model.task_outputs(td.task, u, v)
            raws.append(raw.float().cpu().numpy())
            preds.append(pred.float().cpu().numpy())
        inverse = np.argsort(order, kind="stable")  # back to the split's row order
        raw = np.concatenate(raws)[inverse] if raws else np.zeros(0)
        pred = np.concatenate(preds)[inverse] if preds else np.zeros(0)
        return raw, (pred if get_task(td.task).is_regression else pred.astype(np.int64))


def metric(task: str, preds, labels) -> float:
    return task_metric(task, preds, labels)


# -- the run ---------------------------------------------------------------------------------------------

def _load_checkpoint(path, map_location="cpu") -> dict:
    """A resume checkpoint, loaded with weights_only=True (tensors and plain Python values only, so a crafted
    file cannot run code); CheckpointError naming the file when it cannot be loaded that way."""
    try:
        st = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle with code (UnpicklingError), truncated file, not a torch file, ...
        raise CheckpointError(
            f"resume checkpoint {path} cannot be loaded safely ({type(e).__name__}: {str(e).splitlines()[0][:200]}). "
            f"Delete it; the run then starts from its first epoch.") from e
    if not isinstance(st, dict) or not {"config_hash", "epoch", "history", "best"} <= set(st):
        raise CheckpointError(f"resume checkpoint {path} is not a resume checkpoint of this version; delete it.")
    return st


def save_partials(S: Settings) -> list[str]:
    """Runs cut off before their last epoch (e.g. by a GPU lease) keep their per-epoch history: one JSON per
    resume checkpoint under results/<profile>/partial/, which the report lists but puts in no table."""
    written = []
    for ck in sorted(S.checkpoints_dir.glob("*.last.pt")):
        rid = ck.name[:-len(".last.pt")]
        try:
            st = _load_checkpoint(ck)
        except CheckpointError as e:  # one bad file must not cost the others their history
            written.append(f"{rid}: skipped: {e}")
            continue
        store.write_json(S.results_dir / "partial" / f"{rid}.json", {
            "run_id": rid, "partial": True, "config_hash": st["config_hash"], "epochs_done": st["epoch"] + 1,
            "best": st["best"], "history": st["history"], "seconds": st.get("seconds")})
        written.append(f"{rid}: {st['epoch'] + 1} epochs done")
    return written


def run(name: str, S: Settings, seed: int | None = None, force=False, on_step=None, **overrides) -> dict:
    """Run (or load) one experiment under settings S and return its result dict.

    `force` re-runs even when a result with the same config exists. `on_step(epoch, step)` is called after
    every optimizer step (tests use it to interrupt a run)."""
    cfg = run_config(name, S.profile, seed, S.encoder, **overrides)
    path = store.result_path(cfg, S)
    if not force and (r := store.stored(cfg, S)) is not None:
        return r
    if not S.train:
        raise MissingResult(
            f"no stored result for {cfg.run_id} (profile {cfg.profile}, config {cfg.hash()}) in {path.parent}, and "
            f"training is off (`--no-train`, notebook parameter train=False). Train it with "
            f"`python -m mtbert run {cfg.experiment} --profile {cfg.profile}"
            + (f" --seeds {cfg.seed}" if cfg.run_id != cfg.experiment else "") + "` (full: on a GPU).")
    data_files = datahash.verify(cfg, S.data_dir)  # DataError naming a truncated/changed file, before training
    last_ck = S.checkpoints_dir / f"{cfg.run_id}.last.pt"
    for p in (path, last_ck, S.checkpoints_dir / f"{cfg.run_id}.best.pt"):
        store.remove_stale_tmp(p)  # left by a killed atomic write
    if force:  # invalidate first, so that an interrupted forced run cannot bring the old result back
        path.unlink(missing_ok=True)
        last_ck.unlink(missing_ok=True)
    return _train(cfg, S, resolve_device(S.device), path, force, on_step, data_files)


def epoch_plan(train: dict, cfg: RunConfig, epoch: int) -> list:
    """The (task, row indices) batches of one epoch: each task's rows shuffled (Quora subsampled to
    `quora_per_epoch`), cut into length-grouped batches, then all batches shuffled together."""
    rng = np.random.default_rng([cfg.seed, epoch])
    plan = []
    per_epoch = {t: getattr(cfg, o) for t in train if (o := get_task(t).per_epoch_option) is not None}
    sizes = {t: min(per_epoch[t], len(td)) if t in per_epoch else len(td) for t, td in train.items()}
    if cfg.task_sampling == "sqrt":  # same number of steps, split between tasks by sqrt(size)
        steps = sum(-(-n // cfg.batch_size) for n in sizes.values())
        root = {t: np.sqrt(n) for t, n in sizes.items()}
        rows = {t: max(1, int(round(steps * root[t] / sum(root.values())))) * cfg.batch_size for t in sizes}
    for t, td in train.items():
        if cfg.task_sampling == "sqrt":  # whole shuffled passes over the task's rows, cut to its share
            reps = -(-rows[t] // len(td))
            order = np.concatenate([rng.permutation(len(td)) for _ in range(reps)])[:rows[t]]
        elif t in per_epoch:
            order = rng.choice(len(td), sizes[t], replace=False)
        else:
            order = rng.permutation(len(td))
        plan += [(t, b) for b in length_grouped_batches(td.lengths, order, cfg.batch_size)]
    return [plan[i] for i in rng.permutation(len(plan))]


class DivergenceGuard:
    """Stops a diverging run (the rule is stated at DIVERGE_FACTOR): TrainingDiverged names the task, the value,
    the learning rate, and the resume checkpoint only when one exists."""

    def __init__(self, cfg: RunConfig, last_ck=None, ref: dict | None = None):
        self.cfg, self.last_ck = cfg, last_ck
        self.ref = dict(ref or {})  # task -> first-batch loss (kept in the resume checkpoint)
        self.recent: dict[str, list] = {}

    def _fail(self, task, what, epoch, step):
        kept = (f" Earlier epochs are kept in {self.last_ck} (lowering lr changes the config, so that run starts "
                f"afresh)." if self.last_ck is not None and os.path.exists(self.last_ck)
                else " No epoch had finished, so nothing was kept.")
        raise TrainingDiverged(
            f"experiment {self.cfg.run_id}: {task} {what} at epoch {epoch + 1}, step {step} (lr {self.cfg.lr:g}); "
            f"lower the learning rate (e.g. --set lr=...) or check the data. Nothing was stored as a result." + kept)

    def limit(self, task) -> float:
        return DIVERGE_FACTOR * max(self.ref[task], LOSS_FLOOR)

    def batch(self, task, loss: float, epoch, step):
        if not np.isfinite(loss):
            self._fail(task, f"loss is {loss}", epoch, step)
        self.ref.setdefault(task, loss)
        w = self.recent.setdefault(task, [])
        w.append(loss)
        del w[:-DIVERGE_WINDOW]
        if len(w) >= DIVERGE_MIN_BATCHES and np.mean(w) > self.limit(task):
            self._fail(task, f"running loss (mean of the last {len(w)} batches) is {np.mean(w):.4g}, over "
                             f"{DIVERGE_FACTOR:g}x its starting value {self.ref[task]:.4g}", epoch, step)

    def epoch_end(self, losses: dict, epoch, step):
        for t, v in losses.items():
            if v and np.mean(v) > self.limit(t):
                self._fail(t, f"mean epoch loss is {np.mean(v):.4g}, over {DIVERGE_FACTOR:g}x its starting value "
                              f"{self.ref[t]:.4g}", epoch, step)


def train_epoch(R: Runner, train: dict, opt: torch.optim.Optimizer, cfg: RunConfig, epoch: int, step: int = 0,
                progress: bool = False, on_step=None, last_ck=None, guard: DivergenceGuard | None = None,
                sched=None):
    """One epoch of optimizer steps over `epoch_plan` (no evaluation); `guard` (default: a fresh one) stops a
    diverging run with TrainingDiverged; `sched` (a learning-rate scheduler, or None) steps after each step.

    Returns (losses, seen, n_steps, step): per-task training losses, per-task (predictions, labels) lists,
    the number of batches in the epoch, and the running step count (`step` plus this epoch's steps)."""
    model = R.model
    device = R.device
    guard = guard if guard is not None else DivergenceGuard(cfg, last_ck)
    plan = epoch_plan(train, cfg, epoch)
    model.train()
    if cfg.mode == "pretrain":
        model.encoder.eval()
    losses = {t: [] for t in train}
    seen = {t: ([], []) for t in train}
    bar = tqdm(plan, desc=f"{cfg.run_id} epoch {epoch + 1}/{cfg.epochs}", disable=not progress,
               mininterval=2, leave=False)
    for t, idx in bar:
        td = train[t]
        y = torch.as_tensor(td.labels[idx], device=device)
        with R.autocast():
            u, v = R.embed(td, idx)
            raw, pred = model.task_outputs(t, u, v)
            loss = model.loss(t, raw, y)
        loss_value = loss.item()
        guard.batch(t, loss_value, epoch, step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
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
    return losses, seen, len(plan), step


def _train(cfg: RunConfig, S: Settings, device, path, force, on_step, data_files=None) -> dict:
    t_start = time.time()
    progress = S.progress
    data_dir = S.data_dir
    R = Runner(cfg, S, device)
    model = R.model
    train = {t: R.data(t, "train", cfg.n_train.get(t)) for t in cfg.train_tasks}
    dev = {t: R.data(t, "dev", cfg.cap("n_dev", t)) for t in cfg.eval_tasks}
    for td in list(train.values()) + list(dev.values()):
        R.cache_features(td)
    opt = make_optimizer(model, cfg, device)
    sched = make_scheduler(opt, cfg, cfg.epochs * len(epoch_plan(train, cfg, 0)))

    ckdir = S.checkpoints_dir
    last_ck, best_ck = ckdir / f"{cfg.run_id}.last.pt", ckdir / f"{cfg.run_id}.best.pt"
    history, best, start_epoch, prior_seconds, loss_ref = [], None, 0, 0.0, {}
    if last_ck.exists() and not force:
        st = _load_checkpoint(last_ck, device)
        if st.get("config_hash") == cfg.hash():
            model.load_state_dict(st["model"], strict=False)
            opt.load_state_dict(st["optimizer"])
            if sched is not None:
                sched.load_state_dict(st["scheduler"])
            torch.set_rng_state(st["torch_rng"].cpu())  # map_location moved it to the device
            if device.type == "cuda" and st.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(st["cuda_rng"].cpu())
            history, best, start_epoch = st["history"], st["best"], st["epoch"] + 1
            prior_seconds, loss_ref = st.get("seconds", 0.0), st.get("loss_ref", {})
            if progress:
                print(f"[{cfg.run_id}] resuming after epoch {st['epoch'] + 1}", file=sys.stderr)

    step = sum(h["steps"] for h in history)  # optimizer steps so far, across a resume too
    guard = DivergenceGuard(cfg, last_ck, loss_ref)
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.time()
        losses, seen, n_steps, step = train_epoch(R, train, opt, cfg, epoch, step, progress, on_step, last_ck,
                                                  guard, sched)

        dev_m, dev_out = {}, {}
        for t, td in dev.items():
            dev_out[("dev", t)] = raw_pred = R.predict(td)
            dev_m[t] = metric(t, raw_pred[1], td.labels)
        dev_m = with_overall(dev_m)
        dev_m["aggregate"] = aggregate(dev_m)
        history.append({
            "epoch": epoch + 1,
            "train_loss": {t: float(np.mean(v)) for t, v in losses.items()},
            "train": {t: metric(t, np.concatenate(p), np.concatenate(g)) for t, (p, g) in seen.items()},
            "dev": dev_m,
            "steps": n_steps,
            "seconds": time.time() - t0,
        })
        if best is None or dev_m["aggregate"] > best["aggregate"]:
            best = {"epoch": epoch + 1, "aggregate": dev_m["aggregate"]}
            store.torch_save(best_ck, _trainable_state(model, cfg))
        store.torch_save(last_ck, {
            "config_hash": cfg.hash(), "epoch": epoch, "model": _trainable_state(model, cfg),
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict() if sched is not None else None,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if device.type == "cuda" else None,
            "history": history, "best": best, "seconds": prior_seconds + time.time() - t_start,
            "loss_ref": dict(guard.ref)})  # plain tensors and Python values: loads with weights_only=True
        if progress:
            print(f"[{cfg.run_id}] epoch {epoch + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in dev_m.items()),
                  file=sys.stderr)

    model.load_state_dict(torch.load(best_ck, map_location=device, weights_only=True), strict=False)
    # the dev outputs of the last epoch trained here are those of the selected model when it is that epoch
    outputs = dict(dev_out) if history and best["epoch"] == history[-1]["epoch"] and start_epoch < cfg.epochs else {}
    test = {}
    test_sets = {t: R.data(t, "test", cfg.cap("n_test", t)) for t in cfg.eval_tasks}
    for t, td in test_sets.items():
        outputs[("test", t)] = raw_pred = R.predict(td)
        test[t] = metric(t, raw_pred[1], td.labels)
    test = with_overall(test)

    from mtbert.training.predictions import write_predictions
    preds = write_predictions(R, cfg, {"dev": dev, "test": test_sets}, S, outputs)

    e = REGISTRY[cfg.experiment]
    enc = model.encoder
    result = {
        "run_id": cfg.run_id, "experiment": cfg.experiment, "profile": cfg.profile, "seed": cfg.seed,
        "tables": list(e.tables), "description": e.description,
        "config": cfg.to_dict(), "config_hash": cfg.hash(),
        "encoder": {"name": cfg.encoder, "weights_sha256": _weights_sha256(R.ckpt_dir),
                    # a copy carried in float16 and restored (scripts/gpu_full_run.sh leaves TRANSFER.json)
                    **({"transfer": "fp16"} if (R.ckpt_dir / "TRANSFER.json").exists() else {}),
                    "hidden_size": enc.config.hidden_size,
                    "layers": enc.config.num_hidden_layers, "params": sum(p.numel() for p in enc.parameters())},
        "data": {
            **{f"{t.name}_train": D.train_file_info(t.name, data_dir) if t.name in cfg.eval_tasks else None
               for t in TASKS.values() if len(t.file_candidates("train")) > 1},  # which of its train files
            "sizes": {split: {t: len(td) for t, td in sets.items()}
                      for split, sets in (("train", train), ("dev", dev), ("test", test_sets))},
            "skipped_rows": {f"{t}/{td.split}": td.n_skipped for sets in (train, dev, test_sets)
                             for t, td in sets.items()},
            "holdout_sizes": dict(D.HOLDOUT_SIZES),
            "files": dict(data_files if data_files is not None else datahash.verify(cfg, data_dir)),
        },
        "history": history, "best_epoch": best["epoch"],
        "dev": history[best["epoch"] - 1]["dev"], "test": test,
        "predictions": preds,
        "wall_time_s": prior_seconds + time.time() - t_start,
        "environment": store.environment(device),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    store.write_json(path, result)
    last_ck.unlink(missing_ok=True)
    return result


def _trainable_state(model: MultitaskBert, cfg: RunConfig) -> dict:
    sd = model.state_dict()
    if cfg.mode == "pretrain":  # the frozen encoder is the checkpoint on disk; keep only the heads
        sd = {k: v for k, v in sd.items() if not k.startswith("encoder.")}
    return {k: v.detach().clone() for k, v in sd.items()}



@lru_cache(maxsize=8)
def _weights_sha256(ckpt_dir) -> str:
    from mtbert.model.checkpoint import weights_file
    from mtbert.data.fetch import sha256_file
    return sha256_file(weights_file(ckpt_dir))
