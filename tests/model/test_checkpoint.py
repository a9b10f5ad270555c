"""An encoder folder as untrusted input (mtbert.model.checkpoint.load_encoder, the tokenizer's
Tokenizer.from_checkpoint): a damaged config.json, a truncated model.safetensors, a missing or empty vocab.txt, a
corrupt tokenizer_config.json is one message naming the file; a config whose sizes are out of range, or within
every range but too many parameters in all, is refused before anything is allocated."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from mtbert.model import tokenizer as tok
from mtbert.model.checkpoint import CheckpointError, load_encoder, resolve_encoder


@pytest.fixture(scope="module")
def default_dir():
    return resolve_encoder(None)


def encoder_copy(tmp_path, default_dir, **config) -> Path:
    d = tmp_path / "enc"
    d.mkdir()
    for n in ("vocab.txt", "model.safetensors", "tokenizer_config.json"):
        (d / n).symlink_to(default_dir / n)
    cfg = json.loads((default_dir / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, **config}))
    return d


# -- damaged files are named -------------------------------------------------------------------------------------------

def test_corrupt_config_json_is_named(tmp_path, default_dir):
    for n in ("vocab.txt", "model.safetensors"):
        (tmp_path / n).symlink_to(default_dir / n)
    for bad in ('{"hidden_size": 38', "[]", '{"hidden_size": "big"}'):
        (tmp_path / "config.json").write_text(bad)
        with pytest.raises(CheckpointError) as ei:
            load_encoder(tmp_path)
        assert str(tmp_path / "config.json") in str(ei.value)


def test_truncated_safetensors_is_named(tmp_path, default_dir):
    shutil.copy(default_dir / "config.json", tmp_path / "config.json")
    with open(default_dir / "model.safetensors", "rb") as f:
        (tmp_path / "model.safetensors").write_bytes(f.read(100_000))
    with pytest.raises(CheckpointError) as ei:
        load_encoder(tmp_path)
    assert str(tmp_path / "model.safetensors") in str(ei.value) and "truncated" in str(ei.value)


@pytest.mark.parametrize("case", ["missing", "empty", "no special tokens"])
def test_bad_vocab_is_named(tmp_path, default_dir, case):
    d = encoder_copy(tmp_path, default_dir)
    (d / "vocab.txt").unlink()
    if case == "empty":
        (d / "vocab.txt").write_text("")
    elif case == "no special tokens":
        (d / "vocab.txt").write_text("hello\nworld\n")
    with pytest.raises(CheckpointError) as ei:
        tok.Tokenizer.from_checkpoint(d)
    assert "vocab.txt" in str(ei.value) and str(d) in str(ei.value)


@pytest.mark.parametrize("content", ['{"do_lower_case": tru', "[1]", '{"do_lower_case": "yes"}',
                                     '{"model_max_length": "long"}', "[" * 100_000])
def test_corrupt_tokenizer_config_is_named(tmp_path, default_dir, content):
    d = encoder_copy(tmp_path, default_dir)
    (d / "tokenizer_config.json").unlink()
    (d / "tokenizer_config.json").write_text(content)
    with pytest.raises(CheckpointError) as ei:
        tok.Tokenizer.from_checkpoint(d)
    assert str(d / "tokenizer_config.json") in str(ei.value)


# -- sizes are capped before allocation --------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("num_hidden_layers", 1_000_000_000), ("num_hidden_layers", 0), ("hidden_size", 100_000),
    ("num_attention_heads", 7), ("vocab_size", 10**9), ("max_position_embeddings", 10**7),
    ("intermediate_size", -1), ("type_vocab_size", 10**8), ("num_hidden_layers", "12"),
])
def test_insane_encoder_config_is_refused_before_allocation(tmp_path, default_dir, field, value):
    d = encoder_copy(tmp_path, default_dir, **{field: value})
    t = time.perf_counter()
    with pytest.raises(CheckpointError) as ei:
        load_encoder(d)
    assert time.perf_counter() - t < 5  # nothing was allocated
    assert str(d / "config.json") in str(ei.value) and field in str(ei.value)


def test_config_within_every_range_but_too_many_parameters_is_refused(tmp_path, default_dir):
    d = encoder_copy(tmp_path, default_dir, num_hidden_layers=48, hidden_size=8192, num_attention_heads=64,
                     intermediate_size=32768)
    with pytest.raises(CheckpointError, match="parameters"):
        load_encoder(d)
