"""A phrase stage: epochs before the configured ones that train SST alone on every phrase of its training trees,
on one learning-rate schedule over all epochs; recorded in the result, its trees file part of the run's data."""
from __future__ import annotations

import pytest

from mtbert.analysis import ablations as B
from mtbert.core.config import HASH_OMITTED_DEFAULTS
from mtbert.core.experiments import REGISTRY, run_config
from mtbert.data import identity
from mtbert.data import trees as T
from mtbert.errors import UsageError
from mtbert.training import engine

STAGE = "beyond_best_lr5e-5_phrase_stage"
TINY = dict(n_train={"sst": 8, "quora": 8, "sts": 8}, quora_per_epoch=8, batch_size=4, n_dev=6, n_test=6, epochs=1)


def test_a_stage_adds_its_epochs_before_the_configured_ones():
    cfg = run_config(f"{STAGE}_2epoch", "full")
    assert (cfg.sst_phrase_stage, cfg.epochs, cfg.total_epochs()) == (1, 2, 3)
    assert cfg.stage_tasks(0) == ("sst",) and cfg.stage_tasks(1) == cfg.stage_tasks(2) == ()
    plain = run_config("beyond_best_lr5e-5_2epoch", "full")
    assert plain.total_epochs() == plain.epochs == 2 and plain.stage_tasks(0) == ()


def test_the_stage_knob_at_its_default_is_left_out_of_the_hash_and_a_stage_changes_it():
    assert HASH_OMITTED_DEFAULTS["sst_phrase_stage"] == 0
    assert run_config(f"{STAGE}_2epoch", "full").hash() != run_config("beyond_best_lr5e-5_2epoch", "full").hash()


def test_a_stage_needs_sst_among_the_trained_tasks():
    with pytest.raises(UsageError, match="sst_phrase_stage needs SST"):
        run_config("t1_cfimdb_finetune", "smoke", sst_phrase_stage=1)
    with pytest.raises(UsageError, match="sst_phrase_budget needs sst_train_units"):
        run_config("submission2", "smoke", sst_phrase_stage=1, sst_phrase_budget=1.0)
    assert run_config("submission2", "smoke", sst_phrase_stage=1, sst_phrase_min_words=2).sst_phrase_min_words == 2


def test_a_stage_run_reads_and_verifies_the_trees_file():
    stage = run_config(STAGE, "smoke")
    assert T.TREES_FILE in {p.name for p in identity.files_for(stage)}
    assert T.TREES_FILE not in {p.name for p in identity.files_for(run_config("beyond_best_lr5e-5", "smoke"))}


def test_every_stage_row_is_compared_with_its_twin_of_the_same_epochs():
    rows = [n for n in REGISTRY if n.startswith(STAGE)]
    assert rows and set(rows) <= set(B.phrase_rows())
    twins = B.sentence_twins("full")
    for n in rows:
        assert run_config(twins[n], "full").epochs == run_config(n, "full").epochs


@pytest.mark.training
def test_a_smoke_run_with_a_stage_trains_sst_alone_first_and_records_it(S, one_thread):
    r = engine.run(STAGE, S, **TINY)
    first, second = r["history"]
    assert set(first["train_loss"]) == {"sst"} and set(second["train_loss"]) == {"sst", "quora", "sts"}
    stage = r["data"]["phrase_stage"]["sst"]
    assert stage["epochs"] == 1 and stage["rows"] == 8 and stage["phrases"] > 8 and stage["budget"] is None
    assert first["steps"] == -(-stage["phrases"] // TINY["batch_size"])  # every phrase, once
    assert "train_units" not in r["data"]  # after the stage: the sentences
    assert T.TREES_FILE in r["data"]["files"]
    assert B._sst_trained_on(r["data"]).startswith("first 1 epoch of SST alone on all")
