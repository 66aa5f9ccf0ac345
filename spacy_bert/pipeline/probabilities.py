"""Logits -> probabilities (numpy), shared by the task components."""
import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (shifted by the row maximum, so it never overflows)."""
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Elementwise logistic function, without overflow for large negative logits."""
    exp = np.exp(-np.abs(logits))
    return np.where(logits >= 0, 1.0 / (1.0 + exp), exp / (1.0 + exp))
