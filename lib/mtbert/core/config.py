"""A run's configuration: every setting (a "knob") declared once, in `RunConfig`.

A knob's declaration holds its default, the values it allows, and the sentence the report's "Choices" prints.
Validation (`RunConfig.validate`), the command line's `--set` (`OVERRIDABLE`), the hash rule and the Choices
text are all derived from the declarations. Adding a knob means one `knob(...)` line here and its use in the
engine; an experiment of the registry sets it through `Experiment.beyond`.

Hash rule: a knob declared with `since=...` was added after results were stored; while it holds its default it
is left out of the config hash, so every result stored before it existed keeps its hash.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable

from mtbert.core.tasks import TASKS
from mtbert.errors import UsageError
from mtbert.settings import DEFAULT_SEED

# The architecture's choices (mtbert.model.heads builds them)
POOLINGS = ("cls", "mean", "pooler")
PARA_HEADS = ("baseline", "baseline+cos")
STS_HEADS = ("baseline", "cos_sigmoid", "cos_relu")
ENCODINGS = ("bi", "cross")
STS_LOSSES = ("mse", "cosent")

REQUIRED = dataclasses.MISSING


# -- allowed values -----------------------------------------------------------------------------------------
# Each rule is (test, text): `text` completes "must be ..." in the error message.

def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x


def _integer(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def one_of(*values) -> tuple[Callable, str]:
    return (lambda x: x in values), f"one of {values}"


def in_range(lo, hi, *, lo_open=False, hi_open=False, integer=False, none_ok=False) -> tuple[Callable, str]:
    def ok(x):
        if x is None:
            return none_ok
        if not (_integer(x) if integer else _number(x)):
            return False
        return (lo < x if lo_open else lo <= x) and (hi is None or (x < hi if hi_open else x <= hi))
    what = "an integer" if integer else "a number"
    text = f"{what} in {'(' if lo_open else '['}{lo}, {'inf' if hi is None else hi}{')' if hi_open or hi is None else ']'}"
    return ok, text + (" or null" if none_ok else "")


def _row_cap(v) -> bool:
    return v is None or (_integer(v) and v >= 1)


def row_caps(per_task_only=False) -> tuple[Callable, str]:
    """A row cap (int >= 1 or null), or a dict of them per task."""
    def ok(v):
        if isinstance(v, dict):
            return set(v) <= set(TASKS) and all(map(_row_cap, v.values()))
        return not per_task_only and _row_cap(v)
    if per_task_only:
        return ok, "a dict mapping task names to row caps (int >= 1 or null)"
    return ok, "a row cap (int >= 1 or null) or a dict of them per task"


def task_weights() -> tuple[Callable, str]:
    """A dict mapping task names to positive loss weights."""
    def ok(v):
        return isinstance(v, dict) and set(v) <= set(TASKS) and all(_number(w) and w > 0 for w in v.values())
    return ok, "a dict mapping task names to positive numbers, e.g. {\"sts\": 0.1}"


def task_tuple() -> tuple[Callable, str]:
    return (lambda v: isinstance(v, tuple) and set(v) <= set(TASKS)), f"a tuple of task names from {tuple(TASKS)}"


ANY = ((lambda v: True), "anything")


@dataclass(frozen=True)
class Knob:
    """What `knob(...)` declares about one RunConfig field (kept in the field's metadata)."""
    allowed: tuple[Callable, str] = ANY
    choice: str | None = None       # the report's "Choices" sentence (None: stated elsewhere or not a choice)
    label: str | None = None        # the Choices row's name; default: the field name with spaces
    since: str | None = None        # added after results were stored: left out of the hash at its default
    overridable: bool = True        # settable with --set / overrides


def knob(default: Any = REQUIRED, allowed: tuple[Callable, str] = ANY, choice: str | None = None, *,
         label: str | None = None, since: str | None = None, overridable: bool = True):
    """A RunConfig field: its default (REQUIRED: none) and what `Knob` says about it. A dict default is copied
    for each config (a dataclass field takes no mutable default)."""
    meta = {"knob": Knob(allowed, choice, label, since, overridable)}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=default.copy, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunConfig:
    """A concrete run: an experiment, scaled by a profile, with a seed and an encoder."""
    # identity of the run
    experiment: str = knob(overridable=False)
    profile: str = knob(overridable=False)
    seed: int = knob(allowed=in_range(0, 2**32 - 1, integer=True), overridable=False)
    encoder: str = knob(overridable=False)
    # what is trained and evaluated
    train_tasks: tuple = knob(allowed=task_tuple(), overridable=False)
    eval_tasks: tuple = knob(allowed=task_tuple(), overridable=False)
    mode: str = knob(allowed=one_of("pretrain", "finetune"), overridable=False,
                     choice="the frozen encoder runs in eval mode (no dropout), so its features are computed once "
                            "and cached", label="pretrain mode")
    para_head: str = knob(allowed=one_of(*PARA_HEADS), overridable=False)
    sts_head: str = knob(allowed=one_of(*STS_HEADS), overridable=False)
    pooling: str = knob(allowed=one_of(*POOLINGS),
                        choice="[CLS] state of the last layer (pooling='cls'); 'mean' and 'pooler' are options",
                        label="sentence embedding")
    # the optimisation
    epochs: int = knob(allowed=in_range(1, None, integer=True), choice="10 (CS224N starter default)")
    batch_size: int = knob(allowed=in_range(1, None, integer=True),
                           choice="8 for single-task sentiment runs (starter default); 32 for multitask runs (our "
                                  "choice: keeps the full profile within a 15-minute GPU lease)")
    lr: float = knob(allowed=in_range(0, 1, lo_open=True, hi_open=True),
                     choice="1e-3 in pretrain mode (frozen encoder), 1e-5 in finetune mode (paper §4.2)",
                     label="learning rate")
    lr_decay: float = knob(allowed=in_range(0, 1, lo_open=True),
                           choice="1 (off): layer-wise learning-rate decay xi (paper §3.2) is an option",
                           label="layer-wise rate decay")
    dropout: float = knob(allowed=in_range(0, 1, hi_open=True),
                          choice="0.3 on the sentence embedding / pair features before each linear head (starter "
                                 "hidden dropout)")
    weight_decay: float = knob(allowed=in_range(0, 1, hi_open=True))
    max_length: int = knob(allowed=in_range(8, 512, integer=True),
                           choice="512 tokens (BERT's limit; batches are padded to their own longest sequence)")
    quora_per_epoch: int = knob(allowed=in_range(1, None, integer=True),
                                choice="a fresh random sample of 14,150 pairs per epoch (1/10 of the official train "
                                       "split), capped by what the train file holds after the held-out split")
    # how much data
    n_train: dict = knob({}, row_caps(per_task_only=True))
    n_dev: int | dict | None = knob(None, row_caps())
    n_test: int | dict | None = knob(None, row_caps())
    n_predict: int | dict | None = knob(None, row_caps())
    predictions: tuple = knob((), task_tuple())
    # beyond the paper (table B); each default is the paper's recipe
    para_encoding: str = knob(
        "bi", one_of("bi", "cross"), since="table B", label="pair encoding",
        choice="bi-encoder (u, v encoded separately), as the paper; 'cross' (table B) encodes [CLS] a [SEP] b [SEP] "
               "with token types 0/1 and puts a linear head on the pooled joint state: Quora logit -> BCE, STS "
               "sigmoid(score) vs label/5 -> MSE (para_head/sts_head then unused)")
    sts_encoding: str = knob("bi", one_of("bi", "cross"), since="table B")
    head_lr: float | None = knob(None, in_range(0, 1, lo_open=True, hi_open=True, none_ok=True), since="table B",
                                 label="head learning rate",
                                 choice="the encoder's rate (paper); head_lr gives the task heads their own rate")
    warmup: float = knob(0.0, in_range(0, 1, hi_open=True), since="table B", label="schedule",
                         choice="constant rate, no warm-up (paper); warmup (fraction of all steps, linear from ~0) "
                                "and lr_schedule='linear' (linear decay to 0 at the last step) via torch LambdaLR")
    lr_schedule: str = knob("constant", one_of("constant", "linear"), since="table B")
    task_sampling: str = knob(
        "proportional", one_of("proportional", "sqrt"), since="table B",
        choice="'proportional': every batch of every task once per epoch (paper's round-robin by sampling); "
               "'sqrt': the same number of steps per epoch, split between tasks in proportion to the square root "
               "of their (per-epoch) sizes, so the small STS set is revisited and the large Quora set subsampled "
               "(Stickland & Murray 2019)")
    sts_loss: str = knob(
        "mse", one_of(*STS_LOSSES), since="CoSENT", label="STS loss",
        choice="MSE of the similarity score against label/5 (paper); 'cosent' ranks every pair of the batch's STS "
               "pairs by their scores (CoSENT, Su 2022), so only the order of the scores is trained")
    loss_weights: dict = knob(
        {}, task_weights(), since="task loss weights", label="task loss weights",
        choice="1 for every task (paper); loss_weights scales a task's loss before the backward pass (the logged "
               "loss stays unscaled), e.g. {'sts': 0.1}: CoSENT's loss is about 200 times the MSE's")
    max_grad_norm: float | None = knob(
        None, in_range(0, None, lo_open=True, none_ok=True), since="gradient clipping", label="gradient clipping",
        choice="none (paper); max_grad_norm clips the global gradient norm to this value before each step")
    # SST's phrase-level labels (the treebank's training trees; mtbert.data.trees)
    sst_train_units: str = knob(
        "sentences", one_of("sentences", "phrases"), since="SST phrases", label="SST training data",
        choice="the training sentences (paper); 'phrases': every distinct labelled phrase of the training rows' "
               "parse trees, each sentence included, with the phrases that also occur in a held-out row's tree "
               "held out with it (mtbert.data.trees)")
    sst_phrase_budget: float | None = knob(
        None, in_range(0, None, lo_open=True, none_ok=True), since="SST phrases", label="SST phrase budget",
        choice="with phrases, every phrase in every epoch; with sst_phrase_budget b, every epoch trains on every "
               "sentence plus a fresh sample of b times as many of the other phrases")
    sst_phrase_min_words: int = knob(1, in_range(1, None, integer=True), since="SST phrases",
                                     label="SST shortest phrase",
                                     choice="every phrase (1 word); more drops shorter phrases (sentences stay)")
    sst_phrase_stage: int = knob(
        0, in_range(0, None, integer=True), since="SST phrase stage", label="SST phrase stage",
        choice="none (paper); k: k epochs before the configured ones that train SST alone on every phrase of the "
               "training trees (held-out rows' phrases held out), on the same learning-rate schedule")

    # Rules that tie two knobs together (each knob's own range is in its declaration).
    CROSS_RULES = (
        (lambda c: c.mode == "finetune" or (c.para_encoding, c.sts_encoding) == ("bi", "bi"),
         "cross-encoding needs mode 'finetune' (a frozen encoder's pair features are cached per sentence)"),
        (lambda c: set(c.predictions) <= set(c.eval_tasks),
         "predictions must be a tuple of evaluated tasks"),
        (lambda c: c.sst_train_units == "phrases" or c.sst_phrase_budget is None,
         "sst_phrase_budget needs sst_train_units='phrases'"),
        (lambda c: c.sst_train_units == "phrases" or c.sst_phrase_stage > 0 or c.sst_phrase_min_words == 1,
         "sst_phrase_min_words needs sst_train_units='phrases' or a phrase stage"),
        (lambda c: c.sst_phrase_stage == 0 or "sst" in c.train_tasks, "sst_phrase_stage needs SST among train_tasks"),
    )

    def validate(self) -> "RunConfig":
        """UsageError naming the experiment, the knob, its allowed values and the bad value; else self."""
        for f in dataclasses.fields(self):
            ok, text = f.metadata["knob"].allowed
            v = getattr(self, f.name)
            if not ok(v):
                raise UsageError(f"experiment {self.experiment}: {f.name} must be {text}, got {v!r}")
        for ok, msg in self.CROSS_RULES:
            if not ok(self):
                raise UsageError(f"experiment {self.experiment}: {msg}")
        return self

    def cap(self, field_name: str, task: str) -> int | None:
        """Row cap of a dev/test/predict set for one task (profiles may give one cap per task)."""
        v = getattr(self, field_name)
        return v.get(task) if isinstance(v, dict) else v

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """Hash of the config; knobs added later are left out while they hold their default, so results
        stored before they existed keep their hash (and their run counts as stored)."""
        d = self.to_dict()
        for k, default in HASH_OMITTED_DEFAULTS.items():
            if d[k] == default:
                del d[k]
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def train_units(self, task: str) -> str:
        """'phrases' or 'sentences': what a task trains on (its spec names the RunConfig field)."""
        option = TASKS[task].units_option if task in TASKS else None
        return getattr(self, option) if option is not None else "sentences"

    def phrase_stage(self, task: str) -> int:
        """Epochs before the configured ones that train `task` alone on every phrase (its spec names the field)."""
        option = TASKS[task].phrase_stage_option if task in TASKS else None
        return getattr(self, option) if option is not None else 0

    def stage_tasks(self, epoch: int) -> tuple[str, ...]:
        """The tasks epoch `epoch` (from 0) trains alone on every phrase, in a phrase stage; () after the stage."""
        return tuple(t for t in self.train_tasks if self.phrase_stage(t) > epoch)

    def total_epochs(self) -> int:
        """Every epoch a run trains: its phrase stage (if any), then the configured `epochs`."""
        return max((self.phrase_stage(t) for t in self.train_tasks), default=0) + self.epochs

    def phrase_choice(self, task: str) -> tuple[float | None, int]:
        """(phrases per epoch in multiples of the rows or None for all, the shortest phrase in words)."""
        spec = TASKS[task]
        return getattr(self, spec.phrase_budget_option), getattr(self, spec.min_words_option)

    def encoding(self, task: str) -> str:
        """'cross' or 'bi' for a pair task; 'bi' (one sentence) otherwise."""
        option = TASKS[task].encoding_option if task in TASKS else None  # its spec names the RunConfig field
        return getattr(self, option) if option is not None else "bi"

    @property
    def run_id(self) -> str:
        rid = self.experiment
        if self.seed != DEFAULT_SEED:
            rid += f"__seed{self.seed}"
        if self.encoder != "default":
            rid += "__" + "".join(c if c.isalnum() else "-" for c in self.encoder.rstrip("/").split("/")[-1])
        return rid


KNOBS: dict[str, Knob] = {f.name: f.metadata["knob"] for f in dataclasses.fields(RunConfig)}
# knob -> default, for the knobs left out of the hash at their default
HASH_OMITTED_DEFAULTS = {f.name: f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
                         for f in dataclasses.fields(RunConfig) if KNOBS[f.name].since}
OVERRIDABLE = tuple(n for n, k in KNOBS.items() if k.overridable) + ("device",)


def knob_choices() -> dict[str, str]:
    """The report's "Choices" rows that knobs declare: label -> sentence."""
    return {k.label or n.replace("_", " "): k.choice for n, k in KNOBS.items() if k.choice}
