"""Try a stored model on sentences of your own: SST sentiment distribution, paraphrase probability, similarity.

    P = Predictor.from_stored("submission2", S)     # the run's selected model, from checkpoints/<profile>/
    P.sentiment(["a gripping film ."])              # (n, 5) class probabilities, negative ... positive
    P.paraphrase(["how do i learn python ?"], ["what is the best way to learn python ?"])  # (n,) P(paraphrase)
    P.similarity(a, b)                              # (n,) scores on STS's 0-5 scale

Sentences go through the data files' preprocessing (mtbert.data.datasets) and the run's tokenizer, then
`Runner.predict`, as the dev and test rows did. `choose(S)` picks the model to try: the stored multitask
configuration with the best mean dev overall score (never the held-out test split), or, with a note saying why,
the best one whose checkpoint is on this machine (checkpoints are not committed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mtbert.core.probability import sigmoid, softmax
from mtbert.data import datasets as D
from mtbert.errors import UsageError
from mtbert.results import store
from mtbert.settings import DEFAULT_SEED, Settings, repo_root
from mtbert.training.batches import TaskData
from mtbert.training.checkpoints import RunCheckpoints
from mtbert.core.config import RunConfig
from mtbert.core.experiments import BEST_MODEL_SEEDS, MULTI, REGISTRY, hardware, run_command, run_config
from mtbert.inference.export import class_names
from mtbert.inference.predict import load_run

SST_CLASSES = class_names("sst")


def sentences(x, what: str = "sentences") -> list[str]:
    """`x` as a list of sentences: one string is one sentence (never its characters); None, a non-string item
    or text that is not valid Unicode (a lone surrogate) is a UsageError naming it and the fix."""
    if isinstance(x, str):
        x = [x]
    if x is None or isinstance(x, (bytes, dict)) or not hasattr(x, "__iter__"):
        raise UsageError(f"{what}: expected a list of sentences (strings), got {type(x).__name__} {str(x)[:40]!r}; "
                         f"e.g. [\"a gripping film .\"]")
    out = list(x)
    for i, s in enumerate(out):
        if not isinstance(s, str):
            raise UsageError(f"{what}[{i}] is {type(s).__name__} {str(s)[:40]!r}, not a string: give every "
                             "sentence as text")
        try:
            s.encode("utf-8")
        except UnicodeEncodeError as e:
            raise UsageError(f"{what}[{i}] is not valid Unicode text ({e.reason} {s[e.start:e.end]!r} at "
                             f"character {e.start}): remove it, or decode the source with errors='replace'") from None
    return out


class Predictor:
    """A stored multitask run's selected model, scoring typed sentences and pairs."""

    def __init__(self, cfg: RunConfig, runner):
        missing = [t for t in MULTI if t not in cfg.eval_tasks or t not in cfg.train_tasks]
        if missing:
            raise UsageError(f"{cfg.run_id} has no trained {', '.join(missing)} head; try a multitask run such as "
                             "submission2")
        self.cfg, self.runner = cfg, runner

    @classmethod
    def from_stored(cls, name: str, S: Settings, seed: int | None = None) -> "Predictor":
        """The selected model of the stored run (name, seed); the error names the command when the result or its
        checkpoint is missing."""
        cfg, R = load_run(name, S, DEFAULT_SEED if seed is None else seed)
        return cls(cfg, R)

    def _outputs(self, task: str, a, b=None):
        R = self.runner
        if b is None:
            a = [D.preprocess_single_sentence(str(s)) for s in a]
            ta, tb = R.tok.encode(a), None
            lengths = np.array([len(x) for x in ta])
        else:
            if len(a) != len(b):
                raise UsageError(f"{task}: {len(a)} first sentences but {len(b)} second ones; give them in pairs")
            ta = R.tok.encode([D.preprocess_pair_sentence(str(s)) for s in a])
            tb = R.tok.encode([D.preprocess_pair_sentence(str(s)) for s in b])
            lengths = np.maximum([len(x) for x in ta], [len(x) for x in tb])
        td = TaskData(task, "typed", list(range(len(ta))), ta, tb, None, np.asarray(lengths), 0, "typed by the reader")
        return R.predict(td)

    def sentiment(self, texts) -> np.ndarray:
        """(n, 5) probabilities of the SST classes (SST_CLASSES: negative ... positive)."""
        texts = sentences(texts, "texts")
        if not texts:
            return np.zeros((0, len(SST_CLASSES)))
        logits, _ = self._outputs("sst", texts)
        return softmax(logits)

    def paraphrase(self, a, b) -> np.ndarray:
        """(n,) probability that a[i] and b[i] are paraphrases (Quora duplicates)."""
        a, b = sentences(a, "a"), sentences(b, "b")
        if not a and not b:
            return np.zeros(0)
        logit, _ = self._outputs("quora", a, b)
        return sigmoid(logit)

    def similarity(self, a, b) -> np.ndarray:
        """(n,) similarity of a[i] and b[i] on STS's 0 (unrelated) to 5 (same meaning) scale."""
        a, b = sentences(a, "a"), sentences(b, "b")
        if not a and not b:
            return np.zeros(0)
        _, score = self._outputs("sts", a, b)
        return score

    def sentiment_table(self, texts) -> pd.DataFrame:
        """One row per sentence: each class's probability and the most probable class."""
        texts = sentences(texts, "texts")
        p = self.sentiment(texts)
        df = pd.DataFrame(p, columns=SST_CLASSES)
        df.insert(0, "sentence", texts)
        df["predicted"] = [SST_CLASSES[k] for k in p.argmax(1)] if len(p) else []
        return df

    def pairs_table(self, pairs) -> pd.DataFrame:
        """One row per (sentence 1, sentence 2) pair: P(paraphrase) and the similarity (0-5)."""
        if pairs is None or isinstance(pairs, (str, bytes)) or not hasattr(pairs, "__iter__"):
            raise UsageError(f"pairs: expected a list of (sentence 1, sentence 2) pairs, got {type(pairs).__name__} "
                             f"{str(pairs)[:40]!r}; e.g. [(\"how do i learn python ?\", \"how to learn python ?\")]")
        pairs = [p if isinstance(p, (str, bytes)) else tuple(p) for p in pairs]
        bad = [i for i, p in enumerate(pairs) if not isinstance(p, tuple) or len(p) != 2]
        if bad:
            raise UsageError(f"pairs[{bad[0]}] is {str(pairs[bad[0]])[:40]!r}, not a (sentence 1, sentence 2) pair")
        a, b = [p[0] for p in pairs], [p[1] for p in pairs]
        return pd.DataFrame({"sentence 1": a, "sentence 2": b, "P(paraphrase)": self.paraphrase(a, b),
                             "similarity (0-5)": self.similarity(a, b)})


