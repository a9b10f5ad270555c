"""Sanity check of the pretrained default encoder, no training: mean-pooled cosine similarity on the full
STS dev set correlates with the gold similarity (all-MiniLM-L6-v2 was trained for exactly this)."""
from __future__ import annotations


import pandas as pd
import pytest
import torch
from scipy.stats import pearsonr

from mtbert.model.checkpoint import load_encoder
from mtbert.model.encoder import mean_pool
from mtbert.data.datasets import default_data_dir
from mtbert.model.tokenizer import Tokenizer

STS_DEV = default_data_dir() / "sts-dev.csv"  # filled by `make data`


def preprocess(s: str) -> str:
    """Upstream (CS224N multitask minBERT) preprocessing of STS/Quora sentences."""
    return " ".join(s.lower().replace(".", " .").replace("?", " ?").replace(",", " ,").replace("'", " '").split())


@torch.no_grad()
def embed(model, tok, sents, batch_size=64):
    seqs = tok.encode(sents)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out = torch.empty(len(seqs), model.config.hidden_size)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        ids, mask = tok.pad_batch([seqs[i] for i in idx])
        out[idx] = mean_pool(model(ids, mask).last_hidden_state, mask)
    return out


@pytest.mark.slow  # 1,726 sentences through the encoder: about 15 s on a 2-core CPU
@pytest.mark.skipif(not STS_DEV.exists(), reason="STS dev set not present")
def test_sts_dev_pearson_without_training():
    df = pd.read_csv(STS_DEV, sep="\t")
    assert len(df) == 863
    a = [preprocess(str(s)) for s in df["sentence1"]]
    b = [preprocess(str(s)) for s in df["sentence2"]]
    model, ckpt = load_encoder()
    model.eval()
    tok = Tokenizer.from_checkpoint(ckpt)
    cos = torch.nn.functional.cosine_similarity(embed(model, tok, a), embed(model, tok, b), dim=-1)
    r = pearsonr(cos.numpy(), df["similarity"].to_numpy(dtype=float)).statistic
    print(f"STS dev (863 pairs) Pearson of untrained mean-pooled cosine: {r:.4f}")
    assert r > 0.75
