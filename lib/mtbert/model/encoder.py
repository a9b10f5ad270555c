"""BERT encoder in one readable file (Devlin et al., 2018), configured from a Hugging Face config.json.

    h_0     = LayerNorm(E_word[x] + E_pos[i] + E_type[t])              (embeddings, then dropout)
    a_l     = LayerNorm(h_{l-1} + Dropout(W_O · MultiHead(h_{l-1})))    (attention, add & norm)
    h_l     = LayerNorm(a_l + Dropout(W_2 · GELU(W_1 · a_l)))           (feed-forward, add & norm)
    pooled  = tanh(W_P · h_L[CLS])                                      (pooler)

MultiHead(h) = Concat_i softmax(Q_i K_i^T / sqrt(d_k) + mask) V_i, computed by PyTorch's
scaled_dot_product_attention. Q, K and V come from one fused projection (one matmul instead of three);
checkpoint.py splits and joins it so that parameter names on disk stay Hugging Face's.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    initializer_range: float = 0.02

    @classmethod
    def from_dict(cls, d: dict) -> "BertConfig":
        """Read a Hugging Face BERT config; keys we do not model are ignored, ones we cannot honour fail."""
        if d.get("model_type", "bert") != "bert":
            raise ValueError(f"config.json has model_type={d.get('model_type')!r}; only 'bert' checkpoints load")
        if d.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported "
                             f"(config has {d['position_embedding_type']!r})")
        if d.get("hidden_act", "gelu") not in ("gelu", "gelu_new", "gelu_pytorch_tanh"):
            raise ValueError(f"unsupported hidden_act {d['hidden_act']!r}; use a gelu BERT checkpoint")
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        return {"model_type": "bert", "architectures": ["BertModel"],
                "position_embedding_type": "absolute", **d}


class BertOutput(NamedTuple):
    last_hidden_state: torch.Tensor  # (B, T, H) every token's state
    cls: torch.Tensor                # (B, H) the [CLS] state h_L[:, 0]
    pooled: torch.Tensor             # (B, H) tanh(W_P h_L[CLS])


class Packing(NamedTuple):
    """Where the real (non-padding) tokens of a (B, T) batch sit, for running the position-wise layers
    (projections, feed-forward, LayerNorm, dropout) on those N tokens only; attention still sees (B, T).

    Outputs at real positions are the padded computation's (up to float rounding): padding keys are masked
    out of every real query's attention, so nothing at a padding position reaches a real one. On CPU the
    dropout masks are even drawn over the full (B, T, H) grid, as nn.Dropout draws them there, and then
    gathered, so a seeded run draws the same random numbers as without packing."""
    keep: torch.Tensor  # (N,) flat indices of the real tokens in the B*T grid
    B: int
    T: int

    @classmethod
    def of(cls, attention_mask: torch.Tensor) -> "Packing":
        B, T = attention_mask.shape
        return cls(attention_mask.reshape(-1).nonzero().squeeze(1), B, T)

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (N, D)"""
        return x.reshape(self.B * self.T, x.shape[-1]).index_select(0, self.keep)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """(N, D) -> (B, T, D), zeros at padding positions."""
        return x.new_zeros(self.B * self.T, x.shape[-1]).index_copy(0, self.keep, x).view(self.B, self.T, -1)

    def dropout(self, mod: nn.Dropout, x: torch.Tensor) -> torch.Tensor:
        if not mod.training or mod.p == 0:
            return x
        if x.device.type != "cpu":
            return mod(x)
        # what ATen's CPU dropout does on the padded (B, T, H) tensor: noise = bernoulli(1 - p) / (1 - p)
        noise = torch.empty(self.B * self.T, x.shape[-1], dtype=x.dtype).bernoulli_(1 - mod.p).div_(1 - mod.p)
        return x * noise.index_select(0, self.keep)


