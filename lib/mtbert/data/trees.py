"""The Stanford Sentiment Treebank's training trees: a PTB tree reader and the labelled phrases of SST rows.

`sst-train-trees.txt` holds one binarised tree per line, line i for row i of `ids-sst-train.csv`; every node
carries a sentiment label 0-4 and spans a phrase: `(3 (2 (2 The) (2 Rock)) (4 ...))`. Words are the
treebank's tokens as the CSV has them (brackets escaped as `-LRB-` / `-RRB-`, so a word never holds a
parenthesis); words are separated by ASCII spaces only (a no-break space inside a word stays part of it).

The phrases a run trains on (`phrases_of_rows`):

* the phrases of the trees of the rows it trains on, each tree's root (the row's sentence) included;
* a phrase text that also occurs in a tree of a held-out row is held out with that row, even where a training
  tree has it too, so that no text of the held-out test split, whole or part, reaches training;
* one example per distinct text (lower-cased and stripped as the sentences are): its label is the most common
  label among its training occurrences, ties going to the occurrence in the earliest row;
* optionally only phrases of at least `min_words` words (the roots are always kept);
* the sentences (texts that are the root of a training row) first, then the other phrases, each group in the
  order first met row by row, so that an epoch can take every sentence and a sample of the rest.
"""
from __future__ import annotations

import functools
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtbert.data.fetch import fetch_hint
from mtbert.errors import DataError

TREES_FILE = "sst-train-trees.txt"
_TOKEN = re.compile(r"\(|\)|[^ \t\r\n()]+")
LABELS = range(5)


@dataclass(frozen=True)
class Phrase:
    label: int
    words: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.words)


def parse_tree(line: str, where: str = "tree", fix: str = "run `python -m mtbert data`") -> list[Phrase]:
    """Every node of one PTB tree as a Phrase, the root first (then depth first, left to right).

    DataError naming `where` (e.g. "sst-train-trees.txt line 12") for a malformed tree: unbalanced brackets,
    a label that is not 0-4, a node with neither words nor children, text outside the root."""
    tokens = _TOKEN.findall(line)
    pos = 0

    def fail(why: str) -> DataError:
        return DataError(f"{where}: malformed tree ({why}). Fix: restore the file from the data mirror: {fix}.")

    def node() -> tuple[int, list[Phrase]]:
        # one "(label word)" or "(label child child ...)" from tokens[pos]: (its Phrase, its children)
        nonlocal pos
        if pos >= len(tokens) or tokens[pos] != "(":
            raise fail(f"expected '(' at token {pos + 1}")
        pos += 1
        if pos >= len(tokens) or not tokens[pos].isdigit() or int(tokens[pos]) not in LABELS:
            raise fail(f"expected a label 0-4 at token {pos + 1}, got {tokens[pos] if pos < len(tokens) else 'end'!r}")
        label = int(tokens[pos])
        pos += 1
        if pos < len(tokens) and tokens[pos] not in "()":  # a leaf: (label word)
            words, children = (tokens[pos],), []
            pos += 1
        else:
            children = []
            while pos < len(tokens) and tokens[pos] == "(":
                children.append(node())
            if not children:
                raise fail(f"a node with neither a word nor children at token {pos}")
            words = tuple(w for c in children for w in c[0].words)
        if pos >= len(tokens) or tokens[pos] != ")":
            raise fail(f"expected ')' at token {pos + 1}")
        pos += 1
        return (Phrase(label, words), children)

    if not tokens:
        raise fail("empty line")
    root = node()
    if pos != len(tokens):
        raise fail(f"text after the root's closing bracket at token {pos + 1}")
    out, stack = [], [root]
    while stack:  # depth first, left to right
        phrase, children = stack.pop()
        out.append(phrase)
        stack.extend(reversed(children))
    return out


