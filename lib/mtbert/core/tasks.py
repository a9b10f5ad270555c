"""Task specs: one declaration per task, read by every layer (parsing, heads, metrics, statistics, predictions,
tables, figures). Adding a task means: its spec (`register_task`), its data files, a head in `mtbert.model.heads`
only if it needs a new kind, and the experiments that train it.

A spec says what the data look like (one sentence or a pair, the label column and its type and range), how a
model answers (the head kind: `classifier` = class logits and cross-entropy, `binary` = one logit and binary
cross-entropy, `regression` = a score in [0, 1] against label / upper end of the range by MSE), how the answer is
scored (accuracy or Pearson's r, and the chance level a "near chance" claim is measured against), which files hold
each split, the held-out test size, and the names of its leaderboard files.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

# The file names of Quora and of the SST treebank (data.fetch fetches them; the full Quora training file is optional)
QUORA_TRAIN_FULL = "quora-train.csv"
QUORA_TRAIN_PARTIAL = "quora-train-partial.csv"
QUORA_TEST_STUDENT = "quora-test-student.csv"
SST_TRAIN_TREES = "sst-train-trees.txt"

INPUTS = ("sentence", "pair")
HEADS = ("classifier", "binary", "regression")
METRICS = {"accuracy": "accuracy", "pearson": "Pearson r"}   # metric -> the name a reader sees
CHANCE_RULES = ("majority", "zero")
LOSS_LABELS = {"classifier": "cross-entropy", "binary": "binary cross-entropy", "regression": "MSE on {label} / {hi:g}"}


@dataclass(frozen=True)
class TaskSpec:
    """Everything the layers need to know about one task."""
    name: str                      # the key used everywhere: configs, results, file names of per-example outputs
    display: str                   # what a reader sees: "SST"
    input: str                     # "sentence" | "pair" (columns `sentence`, or `sentence1` and `sentence2`)
    label_column: str
    label_range: tuple             # (lowest, highest): the class ids of a classification, the scale of a score
    head: str                      # "classifier" | "binary" | "regression" (see the module doc)
    metric: str                    # "accuracy" | "pearson"
    chance: str                    # "majority": the most frequent gold class's share; "zero": r = 0
    files: dict                    # split ("train", "dev", "test-student") -> file name; a tuple: the first present
    holdout_size: int              # rows of the train file held out as the labelled test split
    leaderboard_header: str        # the prediction column of the CS224N leaderboard files
    file_prefix: str               # <prefix>-dev-output.csv, <prefix>-<split>-scores.csv, ...
    per_epoch_option: str | None = None   # RunConfig field capping the training rows drawn per epoch
    encoding_option: str | None = None    # RunConfig field choosing bi- or cross-encoding (pair tasks)
    trees_file: str | None = None         # labelled parse trees of the train file's rows (line i = row i)
    units_option: str | None = None       # RunConfig field choosing the training units: sentences or phrases
    phrase_budget_option: str | None = None  # RunConfig field: phrases per epoch, in multiples of the rows
    min_words_option: str | None = None   # RunConfig field: the shortest phrase trained on, in words
    phrase_stage_option: str | None = None  # RunConfig field: epochs before the others training it alone on phrases
    label_name: str = ""           # what the label measures, for axis titles ("similarity")
    class_names: tuple = ()        # a classification's class names, lowest label first (exported model cards)

    def __post_init__(self):
        problems = [(self.input in INPUTS, f"input must be one of {INPUTS}"),
                    (self.head in HEADS, f"head must be one of {HEADS}"),
                    (self.metric in METRICS, f"metric must be one of {tuple(METRICS)}"),
                    (self.chance in CHANCE_RULES, f"chance must be one of {CHANCE_RULES}"),
                    (len(self.label_range) == 2 and self.label_range[0] < self.label_range[1],
                     "label_range must be (low, high) with low < high"),
                    ({"train", "dev"} <= set(self.files), "files must name at least the train and dev files"),
                    (isinstance(self.holdout_size, int) and self.holdout_size >= 1, "holdout_size must be >= 1"),
                    (self.head != "regression" or self.label_range[0] == 0,
                     "a regression label must range from 0 (the head's score in [0, 1] is scaled by the top)"),
                    ((self.trees_file is None) == (self.units_option is None),
                     "trees_file and units_option go together (phrases need their trees)"),
                    (self.phrase_stage_option is None or self.trees_file is not None,
                     "a phrase stage needs the task's trees_file")]
        for ok, msg in problems:
            if not ok:
                raise ValueError(f"task {self.name!r}: {msg}")

    # -- derived -------------------------------------------------------------------------------------
    @property
    def is_pair(self) -> bool:
        return self.input == "pair"

    @property
    def is_regression(self) -> bool:
        return self.head == "regression"

    @property
    def n_classes(self) -> int | None:
        """Number of classes (None for a regression)."""
        return None if self.is_regression else int(self.label_range[1]) - int(self.label_range[0]) + 1

    @property
    def dtype(self):
        return np.float64 if self.is_regression else np.int64

    @property
    def metric_name(self) -> str:
        return METRICS[self.metric]

    @property
    def loss_label(self) -> str:
        return LOSS_LABELS[self.head].format(label=self.label_name or "label", hi=self.label_range[1])

    @property
    def scale(self) -> float:
        """A regression head's score in [0, 1] times this is a prediction on the label's scale."""
        return float(self.label_range[1])

    def parse_label(self, x: str):
        """The label of one row, or None when it is empty, not a number, or out of range."""
        x = x.strip()
        if not x:
            return None
        lo, hi = self.label_range
        if self.is_regression:
            try:
                v = float(x)
            except ValueError:
                return None
            return v if np.isfinite(v) and lo <= v <= hi else None
        try:
            v = int(x)
        except ValueError:
            try:
                f = float(x)
            except ValueError:
                return None
            if not np.isfinite(f) or not f.is_integer():
                return None
            v = int(f)
        return v if lo <= v <= hi else None

    def file_candidates(self, split: str) -> tuple[str, ...]:
        """The file names of a split, the preferred one first ("test" is carved out of the train file)."""
        name = self.files.get("train" if split == "test" else split)
        if name is None:
            return ()
        return tuple(name) if isinstance(name, (tuple, list)) else (name,)

    def all_files(self) -> tuple[str, ...]:
        """Every data file the task reads: each split's candidates, then its parse trees (if any)."""
        return tuple(n for split in self.files for n in self.file_candidates(split)) + (
            (self.trees_file,) if self.trees_file else ())

    def chance_level(self, gold) -> float:
        """The score of a model without skill on these gold labels."""
        if self.chance == "zero":
            return 0.0
        g = np.asarray(gold).astype(int)
        return float(np.mean(g == np.bincount(g - int(self.label_range[0])).argmax() + int(self.label_range[0])))

    def unit_score(self, value: float) -> float:
        """The metric mapped to [0, 1], as the leaderboard's overall score adds it: r in [-1, 1] -> (r + 1) / 2."""
        return (value + 1) / 2 if self.metric == "pearson" else value