# Where Try-it trains a model whose checkpoint is missing: a store of its own under the store root's git-ignored
# checkpoints/ folder, so that following the advice never rewrites the committed results and predictions.
TRY_IT_STORE = Path("checkpoints") / "try-it"


@dataclass
class Choice:
    """The model `choose` picked (None when no stored model has its checkpoint here), the store it was found in
    (`store_dir`: the --store-dir to pass to other commands; None for the settings' own store) and what the reader
    should know about the choice (Markdown)."""
    predictor: Predictor | None
    name: str | None = None
    seed: int | None = None
    notes: list[str] = field(default_factory=list)
    store_dir: str | None = None


def try_it_store(S: Settings) -> tuple[Settings, str]:
    """The settings of the Try-it store, and its --store-dir as a reader types it from the repository root."""
    scratch = S.replace(store_root=S.store_root / TRY_IT_STORE)
    shown = str(TRY_IT_STORE) if S.store_root.resolve() == repo_root().resolve() else str(scratch.store_root)
    return scratch, shown


def candidates(S: Settings) -> list[tuple[str, int, float]]:
    """(name, seed, dev overall) of every stored run that trained all three tasks, best first (`ranked`)."""
    devs = {}
    for name, e in REGISTRY.items():
        if not set(MULTI) - set(e.train_tasks):
            devs[name] = {s: store.load_result(name, S, s)["dev"]["overall"] for s in store.stored_seeds(name, S)}
    return ranked({name: d for name, d in devs.items() if d})


def ranked(devs: dict[str, dict[int, float]]) -> list[tuple[str, int, float]]:
    """(name, seed, dev overall) from {configuration: {seed: dev overall}}: configurations by their mean over the
    seeds, best first, those with BEST_MODEL_SEEDS seeds before those with fewer (as the report's best model);
    within one, its seeds by their own dev overall."""
    order = sorted(devs, key=lambda name: (len(devs[name]) < BEST_MODEL_SEEDS, -float(np.mean(list(devs[name].values())))))
    return [(name, s, d) for name in order for s, d in sorted(devs[name].items(), key=lambda kv: -kv[1])]


def choose(S: Settings, fallback: str = "submission2") -> Choice:
    """The stored model to try: the best configuration by dev; the best one with a checkpoint on this machine when
    that one has none (a note says so and gives the command that makes it, into the Try-it store, without touching
    the committed results). No model: the notes say how to make one."""
    scratch, scratch_dir = try_it_store(S)
    runs = candidates(S)
    if not runs:
        return Choice(None, notes=[
            f"No multitask run is stored for profile `{S.profile}`. Train one with "
            f"`{run_command(fallback, S.profile)}` ({hardware(fallback, S.profile)}), then re-run this cell."])
    notes = []
    for name, seed, dev in runs:
        cfg = run_config(name, S.profile, seed, S.encoder)
        for where, shown in ((S, None), (scratch, scratch_dir)):
            if RunCheckpoints(cfg, where).best.exists() and store.load_result(name, where, seed) is not None:
                if shown:
                    own = store.load_result(name, where, seed)["dev"]["overall"]
                    notes.append(f"Using `{cfg.run_id}` as trained into the Try-it store `{shown}` (dev overall "
                                 f"{own:.3f} there; the committed results are untouched).")
                elif notes:  # fell back from the best run
                    notes.append(f"Using `{cfg.run_id}` (dev overall {dev:.3f}), the best stored run whose checkpoint "
                                 "is here.")
                return Choice(Predictor.from_stored(name, where, seed), name, seed, notes, shown)
        if not notes:  # the best run by dev
            notes.append(
                f"The best configuration by dev, `{cfg.run_id}` (dev overall {dev:.3f}), has no checkpoint in "
                f"`checkpoints/{S.profile}/` (checkpoints are not committed). Train it into a store of its own, which "
                f"leaves the committed results and predictions as they are: "
                f"`{run_command(name, S.profile, [seed])} --store-dir {scratch_dir}` ({hardware(name, S.profile)}), "
                "then re-run this cell.")
    notes.append("No stored multitask run has its checkpoint on this machine, so there is no model to try; the "
                 "command above makes the best one.")
    return Choice(None, notes=notes)
