"""The optimizer and the learning-rate schedule of a run: AdamW with per-parameter rates (layer-wise decay,
a separate head rate), and an optional warm-up + decay schedule."""
from __future__ import annotations

import torch

from mtbert.model.encoder import layer_index
from mtbert.model.heads import MultitaskBert
from mtbert.core.config import RunConfig


def layerwise_lrs(model: MultitaskBert, lr: float, decay: float) -> dict[str, float]:
    """Layer-wise learning-rate decay (paper §3.2): the top layer (and pooler and heads) get `lr`, each
    layer below gets `decay` times the rate of the one above; embeddings sit below layer 1."""
    L = model.encoder.config.num_hidden_layers
    out = {}
    for n, p in model.named_parameters():
        if n.startswith("encoder."):
            depth = min(layer_index(n[len("encoder."):], L), L)
            out[n] = lr * decay ** (L - depth)
        else:
            out[n] = lr
    return out


def make_optimizer(model: MultitaskBert, cfg: RunConfig) -> torch.optim.Optimizer:
    params = dict(model.named_parameters())
    if cfg.mode == "pretrain":
        lrs = {n: cfg.lr for n in params if not n.startswith("encoder.")}
    else:
        lrs = layerwise_lrs(model, cfg.lr, cfg.lr_decay)
    if cfg.head_lr is not None:  # the task heads get their own rate
        lrs = {n: cfg.head_lr if not n.startswith("encoder.") else lr for n, lr in lrs.items()}
    groups: dict[float, list] = {}
    for n, lr in lrs.items():
        groups.setdefault(lr, []).append(params[n])
    param_groups = [{"params": ps, "lr": lr} for lr, ps in groups.items()]
    try:
        return torch.optim.AdamW(param_groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(param_groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(opt: torch.optim.Optimizer, cfg: RunConfig, total_steps: int):
    """Linear warm-up over `cfg.warmup` of all steps (from 1/W of the rate), then constant or linear decay to 0
    at the last step; None for the paper's constant rate (no scheduler, so its runs are unchanged)."""
    if cfg.warmup == 0 and cfg.lr_schedule == "constant":
        return None
    W = int(round(cfg.warmup * total_steps))

    def factor(s: int) -> float:  # s = optimizer steps taken so far
        if s < W:
            return (s + 1) / W
        if cfg.lr_schedule == "linear":
            return max(0.0, (total_steps - s) / max(1, total_steps - W))
        return 1.0
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)
