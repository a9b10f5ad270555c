"""The Try-it predictor's inputs (mtbert.inference.predictor): a plain string is one sentence, never its
characters, and each bad input (not text, not valid Unicode, not a pair) is one message naming the item. Fake model
outputs: nothing loads or trains."""
from __future__ import annotations

import pytest

from mtbert.errors import UsageError


def test_predictor_inputs():
    from mtbert.inference.predictor import sentences
    assert sentences("a good film") == ["a good film"]  # one sentence, never its 11 characters
    assert sentences(("a", "b")) == ["a", "b"]
    for bad, said in [(None, "got NoneType"), (5, "got int"), (b"bytes", "got bytes"), (["ok", None], r"\[1\] is NoneType"),
                      (["ok", 3.5], r"\[1\] is float"), (["fine", "bad \ud800 text"], r"\[1\] is not valid Unicode")]:
        with pytest.raises(UsageError, match=said):
            sentences(bad, "texts")


def test_predictor_scores_a_plain_string_as_one_sentence_and_refuses_bad_pairs(monkeypatch):
    import numpy as np
    from mtbert.inference.predictor import Predictor
    P = Predictor.__new__(Predictor)
    seen = []

    def outputs(task, a, b=None):
        seen.append((task, list(a), None if b is None else list(b)))
        n = len(a)
        return (np.zeros((n, 5)), np.zeros(n)) if task == "sst" else (np.zeros(n), np.zeros(n))
    monkeypatch.setattr(P, "_outputs", outputs, raising=False)
    assert P.sentiment("a good film").shape == (1, 5) and seen[-1] == ("sst", ["a good film"], None)
    assert len(P.sentiment_table("a good film")) == 1
    assert P.paraphrase("how do i learn python ?", "how to learn python ?").shape == (1,)
    for bad, said in [("a good film", "expected a list of"), (None, "expected a list of"),
                      ([("only one",)], r"pairs\[0\] .* not a \(sentence 1, sentence 2\) pair"),
                      (["ab"], r"pairs\[0\]")]:
        with pytest.raises(UsageError, match=said):
            P.pairs_table(bad)
    with pytest.raises(UsageError, match="not valid Unicode"):
        P.similarity(["x"], ["\udfff"])


def test_the_try_it_model_is_ranked_as_the_best_model_is_chosen():
    from mtbert.core.experiments import BEST_MODEL_SEEDS
    from mtbert.inference.predictor import ranked
    full = {s: 0.74 + 0.001 * s for s in range(BEST_MODEL_SEEDS)}
    devs = {"one_lucky_seed": {0: 0.80}, "every_seed": full, "weaker_every_seed": {s: 0.70 for s in full}}
    out = ranked(devs)
    assert [n for n, _, _ in out][:BEST_MODEL_SEEDS] == ["every_seed"] * BEST_MODEL_SEEDS
    assert [s for _, s, _ in out][:BEST_MODEL_SEEDS] == sorted(full, key=lambda s: -full[s])  # its best seed first
    assert out[-1][0] == "one_lucky_seed"  # fewer seeds: after every configuration that has them all
    assert [n for n, _, _ in ranked({"a": {0: 0.7}, "b": {0: 0.8}})] == ["b", "a"]  # none has them all: by dev
