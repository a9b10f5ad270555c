"""Prepare data for a run: load a split, subsample it deterministically, swap a task's training rows for the
phrases of their parse trees when the run asks, tokenise it once per process, and cut an epoch into
length-grouped batches of one task each."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from mtbert.data import datasets as D
from mtbert.core.tasks import get_task
from mtbert.data import trees as phrase_trees
from mtbert.data.fetch import fetch_hint, repair_hint
from mtbert.model.tokenizer import Tokenizer
from mtbert.core.config import RunConfig

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
    units: dict | None = None  # phrases instead of rows: how they were chosen (mtbert.data.trees.PhraseSet.stats)

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


def phrases(d: D.SentenceData, task: str, data_dir: str | None, min_words: int = 1) -> tuple[D.SentenceData, dict]:
    """The phrases of the trees of `d`'s rows (a train split, perhaps subsampled) as rows of their own, with
    the held-out rows' phrases held out (mtbert.data.trees), and how they were chosen."""
    spec = get_task(task)
    train_file = D.file_for(task, "train", data_dir).resolve()
    whole = D.load_file(train_file, task)  # every row of the file: line i of the trees file is its row i
    if whole.n_skipped:
        raise D.DataError(f"{train_file.name}: {whole.n_skipped} rows were skipped, so its rows no longer line up "
                          f"with the lines of {spec.trees_file}. Fix: restore both: {fetch_hint(train_file.parent)}.")
    trees_path = D.trees_file_for(task, data_dir)
    trees = phrase_trees.trees_by_id(trees_path, whole.ids, whole.labels)
    held = D.load(task, "test", data_dir).ids
    ps = phrase_trees.phrases_of_rows(trees, d.ids, held, min_words, prep=D.preprocess_single_sentence)
    ids = [f"{row}/phrase{k}" for k, row in enumerate(ps.source_rows)]
    out = D.SentenceData(ids, ps.texts, ps.labels, d.n_skipped, str(trees_path), dict(d.skip_reasons))
    return out, {"units": "phrases", "file": trees_path.name, **ps.stats}


@dataclass(frozen=True)
class SplitKey:
    """Which tokenised split `prepare` returns, and the key it is cached under: a task's split in `data_dir`
    (None: the default folder), subsampled deterministically to `limit` rows (None: all of them), tokenised by
    the checkpoint's tokenizer up to `max_length`; `units` ("phrases", budget, shortest phrase) swaps a train
    split's rows for their phrases."""
    task: str
    split: str
    ckpt_dir: str
    max_length: int
    limit: int | None = None
    data_dir: str | None = None
    units: tuple = ("sentences",)


@lru_cache(maxsize=64)
def prepare(key: SplitKey) -> TaskData:
    """Load, subsample (deterministically) and tokenise a split once per process (see SplitKey)."""
    task, split, data_dir, units = key.task, key.split, key.data_dir, key.units
    d = D.load(task, split, data_dir)
    if len(d) == 0:
        why = ", ".join(f"{n} {r}" for r, n in sorted(d.skip_reasons.items())) or "the file has no data rows"
        raise D.DataError(
            f"{task} {split} split is empty: data file '{os.path.basename(d.source)}' ({d.source}) has no usable "
            f"row ({d.n_skipped} rows skipped: {why}). Fix: {repair_hint(os.path.basename(d.source), os.path.dirname(d.source))}.")
    idx = subsample(len(d), key.limit, f"{task}/{split}")
    if idx is not None:
        d = d.subset(idx)
    info = None
    if units[0] == "phrases":
        d, info = phrases(d, task, data_dir, min_words=units[2])
        info["budget"] = units[1]
    tok = tokenizer(key.ckpt_dir, key.max_length)
    if get_task(task).is_pair:
        a, b = tok.encode(d.sents1), tok.encode(d.sents2)
        lengths = np.maximum([len(x) for x in a], [len(x) for x in b])
    else:
        a, b = tok.encode(d.sents), None
        lengths = np.array([len(x) for x in a])
    return TaskData(task, split, list(d.ids), a, b, d.labels, lengths, d.n_skipped, d.source, info)


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


def rows_per_epoch(cfg: RunConfig, task: str) -> int | None:
    """How many training rows of a task one epoch draws (a fresh sample each epoch; the spec's per-epoch knob,
    Quora's), or None for all of them."""
    option = get_task(task).per_epoch_option
    return getattr(cfg, option) if option is not None else None


def phrase_order(td: TaskData, rng: np.random.Generator) -> np.ndarray | None:
    """One epoch's rows of a task trained on phrases with a budget: every sentence (the first
    `units["sentences"]` rows) and a fresh sample of budget x sentences of the other phrases, shuffled; None
    when the task trains on its rows, or on every phrase every epoch."""
    if td.units is None or td.units.get("budget") is None:
        return None
    n_sent = td.units["sentences"]
    k = min(len(td) - n_sent, int(round(td.units["budget"] * n_sent)))
    sample = n_sent + rng.choice(len(td) - n_sent, k, replace=False)
    return rng.permutation(np.concatenate([np.arange(n_sent), sample]))


def epoch_plan(train: dict, cfg: RunConfig, epoch: int) -> list:
    """The (task, row indices) batches of one epoch: each task's rows shuffled (subsampled to `rows_per_epoch`,
    or drawn by `phrase_order`, where they say so), cut into length-grouped batches, then all batches shuffled
    together."""
    rng = np.random.default_rng([cfg.seed, epoch])
    plan = []
    per_epoch = {t: n for t in train if (n := rows_per_epoch(cfg, t)) is not None}
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
        elif (phrases_drawn := phrase_order(td, rng)) is not None:
            order = phrases_drawn
        else:
            order = rng.permutation(len(td))
        plan += [(t, b) for b in length_grouped_batches(td.lengths, order, cfg.batch_size)]
    return [plan[i] for i in rng.permutation(len(plan))]
