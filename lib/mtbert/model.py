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


class Embeddings(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids):
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

    def forward(self, h, mask):
        B, T, H = h.shape
        q, k, v = self.qkv(h).view(B, T, 3, self.n_head, H // self.n_head).permute(2, 0, 3, 1, 4)
        if mask is not None and mask.dtype != q.dtype:  # under autocast q is bf16 while the mask was built in fp32
            mask = mask.to(q.dtype)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.attn_dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(B, T, H)
        return self.LayerNorm(h + self.dropout(self.dense(y)))


class FeedForward(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.intermediate = nn.Linear(c.hidden_size, c.intermediate_size)  # W_1
        self.output = nn.Linear(c.intermediate_size, c.hidden_size)        # W_2
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)
        self.approximate = "none" if c.hidden_act == "gelu" else "tanh"

    def forward(self, a):
        return self.LayerNorm(a + self.dropout(self.output(F.gelu(self.intermediate(a), approximate=self.approximate))))


class Layer(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.attention = SelfAttention(c)
        self.ffn = FeedForward(c)

    def forward(self, h, mask):
        return self.ffn(self.attention(h, mask))


class BertModel(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.layers = nn.ModuleList(Layer(config) for _ in range(config.num_hidden_layers))
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size)
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
        h = self.embeddings(input_ids, token_type_ids)
        # Without padding no mask is needed, which lets SDPA pick its fastest kernel.
        mask = None if bool(attention_mask.all()) else self.attention_bias(attention_mask, h.dtype)
        for layer in self.layers:
            h = layer(h, mask)
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

