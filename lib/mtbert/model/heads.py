"""Task heads on one shared encoder (paper §4.3, §5.3), one per head kind of the task specs (mtbert.core.tasks).

Every head reads sentence embeddings u (and v), so the same heads serve both training modes: in
`finetune` the embeddings come from the encoder on each batch, in `pretrain` from a cache of the frozen
encoder's outputs.

    classifier (one sentence: `sentiment`, one per task; a pair: `pair_classifier`, one per task)
                  logits = W_s · Dropout(u)  or  W_c · Dropout([|u - v|, u * v]) -> cross-entropy
    binary        (`paraphrase`, configured by para_head / para_encoding)
                  logit  = w_p · Dropout([|u - v|, u * v (, cos(u, v))])     -> binary cross-entropy
    regression    (`similarity`, configured by sts_head / sts_encoding)
                  baseline: score = sigmoid(w_t · Dropout([|u - v|, u * v]))
                  cos_sigmoid: score = sigmoid(cos(u, v));  cos_relu: score = relu(cos(u, v))
                  score in [0, 1] is compared with label / top of the label range (STS: 5) by MSE;
                  prediction = top * score

The binary and the regression head exist once per model (the run settings that shape them exist once), so a
model serves at most one task of each of those kinds.

Cross-encoding (beyond the paper, `para_encoding` / `sts_encoding` = "cross"): a pair is one sequence
[CLS] a [SEP] b [SEP] (token types 0 then 1), z is its pooled joint state, and u = z, v = None:

    paraphrase    logit = w_p · Dropout(z)                                   -> binary cross-entropy
    similarity    score = sigmoid(w_t · Dropout(z))                           -> MSE against label / 5
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mtbert.core.config import ENCODINGS, PARA_HEADS, POOLINGS, STS_HEADS, STS_LOSSES, RunConfig
from mtbert.core.tasks import get_task
from mtbert.model.encoder import BertModel, mean_pool



def cosent_loss(scores, labels, scale: float = 20.0):
    """CoSENT (Su, 2022): a ranking loss over every pair of examples in the batch whose labels differ,
    log(1 + sum over y_i > y_j of exp(scale * (s_j - s_i))); only the order of the scores matters."""
    diff = scale * (scores[None, :] - scores[:, None])      # (B, B): diff[i, j] = scale * (s_j - s_i)
    ranked = labels[:, None] > labels[None, :]              # (B, B): i should score above j
    diff = diff[ranked]
    return torch.logsumexp(torch.cat([diff.new_zeros(1), diff]), dim=0)


@dataclass(frozen=True)
class Architecture:
    """The heads' choices of one model: the tasks it serves (names of task specs), the sentence embedding, the
    dropout before each head, and the pair heads' shapes, encodings and STS loss. Checked when built."""
    tasks: tuple = ("sst",)
    pooling: str = "cls"
    dropout: float = 0.3
    para_head: str = "baseline"
    sts_head: str = "baseline"
    para_encoding: str = "bi"
    sts_encoding: str = "bi"
    sts_loss: str = "mse"

    def __post_init__(self):
        for name, allowed in (("pooling", POOLINGS), ("para_head", PARA_HEADS), ("sts_head", STS_HEADS),
                              ("sts_loss", STS_LOSSES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for enc in (self.para_encoding, self.sts_encoding):
            if enc not in ENCODINGS:
                raise ValueError(f"pair encoding must be 'bi' or 'cross', got {enc!r}")

    @classmethod
    def of(cls, cfg: RunConfig) -> "Architecture":
        """A run's architecture: the heads of its evaluated tasks, as its config chooses them."""
        return cls(tasks=cfg.eval_tasks, pooling=cfg.pooling, dropout=cfg.dropout, para_head=cfg.para_head,
                   sts_head=cfg.sts_head, para_encoding=cfg.para_encoding, sts_encoding=cfg.sts_encoding,
                   sts_loss=cfg.sts_loss)


class MultitaskBert(nn.Module):
    """The encoder and the heads that `arch` chooses. The binary and regression heads are built whether or not
    a task of their kind is among its tasks (their parameters are drawn from the seeded generator in this
    order, so runs stay reproducible)."""

    def __init__(self, encoder: BertModel, arch: Architecture = Architecture()):
        super().__init__()
        self.sts_loss = arch.sts_loss
        H = encoder.config.hidden_size
        self.encoder, self.pooling, self.para_head, self.sts_head = encoder, arch.pooling, arch.para_head, arch.sts_head
        self.drop = nn.Dropout(arch.dropout)
        specs = [get_task(t) for t in dict.fromkeys(arch.tasks)]
        for kind in ("binary", "regression"):
            of_kind = [s.name for s in specs if s.head == kind]
            if len(of_kind) > 1:
                raise ValueError(f"one model has one {kind} head, but tasks {of_kind} all need it")
        self.sentiment = nn.ModuleDict({s.name: nn.Linear(H, s.n_classes) for s in specs
                                        if s.head == "classifier" and not s.is_pair})
        self.cross = {"binary": arch.para_encoding == "cross", "regression": arch.sts_encoding == "cross"}
        self.paraphrase = nn.Linear(H if self.cross["binary"] else 2 * H + (arch.para_head == "baseline+cos"), 1)
        self.similarity = (nn.Linear(H, 1) if self.cross["regression"]
                           else nn.Linear(2 * H, 1) if arch.sts_head == "baseline" else None)
        self.pair_classifier = nn.ModuleDict({s.name: nn.Linear(2 * H, s.n_classes) for s in specs
                                              if s.head == "classifier" and s.is_pair})

    # -- encoder -> sentence embedding ------------------------------------------------------------
    def embed(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        out = self.encoder(input_ids, attention_mask, token_type_ids)
        if self.pooling == "cls":
            return out.cls
        if self.pooling == "mean":
            return mean_pool(out.last_hidden_state, attention_mask)
        return out.pooled

    # -- heads on embeddings ------------------------------------------------------------------------
    def sentiment_logits(self, task: str, u):
        return self.sentiment[task](self.drop(u))

    def pair_logits(self, task: str, u, v):
        return self.pair_classifier[task](self.drop(self.features(u, v, False)))

    @staticmethod
    def features(u, v, with_cos: bool):
        f = [torch.abs(u - v), u * v]
        if with_cos:
            f.append(F.cosine_similarity(u, v, dim=-1).unsqueeze(-1))
        return torch.cat(f, -1)

    def paraphrase_logit(self, u, v):
        if self.cross["binary"]:  # u is the joint embedding of the pair
            return self.paraphrase(self.drop(u)).squeeze(-1)
        return self.paraphrase(self.drop(self.features(u, v, self.para_head == "baseline+cos"))).squeeze(-1)

    def similarity_score(self, u, v):
        """Similarity in [0, 1] (times the top of the label range gives the label's scale)."""
        if self.cross["regression"]:  # u is the joint embedding of the pair
            return torch.sigmoid(self.similarity(self.drop(u)).squeeze(-1))
        if self.sts_head == "baseline":
            return torch.sigmoid(self.similarity(self.drop(self.features(u, v, False))).squeeze(-1))
        cos = F.cosine_similarity(u.float(), v.float(), dim=-1)
        return torch.sigmoid(cos) if self.sts_head == "cos_sigmoid" else F.relu(cos)

    # -- one task: loss and predictions --------------------------------------------------------------
    def task_outputs(self, task: str, u, v=None):
        """(raw score, prediction) for a task, by its head kind: logits/argmax, logit/(p > .5),
        score/(top of the label range * score)."""
        spec = get_task(task)
        if spec.head == "classifier":
            logits = (self.pair_logits(task, u, v) if spec.is_pair else self.sentiment_logits(task, u)).float()
            return logits, logits.argmax(-1)
        if spec.head == "binary":
            logit = self.paraphrase_logit(u, v).float()
            return logit, (logit > 0).long()  # sigmoid(logit) > 0.5
        score = self.similarity_score(u, v).float()
        return score, spec.scale * score

    def loss(self, task: str, raw, y):
        spec = get_task(task)
        if spec.head == "classifier":
            return F.cross_entropy(raw, y)
        if spec.head == "binary":
            return F.binary_cross_entropy_with_logits(raw, y.float())
        if self.sts_loss == "cosent":
            return cosent_loss(raw, y.float())
        return F.mse_loss(raw, y.float() / spec.scale)

    def head_parameters(self):
        return [p for n, p in self.named_parameters() if not n.startswith("encoder.")]
