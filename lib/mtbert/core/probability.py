"""Probabilities from a head's raw outputs (numpy): class logits -> softmax, a binary logit -> sigmoid, and back."""
from __future__ import annotations

import numpy as np


def softmax(logits) -> np.ndarray:
    """Row-wise softmax of (n, k) logits, in their own dtype."""
    logits = np.asarray(logits)
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def sigmoid(logit) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(logit)))


def logit(p) -> np.ndarray:
    """The inverse of sigmoid, with p clipped away from 0 and 1."""
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))
