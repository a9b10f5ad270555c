"""The model of one run on its device: the encoder loaded from its checkpoint, the task heads, and how batches
become sentence embeddings and task outputs (bi-encoded, cross-encoded, or from cached frozen features)."""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from mtbert.model.checkpoint import load_encoder
from mtbert.core.tasks import get_task
from mtbert.model.heads import Architecture, MultitaskBert
from mtbert.settings import Settings
from mtbert.training.batches import SplitKey, TaskData, prepare, tokenizer
from mtbert.core.config import RunConfig


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


class Runner:
    """Holds the model and the tokenised data of one run, and knows how to embed and score batches."""

    def __init__(self, cfg: RunConfig, S: Settings, device):
        self.cfg, self.S, self.device, self.data_dir = cfg, S, device, S.data_dir
        torch.manual_seed(cfg.seed)
        encoder, self.ckpt_dir = load_encoder(cfg.encoder, encoder_dir=S.encoder_dir)
        # CPU: skip padding tokens in the position-wise layers (same outputs at real tokens). On CUDA this small
        # encoder is launch-bound and the extra gathers/syncs cost more than the padding (bench/README.md).
        encoder.unpad = device.type == "cpu" and S.unpad
        self.tok = tokenizer(str(self.ckpt_dir), cfg.max_length)
        self.model = MultitaskBert(encoder, Architecture.of(cfg)).to(device)
        if cfg.mode == "pretrain":
            self.model.encoder.requires_grad_(False)
        # bf16 autocast on CUDA; the amp setting forces it on or off (CPU rehearsals of the GPU path)
        self.amp = device.type == "cuda" if S.amp is None else S.amp
        self.eval_bs = 512 if device.type == "cuda" else 128
        self.features: dict[tuple, tuple] = {}

    def data(self, task, split, limit):
        units = ("sentences",)
        if split == "train" and self.cfg.train_units(task) == "phrases":
            units = ("phrases", *self.cfg.phrase_choice(task))
        data_dir = None if self.data_dir is None else str(self.data_dir)
        return prepare(SplitKey(task, split, str(self.ckpt_dir), self.cfg.max_length, limit, data_dir, units))

    def stage_data(self, task, limit):
        """A task's training rows as every phrase of their trees, each epoch (its phrase stage's data)."""
        units = ("phrases", None, self.cfg.phrase_choice(task)[1])
        data_dir = None if self.data_dir is None else str(self.data_dir)
        return prepare(SplitKey(task, "train", str(self.ckpt_dir), self.cfg.max_length, limit, data_dir, units))

    def autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _encode(self, seqs):
        ids, mask = self.tok.pad_batch(seqs, self.device)
        return self.model.embed(ids, mask)

    def _encode_cross(self, td: TaskData, idx):
        """Joint embeddings of pairs: [CLS] a [SEP] b [SEP] with token types 0 then 1, built from the two
        sentences' token ids (b's [CLS] dropped); over max_length, a's and b's tokens are cut from the end."""
        seqs, types = [], []
        for i in idx:
            a, b = td.a[i], td.b[i][1:]
            while len(a) + len(b) > self.cfg.max_length:  # longest first, keeping each [SEP]
                if len(a) >= len(b):
                    a = a[:-2] + a[-1:]
                else:
                    b = b[:-2] + b[-1:]
            seqs.append(a + b)
            types.append([0] * len(a) + [1] * len(b))
        ids, mask = self.tok.pad_batch(seqs, self.device)
        tt = torch.zeros_like(ids)
        for r, t in enumerate(types):
            tt[r, :len(t)] = torch.as_tensor(t)
        return self.model.embed(ids, mask, tt)

    def embed(self, td: TaskData, idx):
        """Sentence embeddings (u, v) of rows idx: cached frozen features in pretrain mode, else the encoder.
        Pairs run through the encoder as one batch of 2B sentences; cross-encoded pairs as B joint sequences
        (u = the joint embedding, v = None)."""
        if td.b is not None and self.cfg.encoding(td.task) == "cross":
            return self._encode_cross(td, idx), None
        if self.cfg.mode == "pretrain":
            U, V = self.features[(td.task, td.split)]
            t = torch.as_tensor(idx, device=U.device)
            return U[t], (V[t] if V is not None else None)
        if td.b is None:
            return self._encode([td.a[i] for i in idx]), None
        uv = self._encode([td.a[i] for i in idx] + [td.b[i] for i in idx])
        return uv[:len(idx)], uv[len(idx):]

    @torch.no_grad()
    def cache_features(self, td: TaskData):
        """Frozen-encoder features, computed once per split (encoder in eval mode)."""
        if self.cfg.mode != "pretrain" or (td.task, td.split) in self.features:
            return
        self.model.encoder.eval()
        order = np.argsort(td.lengths, kind="stable")
        U = torch.empty(len(td), self.model.encoder.config.hidden_size, device=self.device)
        V = torch.empty_like(U) if td.b is not None else None
        for s in range(0, len(order), self.eval_bs):
            idx = order[s:s + self.eval_bs]
            with self.autocast():
                if td.b is None:
                    U[torch.as_tensor(idx)] = self._encode([td.a[i] for i in idx]).float()
                else:
                    uv = self._encode([td.a[i] for i in idx] + [td.b[i] for i in idx]).float()
                    U[torch.as_tensor(idx)], V[torch.as_tensor(idx)] = uv[:len(idx)], uv[len(idx):]
        self.features[(td.task, td.split)] = (U, V)

    @torch.no_grad()
    def predict(self, td: TaskData):
        """(raw scores, predictions) for every row of a split, in the split's order."""
        self.model.eval()
        self.cache_features(td)
        order = np.argsort(td.lengths, kind="stable")
        raws, preds = [], []
        for s in range(0, len(order), self.eval_bs):
            idx = order[s:s + self.eval_bs]
            with self.autocast():
                u, v = self.embed(td, idx)
                raw, pred = self.model.task_outputs(td.task, u, v)
            raws.append(raw.float().cpu().numpy())
            preds.append(pred.float().cpu().numpy())
        inverse = np.argsort(order, kind="stable")  # back to the split's row order
        raw = np.concatenate(raws)[inverse] if raws else np.zeros(0)
        pred = np.concatenate(preds)[inverse] if preds else np.zeros(0)
        return raw, (pred if get_task(td.task).is_regression else pred.astype(np.int64))


