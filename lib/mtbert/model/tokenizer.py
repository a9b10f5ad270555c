"""WordPiece tokenisation from a checkpoint's vocab.txt (Hugging Face `tokenizers`), and per-batch padding.

Sentences are tokenised once per dataset into lists of ids (no padding); `pad_batch` pads each batch to
its own longest sequence, so short batches cost little.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from tokenizers import BertWordPieceTokenizer

from mtbert.model.checkpoint import CONFIG_RANGES, CheckpointError, read_json_object

VOCAB_LIMIT_BYTES = 64 * 2**20     # bert-base's vocab.txt is 232 kB
SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[UNK]")
_FIX = "download or copy the checkpoint again"


def _read_tokenizer_config(path: Path) -> dict:
    """tokenizer_config.json as a dict ({} when absent); CheckpointError naming the file when it is damaged."""
    if not path.exists():
        return {}
    try:
        cfg = read_json_object(path)
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as e:
        raise CheckpointError(f"tokenizer config {path} is damaged ({type(e).__name__}: {str(e)[:200]}); "
                              f"{_FIX}, or delete it to use BERT's defaults (lower case)") from e
    for key, ok in (("do_lower_case", lambda v: isinstance(v, bool)),
                    ("strip_accents", lambda v: v is None or isinstance(v, bool)),
                    ("model_max_length", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 8)):
        if key in cfg and not ok(cfg[key]):
            raise CheckpointError(f"tokenizer config {path}: {key} is {cfg[key]!r}, not a valid value; {_FIX}")
    return cfg


def _check_vocab(path: Path) -> None:
    """CheckpointError naming vocab.txt when it is missing, empty, too large or lacks BERT's special tokens."""
    if not path.is_file():
        raise CheckpointError(f"{path.parent} has no vocab.txt; a BERT checkpoint directory needs one: {_FIX}")
    size = path.stat().st_size
    if size > VOCAB_LIMIT_BYTES:
        raise CheckpointError(f"vocabulary {path} is {size:,} bytes, over the {VOCAB_LIMIT_BYTES // 2**20} MiB "
                              f"limit of a BERT vocab.txt; {_FIX}")
    try:
        tokens = path.read_bytes().decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"vocabulary {path} cannot be read as UTF-8 text ({e}); {_FIX}") from e
    lo, hi = CONFIG_RANGES["vocab_size"]
    if not tokens:
        raise CheckpointError(f"vocabulary {path} is empty; {_FIX}")
    if len(tokens) > hi:
        raise CheckpointError(f"vocabulary {path} has {len(tokens):,} tokens, over {hi:,}; {_FIX}")
    missing = [t for t in SPECIAL_TOKENS if t not in set(tokens)]
    if missing:
        raise CheckpointError(f"vocabulary {path} lacks BERT's special token(s) {missing}; it is truncated or not "
                              f"a BERT vocabulary: {_FIX}")


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
        _check_vocab(vocab)
        cfg = _read_tokenizer_config(ckpt_dir / "tokenizer_config.json")
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