def read_trees(path: str | os.PathLike) -> list[list[Phrase]]:
    """The phrases of every tree of a trees file, one list per line (DataError naming the file and line)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"SST trees file '{p.name}' not found in {p.parent}: runs that train on SST phrases "
                        f"need it. Fix: {fetch_hint(p.parent)}, which copies it from the data mirror.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read SST trees file {p}: {e}. Fix: restore it: {fetch_hint(p.parent)}.") from e
    return [parse_tree(line, f"{p.name} line {i + 1}", fetch_hint(p.parent)) for i, line in enumerate(lines)]


@functools.lru_cache(maxsize=4)
def _trees_cached(path: str, stamp: tuple[int, int]) -> tuple[tuple[Phrase, ...], ...]:
    return tuple(tuple(t) for t in read_trees(path))


def trees_by_id(path: str | os.PathLike, train_ids: list[str], train_labels) -> dict[str, tuple[Phrase, ...]]:
    """{row id: its tree's phrases}, aligning line i with row i of the SST train file (all its rows, before the
    held-out split). DataError when the counts differ or a root's label is not its row's label."""
    p = Path(path).resolve()
    st = p.stat() if p.is_file() else None
    trees = _trees_cached(str(p), (st.st_mtime_ns, st.st_size)) if st else tuple(read_trees(p))
    if len(trees) != len(train_ids):
        raise DataError(f"SST trees file {p} has {len(trees):,} trees for {len(train_ids):,} rows of the SST train "
                        f"file: line i must be row i. Fix: restore both: {fetch_hint(p.parent)}.")
    for i, (tree, label) in enumerate(zip(trees, train_labels)):
        if tree[0].label != int(label):
            raise DataError(f"{p.name} line {i + 1}: the root's label {tree[0].label} is not row {i + 1}'s "
                            f"sentiment {int(label)}: the trees file does not belong to this train file. Fix: "
                            f"restore both: {fetch_hint(p.parent)}.")
    return dict(zip(train_ids, trees))


@dataclass(frozen=True)
class PhraseSet:
    """The phrases a run trains on, and how they were chosen (recorded in its result)."""
    texts: list[str]        # the sentences first (stats["sentences"] of them), then the other phrases
    labels: np.ndarray
    source_rows: list[str]  # the id of the earliest row whose tree has the phrase (with the winning label)
    stats: dict


def phrases_of_rows(trees: dict[str, tuple[Phrase, ...]], train_ids, heldout_ids, min_words: int = 1,
                    prep=str) -> PhraseSet:
    """The distinct phrases of the training rows' trees (module doc): the sentences, then the other phrases."""
    held = {prep(ph.text) for i in heldout_ids for ph in trees[i]}
    votes: dict[str, Counter] = {}
    first: dict[str, dict[int, tuple[int, str]]] = {}
    roots: set[str] = set()
    n_nodes = n_held = n_short = 0
    for r, i in enumerate(train_ids):
        for k, ph in enumerate(trees[i]):
            n_nodes += 1
            text = prep(ph.text)
            if text in held:
                n_held += 1
                continue
            if k > 0 and len(ph.words) < min_words:
                n_short += 1
                continue
            if k == 0:
                roots.add(text)
            votes.setdefault(text, Counter())[ph.label] += 1
            first.setdefault(text, {}).setdefault(ph.label, (r, i))
    texts, labels, rows, n_conflicts = [], [], [], 0
    ordered = [t for t in votes if t in roots] + [t for t in votes if t not in roots]
    for text in ordered:
        c = votes[text]
        best = max(c.values())
        label = min((lab for lab, n in c.items() if n == best), key=lambda lab: first[text][lab][0])
        n_conflicts += len(c) > 1
        texts.append(text)
        labels.append(label)
        rows.append(first[text][label][1])
    stats = {"rows": len(train_ids), "sentences": len(roots), "nodes": n_nodes, "phrases": len(texts),
             "words": int(sum(len(t.split()) for t in texts)), "held_out_nodes": n_held,
             "short_nodes_dropped": n_short, "min_words": min_words, "label_conflicts": n_conflicts}
    return PhraseSet(texts, np.asarray(labels, dtype=np.int64), rows, stats)
