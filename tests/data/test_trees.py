"""SST's parse trees: the PTB reader, the phrases of the training rows, the held-out rule, and the knobs that train
on them (fast tier: generated treebanks, no training; one smoke run in the training tier)."""
from __future__ import annotations

import csv
import random

import numpy as np
import pytest

from mtbert.data import datasets as D
from mtbert.data import identity
from mtbert.data import trees as T
from mtbert.core.tasks import SST
from mtbert.errors import DataError, UsageError
from mtbert.training import batches
from mtbert.core.config import HASH_OMITTED_DEFAULTS, RunConfig
from mtbert.core.experiments import REGISTRY, run_config

SST_KNOBS = ("sst_train_units", "sst_phrase_budget", "sst_phrase_min_words", "sst_phrase_stage")


# -- the reader -------------------------------------------------------------------------------------------

def test_parse_tree_lists_every_node_root_first_with_its_words():
    nodes = T.parse_tree("(3 (2 (2 The) (2 Rock)) (4 (3 is) (4 great)))")
    assert [(n.label, n.text) for n in nodes] == [
        (3, "The Rock is great"), (2, "The Rock"), (2, "The"), (2, "Rock"), (4, "is great"), (3, "is"), (4, "great")]


def test_escaped_brackets_and_no_break_spaces_stay_inside_words():
    nodes = T.parse_tree("(2 (1 -LRB-) (2 (2 a\u00a0b) (2 -RRB-)))")
    assert nodes[0].words == ("-LRB-", "a\u00a0b", "-RRB-")
    assert len(nodes) == 5


