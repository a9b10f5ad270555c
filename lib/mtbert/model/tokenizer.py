"""WordPiece tokenisation from a checkpoint's vocab.txt (Hugging Face `tokenizers`), and per-batch padding.

Sentences are tokenised once per dataset into lists of ids (no padding); `pad_batch` pads each batch to
its own longest sequence, so short batches cost little.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch
from tokenizers import BertWordPieceTokenizer


class Tokenizer:
    def __init__(self, vocab_file, lowercase: bool = True, strip_accents: bool | None = None,
                 max_length: int = 512):
        self.vocab_file = str(vocab_file)
        self.max_length = max_length
        self._tok = BertWordPieceTokenizer(self.vocab_file, lowercase=lowercase, strip_accents=strip_accents,
                                           clean_text=True, handle_chinese_chars=True)
        self._tok.enable_truncation(max_length)
        self.pad_id = self._tok.token_to_id("[PAD]")
        self.cls_id = self._tok.token_to_id("[CLS]")
        self.sep_id = self._tok.token_to_id("[SEP]")

    @classmethod
    def from_checkpoint(cls, ckpt_dir, max_length: int = 512) -> "Tokenizer":
        ckpt_dir = Path(ckpt_dir)
        vocab = ckpt_dir / "vocab.txt"
        if not vocab.exists():
            raise FileNotFoundError(f"{ckpt_dir} has no vocab.txt; a BERT checkpoint directory needs one")
        cfg_file = ckpt_dir / "tokenizer_config.json"
        cfg = json.loads(cfg_file.read_text()) if cfg_file.exists() else {}
        lowercase = cfg.get("do_lower_case", True)  # transformers' default for BERT
        return cls(vocab, lowercase=lowercase, strip_accents=cfg.get("strip_accents"),
                   max_length=min(max_length, cfg.get("model_max_length", max_length)))

    def encode(self, sents: Sequence[str], pairs: Sequence[str] | None = None) -> list[list[int]]:
        """[CLS] a [SEP] (b [SEP]) ids for each sentence (or pair), truncated to max_length; not padded."""
        if pairs is None:
            encs = self._tok.encode_batch(list(sents))
        else:
            encs = self._tok.encode_batch(list(zip(sents, pairs)))
        return [e.ids for e in encs]

    def encode_pairs_with_types(self, a: Sequence[str], b: Sequence[str]):
        encs = self._tok.encode_batch(list(zip(a, b)))
        return [e.ids for e in encs], [e.type_ids for e in encs]

    def pad_batch(self, seqs: Sequence[Sequence[int]], device=None):
        """Pad to the batch's longest sequence -> (input_ids, attention_mask), both (B, T) int64."""
        T = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), T), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), T), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.as_tensor(s)
            mask[i, :len(s)] = 1
        if device is not None:
            ids, mask = ids.to(device, non_blocking=True), mask.to(device, non_blocking=True)
        return ids, mask