SST = TaskSpec("sst", "SST", "sentence", "sentiment", (0, 4), "classifier", "accuracy", "majority",
               {"train": "ids-sst-train.csv", "dev": "ids-sst-dev.csv", "test-student": "ids-sst-test-student.csv"},
               1000, "Predicted_Sentiment", "sst", label_name="sentiment",
               class_names=("negative", "somewhat negative", "neutral", "somewhat positive", "positive"),
               trees_file=SST_TRAIN_TREES, units_option="sst_train_units", phrase_budget_option="sst_phrase_budget",
               min_words_option="sst_phrase_min_words", phrase_stage_option="sst_phrase_stage")
CFIMDB = TaskSpec("cfimdb", "CFIMDB", "sentence", "sentiment", (0, 1), "classifier", "accuracy", "majority",
                  {"train": "ids-cfimdb-train.csv", "dev": "ids-cfimdb-dev.csv",
                   "test-student": "ids-cfimdb-test-student.csv"},
                  200, "Predicted_Sentiment", "cfimdb", label_name="sentiment", class_names=("negative", "positive"))
QUORA = TaskSpec("quora", "Quora", "pair", "is_duplicate", (0, 1), "binary", "accuracy", "majority",
                 {"train": (QUORA_TRAIN_FULL, QUORA_TRAIN_PARTIAL), "dev": "quora-dev.csv",
                  "test-student": QUORA_TEST_STUDENT},
                 2000, "Predicted_Is_Paraphrase", "para", per_epoch_option="quora_per_epoch",
                 encoding_option="para_encoding", label_name="paraphrase")
STS = TaskSpec("sts", "STS", "pair", "similarity", (0.0, 5.0), "regression", "pearson", "zero",
               {"train": "sts-train.csv", "dev": "sts-dev.csv", "test-student": "sts-test-student.csv"},
               600, "Predicted_Similiary", "sts",  # upstream's spelling
               encoding_option="sts_encoding", label_name="similarity")

BUILTIN = (SST, CFIMDB, QUORA, STS)
#: every task by name, in the order the layers iterate them (model selection sums in this order)
TASKS: dict[str, TaskSpec] = {t.name: t for t in BUILTIN}

#: the tasks of the CS224N leaderboard's overall score: the mean of their metrics, each mapped to [0, 1]
OVERALL_TASKS = ("sst", "quora", "sts")


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; expected one of {tuple(TASKS)}") from None


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add a task to the registry (its name must be new); undo with `unregister_task`."""
    if not isinstance(spec, TaskSpec):
        raise TypeError(f"register_task needs a TaskSpec, got {type(spec).__name__}")
    if spec.name in TASKS or spec.name in ("overall", "aggregate"):
        raise ValueError(f"task {spec.name!r} is already registered (or is a reserved score name)")
    prefixes = {t.file_prefix: t.name for t in TASKS.values()}
    if spec.file_prefix in prefixes:
        raise ValueError(f"task {spec.name!r}: file prefix {spec.file_prefix!r} is taken by {prefixes[spec.file_prefix]!r}")
    TASKS[spec.name] = spec
    return spec


def unregister_task(name: str) -> None:
    if name in (t.name for t in BUILTIN):
        raise ValueError(f"task {name!r} is built in and cannot be removed")
    TASKS.pop(name, None)


class SpecView(Mapping):
    """A read-only {task: attribute} view over the live registry (includes tasks registered later)."""

    def __init__(self, attr: str):
        self.attr = attr

    def __getitem__(self, task):
        return getattr(TASKS[task], self.attr)

    def __iter__(self):
        return iter(TASKS)

    def __len__(self):
        return len(TASKS)

    def __repr__(self):
        return repr(dict(self))