@pytest.mark.parametrize("line, why", [
    ("(2 (2 a) (2 b)", "expected ')'"),
    ("(7 a)", "label 0-4"),
    ("(x a)", "label 0-4"),
    ("(2 a) (3 b)", "after the root"),
    ("(2)", "neither a word nor children"),
    ("", "empty line"),
    ("a b", "expected '('"),
])
def test_a_malformed_tree_names_its_file_and_line(tmp_path, line, why):
    p = tmp_path / T.TREES_FILE
    p.write_text("(2 (2 fine) (2 tree))\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        T.read_trees(p)
    assert f"{T.TREES_FILE} line 2" in str(e.value) and why in str(e.value)


def test_a_missing_trees_file_says_how_to_fetch_it(tmp_path):
    with pytest.raises(DataError, match="mtbert data"):
        T.read_trees(tmp_path / T.TREES_FILE)


# -- a generated treebank -----------------------------------------------------------------------------------

WORDS = [f"w{i}" for i in range(40)]


def random_tree(rng: random.Random, words: list[str]) -> str:
    """A random binarised tree over `words` with random labels, as a PTB line."""
    if len(words) == 1:
        return f"({rng.randrange(5)} {words[0]})"
    cut = rng.randrange(1, len(words))
    return f"({rng.randrange(5)} {random_tree(rng, words[:cut])} {random_tree(rng, words[cut:])})"


def write_treebank(folder, n_rows: int, seed: int = 0) -> list[dict]:
    """An SST train file and its trees file (line i = row i, root label = the row's sentiment) in `folder`."""
    rng = random.Random(seed)
    rows, lines = [], []
    for i in range(n_rows):
        words = [rng.choice(WORDS) for _ in range(rng.randrange(1, 7))]
        line = random_tree(rng, words)
        rows.append({"id": f"row{i:05d}", "sentence": " ".join(words), "sentiment": line[1]})
        lines.append(line)
    with open(folder / SST.files["train"], "w", newline="") as f:
        w = csv.DictWriter(f, ["", "id", "sentence", "sentiment"], delimiter="\t")
        w.writeheader()
        for k, r in enumerate(rows):
            w.writerow({"": k, **r})
    (folder / T.TREES_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return rows


@pytest.fixture
def treebank(tmp_path):
    """A data folder whose SST train file has more rows than SST holds out (the held-out rule needs them)."""
    write_treebank(tmp_path, SST.holdout_size + 300)
    return tmp_path


def _trees(folder):
    whole = D.load_file(D.file_for("sst", "train", folder), "sst")
    return T.trees_by_id(folder / T.TREES_FILE, whole.ids, whole.labels)


def test_no_phrase_of_a_held_out_row_reaches_training(treebank):
    trees = _trees(treebank)
    held = D.load("sst", "test", treebank).ids
    train = D.load("sst", "train", treebank)
    ps = T.phrases_of_rows(trees, train.ids, held, prep=D.preprocess_single_sentence)
    held_texts = {D.preprocess_single_sentence(p.text) for i in held for p in trees[i]}
    assert ps.texts and not held_texts & set(ps.texts)
    assert set(ps.source_rows) <= set(train.ids)
    assert len(set(ps.texts)) == len(ps.texts)  # one example per distinct text
    kept_sentences = {s for s in train.sents if s not in held_texts}
    n = ps.stats["sentences"]
    assert set(ps.texts[:n]) == kept_sentences  # the sentences first, then the other phrases
    assert ps.stats["held_out_nodes"] > 0


def test_the_phrases_a_run_trains_on_exclude_held_out_rows_end_to_end(treebank):
    d = batches.subsample(len(D.load("sst", "train", treebank)), 200, "sst/train")
    rows = D.load("sst", "train", treebank).subset(d)
    out, info = batches.phrases(rows, "sst", str(treebank))
    trees = _trees(treebank)
    held_texts = {D.preprocess_single_sentence(p.text) for i in D.load("sst", "test", treebank).ids
                  for p in trees[i]}
    assert not held_texts & set(out.sents)
    assert info["rows"] == 200 and info["phrases"] == len(out) and info["file"] == T.TREES_FILE
    # every phrase comes from the tree of a row the run trains on
    kept = set(rows.ids)
    assert all(i.split("/")[0] in kept for i in out.ids)


def test_duplicates_take_the_most_common_label_then_the_earliest_row():
    trees = {"a": tuple(T.parse_tree("(1 (1 x) (2 y))")), "b": tuple(T.parse_tree("(3 (3 x) (2 z))")),
             "c": tuple(T.parse_tree("(3 (3 x) (4 q))")), "d": tuple(T.parse_tree("(0 (0 k) (2 y))"))}
    ps = T.phrases_of_rows(trees, ["a", "b", "c", "d"], [])
    label = dict(zip(ps.texts, ps.labels))
    assert label["x"] == 3                     # 3 twice, 1 once
    ps2 = T.phrases_of_rows(trees, ["a", "b"], [])
    assert dict(zip(ps2.texts, ps2.labels))["x"] == 1  # a tie: the earliest row's label
    assert ps2.stats["label_conflicts"] == 1


def test_min_words_drops_short_phrases_but_keeps_every_sentence():
    trees = {"a": tuple(T.parse_tree("(3 (2 w) (3 (3 x) (2 y)))")), "b": tuple(T.parse_tree("(1 z)"))}
    ps = T.phrases_of_rows(trees, ["a", "b"], [], min_words=2)
    assert set(ps.texts) == {"w x y", "x y", "z"}
    assert ps.stats["short_nodes_dropped"] == 3


def test_trees_that_do_not_line_up_with_the_train_file_are_refused(treebank):
    whole = D.load_file(D.file_for("sst", "train", treebank), "sst")
    with pytest.raises(DataError, match="trees for"):
        T.trees_by_id(treebank / T.TREES_FILE, whole.ids[:-1], whole.labels[:-1])
    flipped = whole.labels.copy()
    flipped[3] = (flipped[3] + 1) % 5
    with pytest.raises(DataError, match="line 4"):
        T.trees_by_id(treebank / T.TREES_FILE, whole.ids, flipped)


# -- the knobs -----------------------------------------------------------------------------------------------

def test_the_sst_knobs_at_their_defaults_leave_every_config_hash_as_it_was():
    for k in SST_KNOBS:
        assert k in HASH_OMITTED_DEFAULTS
    for name, e in REGISTRY.items():
        if dict(e.beyond).get("sst_train_units", "sentences") != "sentences" or dict(e.beyond).get("sst_phrase_stage"):
            continue
        cfg = run_config(name, "full")
        d = cfg.to_dict()
        # the hash of the config as it was before the SST knobs existed
        before = {k: v for k, v in d.items() if k not in SST_KNOBS}
        older = RunConfig(**{**before, **{k: HASH_OMITTED_DEFAULTS[k] for k in SST_KNOBS}})
        assert older.hash() == cfg.hash()


def test_phrase_knobs_without_phrases_are_refused():
    with pytest.raises(UsageError, match="sst_train_units"):
        run_config("t1_sst_finetune", "smoke", sst_phrase_budget=2.0)
    with pytest.raises(UsageError, match="sst_phrase_budget"):
        run_config("t1_sst_finetune", "smoke", sst_train_units="phrases", sst_phrase_budget=0)


def test_every_phrase_experiment_changes_its_hash():
    for name, e in REGISTRY.items():
        if dict(e.beyond).get("sst_train_units") == "phrases":
            cfg = run_config(name, "full")
            assert cfg.hash() != RunConfig(**{**cfg.to_dict(), "sst_train_units": "sentences",
                                              "sst_phrase_budget": None}).hash()


def _td(n_sentences: int, n_phrases: int, budget):
    units = {"rows": n_sentences, "sentences": n_sentences, "budget": budget}
    return batches.TaskData("sst", "train", [str(i) for i in range(n_phrases)], [[1]] * n_phrases, None,
                            np.zeros(n_phrases, dtype=np.int64), np.ones(n_phrases, dtype=int), 0, "x", units)


def test_a_phrase_budget_takes_every_sentence_and_a_fresh_sample_of_the_rest_each_epoch():
    cfg = run_config("t1_sst_finetune_phrases", "smoke", batch_size=5, sst_phrase_budget=2.0)
    td = _td(n_sentences=10, n_phrases=100, budget=2.0)
    epochs = [np.concatenate([idx for _, idx in batches.epoch_plan({"sst": td}, cfg, e)]) for e in range(2)]
    assert [len(x) for x in epochs] == [30, 30] and all(len(set(x)) == 30 for x in epochs)
    assert all(set(range(10)) <= set(x) for x in epochs)  # every sentence, every epoch
    assert set(epochs[0]) != set(epochs[1])               # a fresh sample of the other phrases
    every = run_config("t1_sst_finetune_phrases", "smoke", batch_size=5, sst_phrase_budget=None)
    all_rows = np.concatenate([idx for _, idx in batches.epoch_plan({"sst": _td(10, 100, None)}, every, 0)])
    assert sorted(all_rows) == list(range(100))
    big = np.concatenate([idx for _, idx in batches.epoch_plan({"sst": _td(10, 25, 4.0)}, cfg, 0)])
    assert sorted(big) == list(range(25))  # a budget beyond the phrases there are takes them all


def test_only_a_phrase_run_reads_and_verifies_the_trees_file(treebank):
    (treebank / SST.files["dev"]).write_text("\tid\tsentence\tsentiment\n0\td0\ta film\t3\n")
    sentences = run_config("t1_sst_finetune", "smoke")
    phrases = run_config("t1_sst_finetune_phrases", "smoke")
    assert T.TREES_FILE not in {p.name for p in identity.files_for(sentences, treebank)}
    paths = identity.files_for(phrases, treebank)
    assert T.TREES_FILE in {p.name for p in paths}


def test_a_doctored_trees_file_is_refused_before_training(tmp_path):
    from mtbert.data.fetch import FILES
    from mtbert.data.fetch import sha256_file
    p = tmp_path / T.TREES_FILE
    p.write_text("(2 (2 not) (2 it))\n")
    with pytest.raises(DataError, match="published checksum"):
        identity.check_identity(p, sha256_file(p))
    assert FILES[T.TREES_FILE]  # the mirror's file has a published sha256


# -- one run on the real trees (training tier) ----------------------------------------------------------------

@pytest.mark.training
def test_a_smoke_run_on_phrases_records_what_it_trained_on(S, one_thread):
    from mtbert.training import engine
    r = engine.run("t1_sst_finetune_phrases", S, n_train={"sst": 8}, batch_size=4, n_dev=6, n_test=6, epochs=1)
    units = r["data"]["train_units"]["sst"]
    assert units["units"] == "phrases" and units["rows"] == 8
    assert r["data"]["sizes"]["train"]["sst"] == units["phrases"] > 8
    assert T.TREES_FILE in r["data"]["files"]
    # budget 1: every sentence and as many other phrases per epoch
    assert r["history"][0]["steps"] == -(-(2 * units["sentences"]) // 4)
