"""Our BERT (mtbert.model.encoder), checkpoint loader (mtbert.model.checkpoint) and tokenizer (mtbert.model.tokenizer) against Hugging Face
transformers, which is a test-only dependency. Real sentences come straight from the TSVs in the data
mirror (read with pandas, not with mtbert.data.datasets)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from mtbert.model.checkpoint import CheckpointError, load_encoder, read_state_dict, save_encoder
from mtbert.data.datasets import default_data_dir
from mtbert.model.tokenizer import Tokenizer

transformers = pytest.importorskip("transformers")

DATA = default_data_dir()  # filled by `make data` (python -m mtbert data)
ATOL = 1e-5

needs_data = pytest.mark.skipif(not (DATA / "ids-sst-train.csv").exists(),
                                reason=f"data not in {DATA}: run `python -m mtbert data`")


def _tsv(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / name, sep="\t")


def _sst(n: int) -> list[str]:
    return _tsv("ids-sst-train.csv")["sentence"].str.lower().str.strip().head(n).tolist()


def _pairs(name: str, n: int) -> tuple[list[str], list[str]]:
    df = _tsv(name).dropna(subset=["sentence1", "sentence2"]).head(n)
    return df["sentence1"].astype(str).tolist(), df["sentence2"].astype(str).tolist()


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def default():
    """(our model, HF model, checkpoint dir, our tokenizer) for the default encoder all-MiniLM-L6-v2."""
    ours, ckpt = load_encoder()
    hf = transformers.BertModel.from_pretrained(ckpt, attn_implementation="sdpa")
    return ours.eval(), hf.eval(), ckpt, Tokenizer.from_checkpoint(ckpt)


@pytest.fixture(scope="module")
def small_hf(tmp_path_factory, default):
    """A small randomly initialised HF BERT saved as safetensors (+ vocab.txt); returns its directory."""
    vocab = default[2] / "vocab.txt"
    n_vocab = sum(1 for _ in open(vocab, encoding="utf-8"))
    cfg = transformers.BertConfig(vocab_size=n_vocab, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                                  intermediate_size=128, max_position_embeddings=128, hidden_act="gelu")
    torch.manual_seed(0)
    hf = transformers.BertModel(cfg)
    with torch.no_grad():  # make biases and LayerNorm params non-trivial, so a mis-mapped tensor shows
        for p in hf.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    d = tmp_path_factory.mktemp("small_hf")
    hf.save_pretrained(d)
    shutil.copy(vocab, d / "vocab.txt")
    assert (d / "model.safetensors").exists()
    return d


@pytest.fixture(scope="module")
def small_batch(default):
    """Padded single sentences and sentence pairs (with token types) of different lengths, real data."""
    tok = default[3]
    a, b = _pairs("quora-dev.csv", 8)
    ids, types = tok.encode_pairs_with_types(a, b)
    ids_p, mask_p = tok.pad_batch(ids)
    types_p = torch.zeros_like(ids_p)
    for i, t in enumerate(types):
        types_p[i, :len(t)] = torch.as_tensor(t)
    assert types_p.any()
    single = _sst(10) + a[:6]
    ids_s, mask_s = tok.pad_batch(tok.encode(single))
    return (ids_s, mask_s, torch.zeros_like(ids_s)), (ids_p, mask_p, types_p)


def _compare(ours, hf, ids, mask, types):
    with torch.no_grad():
        o = ours(ids, mask, types)
        h = hf(input_ids=ids, attention_mask=mask, token_type_ids=types)
    d_last = (o.last_hidden_state - h.last_hidden_state).abs().max().item()
    d_pool = (o.pooled - h.pooler_output).abs().max().item()
    assert o.last_hidden_state.shape == h.last_hidden_state.shape
    assert d_last <= ATOL, f"last_hidden_state differs by {d_last}"
    assert d_pool <= ATOL, f"pooled differs by {d_pool}"
    assert torch.equal(o.cls, o.last_hidden_state[:, 0])
    print(f"max |diff| last_hidden_state {d_last:.3g}, pooled {d_pool:.3g}")
    return d_last, d_pool


# ---------------------------------------------------------------- 1. default encoder == HF

@needs_data
def test_default_encoder_matches_transformers(default):
    ours, hf, _, tok = default
    sents = _sst(12) + _pairs("quora-dev.csv", 8)[0]
    seqs = tok.encode(sents)
    assert len(sents) >= 16 and len({len(s) for s in seqs}) > 5
    ids, mask = tok.pad_batch(seqs)
    assert not mask.all()  # padding present: every position, padding included, must match
    assert ours.training is False and hf.training is False
    assert next(ours.parameters()).dtype == torch.float32
    _compare(ours, hf, ids, mask, torch.zeros_like(ids))


@needs_data
def test_default_encoder_pairs_and_no_padding(default, small_batch):
    ours, hf, _, _ = default
    _compare(ours, hf, *small_batch[1])  # token types
    ids, mask, types = small_batch[0]
    _compare(ours, hf, ids[:1, : int(mask[0].sum())], mask[:1, : int(mask[0].sum())], types[:1, : int(mask[0].sum())])


# ---------------------------------------------------------------- 2. small random config, both directions

@needs_data
def test_small_random_checkpoint_safetensors(small_hf, small_batch):
    ours, ckpt = load_encoder(small_hf)
    assert ckpt == small_hf and ours.config.hidden_size == 64 and len(ours.layers) == 3
    hf = transformers.BertModel.from_pretrained(small_hf, attn_implementation="sdpa").eval()
    ours.eval()
    for batch in small_batch:
        _compare(ours, hf, *batch)


@needs_data
def test_small_random_checkpoint_pytorch_bin(small_hf, small_batch, tmp_path):
    hf = transformers.BertModel.from_pretrained(small_hf, attn_implementation="sdpa").eval()
    # transformers 5 dropped save_pretrained(safe_serialization=False); this is the file it used to write.
    shutil.copy(small_hf / "config.json", tmp_path / "config.json")
    shutil.copy(small_hf / "vocab.txt", tmp_path / "vocab.txt")
    torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")
    assert not (tmp_path / "model.safetensors").exists()
    ours, _ = load_encoder(tmp_path)
    for batch in small_batch:
        _compare(ours.eval(), hf, *batch)


@needs_data
def test_save_encoder_round_trip_to_transformers(small_hf, small_batch, tmp_path):
    ours, _ = load_encoder(small_hf)
    ours.eval()
    out = save_encoder(ours, tmp_path / "saved", vocab_file=small_hf / "vocab.txt")
    assert (out / "vocab.txt").exists() and (out / "model.safetensors").exists()
    hf, info = transformers.BertModel.from_pretrained(out, attn_implementation="sdpa", output_loading_info=True)
    assert not info["missing_keys"], info["missing_keys"]
    assert not info["unexpected_keys"], info["unexpected_keys"]
    assert not info.get("mismatched_keys"), info["mismatched_keys"]
    for batch in small_batch:
        _compare(ours, hf.eval(), *batch)
    # and our own loader reads what it wrote, bit for bit
    again, _ = load_encoder(out)
    for k, v in ours.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k


# ---------------------------------------------------------------- 3. tokenizer == HF tokenizer

@pytest.fixture(scope="module")
def hf_tok(default):
    return transformers.BertTokenizerFast.from_pretrained(default[2])


@needs_data
def test_tokenizer_single_sentences(default, hf_tok):
    tok = default[3]
    sents = _sst(1200)
    assert len(sents) >= 1000
    assert tok.encode(sents) == hf_tok(sents)["input_ids"]


@needs_data
def test_tokenizer_pairs_with_types(default, hf_tok):
    tok = default[3]
    qa, qb = _pairs("quora-dev.csv", 400)
    sa, sb = _pairs("sts-train.csv", 300)
    a, b = qa + sa, qb + sb
    assert len(a) >= 500
    ids, types = tok.encode_pairs_with_types(a, b)
    ref = hf_tok(a, b)
    assert ids == ref["input_ids"]
    assert types == ref["token_type_ids"]
    assert tok.encode(a, b) == ids


@needs_data
def test_tokenizer_truncation(default, hf_tok):
    ckpt = default[2]
    tok = Tokenizer.from_checkpoint(ckpt, max_length=128)
    reviews = _tsv("ids-cfimdb-train.csv")["sentence"].astype(str)
    long = reviews[reviews.str.len().idxmax()]
    full = default[3].encode([long])[0]
    assert len(full) > 128
    ours = tok.encode([long])[0]
    ref = hf_tok([long], truncation=True, max_length=128)["input_ids"][0]
    assert len(ours) == 128 and ours == ref and ours[-1] == tok.sep_id
    # pairs are truncated longest-first, like transformers
    ids, types = tok.encode_pairs_with_types([long], ["a short second sentence ."])
    ref = hf_tok([long], ["a short second sentence ."], truncation=True, max_length=128)
    assert ids == ref["input_ids"] and types == ref["token_type_ids"] and len(ids[0]) == 128


# ---------------------------------------------------------------- 4. checkpoint errors

def _edit_checkpoint(src: Path, dst: Path, edit_sd=None, edit_cfg=None) -> Path:
    from safetensors.torch import save_file
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "vocab.txt", dst / "vocab.txt")
    cfg = json.loads((src / "config.json").read_text())
    if edit_cfg:
        edit_cfg(cfg)
    (dst / "config.json").write_text(json.dumps(cfg))
    sd = read_state_dict(src)
    if edit_sd:
        sd = edit_sd(sd)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(dst / "model.safetensors"))
    return dst


def test_missing_tensor_is_named(small_hf, tmp_path):
    name = "encoder.layer.1.attention.self.key.bias"
    d = _edit_checkpoint(small_hf, tmp_path, edit_sd=lambda sd: {k: v for k, v in sd.items() if k != name})
    with pytest.raises(CheckpointError, match="missing tensor 'encoder.layer.1.attention.self.key.bias'"):
        load_encoder(d)


def test_unexpected_tensor_is_named(small_hf, tmp_path):
    d = _edit_checkpoint(small_hf, tmp_path, edit_sd=lambda sd: {**sd, "encoder.layer.0.bogus.weight": torch.zeros(3)})
    with pytest.raises(CheckpointError, match=r"unexpected tensor 'encoder\.layer\.0\.bogus\.weight'"):
        load_encoder(d)


def test_shape_mismatch_intermediate_size(small_hf, tmp_path):
    d = _edit_checkpoint(small_hf, tmp_path, edit_cfg=lambda c: c.update(intermediate_size=96))
    with pytest.raises(CheckpointError) as e:
        load_encoder(d)
    msg = str(e.value)
    assert "'encoder.layer.0.intermediate.dense.weight'" in msg
    assert "(128, 64)" in msg and "(96, 64)" in msg


def test_shape_mismatch_hidden_size(small_hf, tmp_path):
    d = _edit_checkpoint(small_hf, tmp_path, edit_cfg=lambda c: c.update(hidden_size=32))
    with pytest.raises(CheckpointError) as e:
        load_encoder(d)
    msg = str(e.value)
    assert "'embeddings.word_embeddings.weight'" in msg and "64)" in msg and "32)" in msg


def test_shape_mismatch_in_fused_qkv_is_named(small_hf, tmp_path):
    def shrink(sd):
        sd = dict(sd)
        k = "encoder.layer.2.attention.self.value.weight"
        sd[k] = sd[k][:32]
        return sd
    d = _edit_checkpoint(small_hf, tmp_path, edit_sd=shrink)
    with pytest.raises(CheckpointError) as e:
        load_encoder(d)
    msg = str(e.value)
    assert "'encoder.layer.2.attention.self.value.weight'" in msg and "(32, 64)" in msg and "(64, 64)" in msg


def test_unknown_encoder_name_lists_choices(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:  # huggingface_hub reads the variable at import time; it may be imported already (by transformers)
        import huggingface_hub.constants as hc
        monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    except ImportError:
        pass
    with pytest.raises(CheckpointError) as e:
        load_encoder("no-such-model-xyz")
    msg = str(e.value)
    assert "'no-such-model-xyz'" in msg
    assert "'default'" in msg and "all-MiniLM-L6-v2" in msg
    assert "local directory" in msg and "hub id" in msg


def test_nonexistent_path(tmp_path):
    missing = tmp_path / "does" / "not" / "exist"
    with pytest.raises(CheckpointError, match="is not a checkpoint directory") as e:
        load_encoder(missing)
    assert str(missing) in str(e.value) and "Valid encoders" in str(e.value)


def test_directory_without_weights(tmp_path, small_hf):
    shutil.copy(small_hf / "config.json", tmp_path / "config.json")
    with pytest.raises(CheckpointError, match="neither model.safetensors nor pytorch_model.bin"):
        load_encoder(tmp_path)


@needs_data
def test_bert_prefix_and_gamma_beta_names_load(small_hf, small_batch, tmp_path):
    """A task-head checkpoint (bert. prefix, MLM head tensors) with Google-style gamma/beta LayerNorm names."""
    def rename(sd):
        out = {}
        for k, v in sd.items():
            k = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
            out["bert." + k] = v
        out["cls.predictions.bias"] = torch.zeros(8)
        return out
    d = _edit_checkpoint(small_hf, tmp_path, edit_sd=rename)
    assert any(k.endswith("LayerNorm.gamma") for k in read_state_dict(d))
    ours, _ = load_encoder(d)
    ref, _ = load_encoder(small_hf)
    for k, v in ref.state_dict().items():
        assert torch.equal(v, ours.state_dict()[k]), k
    hf = transformers.BertModel.from_pretrained(small_hf, attn_implementation="sdpa").eval()
    _compare(ours.eval(), hf, *small_batch[1])
