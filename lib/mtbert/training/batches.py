"""Prepare data for a run: load a split, subsample it deterministically, tokenise it once per process, and cut
an epoch into length-grouped batches of one task each."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from mtbert.data import datasets as D
from mtbert.data.fetch import repair_hint
from mtbert.data.tasks import get_task
from mtbert.model.tokenizer import Tokenizer
from mtbert.training.config import RunConfig

DATA_SEED = 0          # which rows a profile's subsample keeps: the same for every experiment and seed


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


def subsample(n_total: int, limit: int | None, salt: str) -> np.ndarray | None:
    """Sorted row indices of a deterministic subsample of `limit` rows, or None to keep all."""
    if limit is None or limit >= n_total:
        return None
    rng = np.random.default_rng([DATA_SEED, sum(map(ord, salt))])
    return np.sort(rng.choice(n_total, limit, replace=False))


@lru_cache(maxsize=64)
def tokenizer(ckpt_dir: str, max_length: int) -> Tokenizer:
    return Tokenizer.from_checkpoint(ckpt_dir, max_length)


@lru_cache(maxsize=64)
def prepare(task: str, split: str, ckpt_dir: str, max_length: int, limit: int | None, data_dir: str | None):
    """Load, subsample (deterministically) and tokenise a split once per process."""
    d = D.load(task, split, data_dir)
    if len(d) == 0:
        why = ", ".join(f"{n} {r}" for r, n in sorted(d.skip_reasons.items())) or "the file has no data rows"
        raise D.DataError(
            f"{task} {split} split is empty: data file '{os.path.basename(d.source)}' ({d.source}) has no usable "
            f"row ({d.n_skipped} rows skipped: {why}). Fix: {repair_hint(os.path.basename(d.source), os.path.dirname(d.source))}.")
    idx = subsample(len(d), limit, f"{task}/{split}")
    if idx is not None:
        d = d.subset(idx)
    tok = tokenizer(ckpt_dir, max_length)
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