class Embeddings(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids, packing: Packing | None = None):
        if packing is not None:  # real tokens only: (N, H)
            k = packing.keep
            x = (self.word_embeddings(input_ids.reshape(-1)[k]) + self.token_type_embeddings(token_type_ids.reshape(-1)[k])
                 + self.position_embeddings(k % packing.T))
            return packing.dropout(self.dropout, self.LayerNorm(x))
        T = input_ids.shape[1]
        pos = self.position_embeddings.weight[:T]  # positions 0..T-1, broadcast over the batch
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids) + pos
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        if c.hidden_size % c.num_attention_heads:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        self.n_head = c.num_attention_heads
        self.qkv = nn.Linear(c.hidden_size, 3 * c.hidden_size)  # [W_Q; W_K; W_V] fused
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)    # W_O
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.attn_dropout = c.attention_probs_dropout_prob
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, h, mask, packing: Packing | None = None):
        # B batch, T sequence length, H hidden size, nh heads, hs = H / nh head size, N real (unpadded) tokens
        if packing is None:
            B, T, H = h.shape
            qkv = self.qkv(h)  # (B, T, 3H)
        else:  # h is (N, H): project the real tokens only, then lay them out as (B, T) for attention
            B, T, H = packing.B, packing.T, h.shape[-1]
            qkv = packing.pad(self.qkv(h))  # (N, 3H) -> (B, T, 3H)
        # (B, T, 3H) -> (B, T, 3, nh, hs) -> (3, B, nh, T, hs): q, k, v each (B, nh, T, hs)
        q, k, v = qkv.view(B, T, 3, self.n_head, H // self.n_head).permute(2, 0, 3, 1, 4)
        if mask is not None and mask.dtype != q.dtype:  # under autocast q is bf16 while the mask was built in fp32
            mask = mask.to(q.dtype)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,  # mask (B, 1, 1, T) broadcasts over nh, T
                                           dropout_p=self.attn_dropout if self.training else 0.0)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, H)  # (B, T, nh, hs) -> (B, T, H): the heads side by side
        if packing is None:
            return self.LayerNorm(h + self.dropout(self.dense(y)))  # (B, T, H)
        return self.LayerNorm(h + packing.dropout(self.dropout, self.dense(packing.unpad(y))))  # (N, H)


class FeedForward(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.intermediate = nn.Linear(c.hidden_size, c.intermediate_size)  # W_1
        self.output = nn.Linear(c.intermediate_size, c.hidden_size)        # W_2
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)
        self.approximate = "none" if c.hidden_act == "gelu" else "tanh"

    def forward(self, a, packing: Packing | None = None):
        y = self.output(F.gelu(self.intermediate(a), approximate=self.approximate))
        return self.LayerNorm(a + (self.dropout(y) if packing is None else packing.dropout(self.dropout, y)))


class Layer(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.attention = SelfAttention(c)
        self.ffn = FeedForward(c)

    def forward(self, h, mask, packing: Packing | None = None):
        return self.ffn(self.attention(h, mask, packing), packing)


class BertModel(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.layers = nn.ModuleList(Layer(config) for _ in range(config.num_hidden_layers))
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size)
        # unpad=True: with padding in the batch, run the position-wise layers on the real tokens only (see
        # Packing); last_hidden_state is then 0 at padding positions (instead of values nothing should read).
        # Off by default so that every position matches Hugging Face's BertModel; the training engine turns it on.
        self.unpad = False
        self.apply(self._init_weights)

    def _init_weights(self, m):
        # Only used for randomly initialised models (tests); pretrained weights overwrite all of this.
        std = self.config.initializer_range
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=std)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    @staticmethod
    def attention_bias(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """(B, T) 1/0 padding mask -> (B, 1, 1, T) additive bias, built once per forward for all layers."""
        return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min

    def forward(self, input_ids, attention_mask=None, token_type_ids=None) -> BertOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        padded = not bool(attention_mask.all())
        packing = Packing.of(attention_mask) if padded and self.unpad else None
        h = self.embeddings(input_ids, token_type_ids, packing)
        # Without padding no mask is needed, which lets SDPA pick its fastest kernel.
        mask = self.attention_bias(attention_mask, h.dtype) if padded else None
        for layer in self.layers:
            h = layer(h, mask, packing)
        if packing is not None:
            h = packing.pad(h)
        cls = h[:, 0]
        return BertOutput(h, cls, torch.tanh(self.pooler(cls)))

    def num_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= sum(p.numel() for p in self.embeddings.parameters())
        return n


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token states over real (non-padding) tokens: the pooling all-MiniLM-L6-v2 was trained with."""
    m = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    return (last_hidden_state * m).sum(1) / m.sum(1).clamp(min=1e-9)


def layer_index(param_name: str, num_layers: int) -> int:
    """Depth of a parameter for layer-wise learning-rate decay: embeddings 0, layer i -> i+1, pooler L+1."""
    if param_name.startswith("embeddings."):
        return 0
    if param_name.startswith("layers."):
        return int(param_name.split(".")[1]) + 1
    return num_layers + 1

