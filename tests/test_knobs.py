"""Knobs are declared once (training/config.py): validation, --set, the hash rule and the report's Choices
follow from the declaration."""
import dataclasses

import pytest

from mtbert.errors import UsageError
from mtbert.report.build import choices
from mtbert.training.config import HASH_OMITTED_DEFAULTS, KNOBS, OVERRIDABLE, RunConfig
from mtbert.training.experiments import run_config


def test_every_declared_choice_reaches_the_report():
    for profile in ("smoke", "quick", "full"):
        labels = choices(profile)
        for name, k in KNOBS.items():
            if k.choice:
                assert (k.label or name.replace("_", " ")) in labels, name


def test_overridable_knobs_are_the_declared_ones():
    assert set(OVERRIDABLE) - {"device"} == {n for n, k in KNOBS.items() if k.overridable}
    assert {f.name for f in dataclasses.fields(RunConfig)} == set(KNOBS)


@pytest.mark.parametrize("name", sorted(HASH_OMITTED_DEFAULTS))
def test_a_later_knob_is_out_of_the_hash_at_its_default_and_in_it_otherwise(name):
    base = run_config("submission2", "full")
    default = HASH_OMITTED_DEFAULTS[name]
    assert getattr(base, name) == default
    assert name not in _hashed_fields(base)
    base = dataclasses.replace(base, **COMPANIONS.get(name, {})).validate()
    other = _other_valid_value(name, default)
    changed = dataclasses.replace(base, **{name: other}).validate()
    assert changed.hash() != base.hash()


# knobs that a cross rule of RunConfig ties to another knob's value: tried with that value set
COMPANIONS = {"sst_phrase_budget": {"sst_train_units": "phrases"}, "sst_phrase_min_words": {"sst_train_units": "phrases"}}


def test_a_bad_value_names_the_knob_and_what_it_allows():
    with pytest.raises(UsageError, match=r"max_grad_norm must be a number in \(0, inf\) or null, got -1"):
        run_config("submission2", "smoke", max_grad_norm=-1)
    with pytest.raises(UsageError, match=r"lr_schedule must be one of \('constant', 'linear'\)"):
        run_config("submission2", "smoke", lr_schedule="cosine")
    for bad in ({"sts": 0}, {"sts": "0.1"}, {"nli": 1.0}, [("sts", 0.1)]):
        with pytest.raises(UsageError, match=r"loss_weights must be a dict mapping task names to positive numbers"):
            run_config("submission2", "smoke", loss_weights=bad)


def _hashed_fields(cfg):
    d = cfg.to_dict()
    return {k for k in d if not (k in HASH_OMITTED_DEFAULTS and d[k] == HASH_OMITTED_DEFAULTS[k])}


def _other_valid_value(name, default):
    ok, _ = KNOBS[name].allowed
    for v in ("cross", "linear", "sqrt", "cosent", "phrases", 0.1, 1e-3, 1.0, 2, {"sts": 0.5}):
        if v != default and ok(v):
            return v
    pytest.fail(f"no other valid value found for {name}")
