"""Stage 3, *hooks*: replace piece ids after padding and before the model runs.

A hook sees one padded batch on the host and returns new ids plus labels kept beside them
(Hugging Face's convention: the original id where a position is scored, -100 elsewhere), so
masked-LM training and fill-mask prediction reuse the whole encoder path unchanged. Hooks run
on numpy, before the one host-to-device copy of the batch.
"""
from __future__ import annotations

from typing import Protocol, Tuple

import numpy as np

from ..errors import Errors
from ..modeling import IGNORE_INDEX

__all__ = ["IGNORE_INDEX", "MaskPieces", "PieceHook", "apply_hook"]

class PieceHook(Protocol):
    """(input_ids, attention_mask, special_mask, rng) -> (input_ids, labels).

    input_ids (batch, length) int64, attention_mask (batch, length) int64, special_mask
    (batch, length) bool (True on [CLS], [SEP], padding), rng np.random.Generator. Returns new
    input_ids and labels, both (batch, length) int64. A hook must not modify its arguments.
    """

    def __call__(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, special_mask: np.ndarray, rng: np.random.Generator
    ) -> Tuple[np.ndarray, np.ndarray]: ...


class MaskPieces:
    """BERT's masked-LM corruption: each non-special piece is chosen with `probability`; a
    chosen piece becomes [MASK] with `mask_fraction`, a random piece with `random_fraction`,
    and stays itself otherwise; labels hold the original id of every chosen piece.

    Args:
        mask_id (int): The [MASK] id.
        vocab_size (int): Random replacements are drawn from [0, vocab_size).
        probability (float): Chance that a piece is chosen (BERT: 0.15).
        mask_fraction (float): Share of chosen pieces replaced by [MASK] (BERT: 0.8).
        random_fraction (float): Share of chosen pieces replaced by a random id (BERT: 0.1).
    """

    def __init__(self, mask_id: int, vocab_size: int, probability: float = 0.15, mask_fraction: float = 0.8, random_fraction: float = 0.1) -> None:
        self.mask_id = int(mask_id)
        self.vocab_size = int(vocab_size)
        self.probability = float(probability)
        self.mask_fraction = float(mask_fraction)
        self.random_fraction = float(random_fraction)

    def __call__(self, input_ids, attention_mask, special_mask, rng):
        chosen = (rng.random(input_ids.shape) < self.probability) & ~special_mask
        labels = np.where(chosen, input_ids, IGNORE_INDEX)
        draw = rng.random(input_ids.shape)
        to_mask = chosen & (draw < self.mask_fraction)
        to_random = chosen & (draw >= self.mask_fraction) & (draw < self.mask_fraction + self.random_fraction)
        new_ids = np.where(to_mask, self.mask_id, input_ids)
        new_ids = np.where(to_random, rng.integers(0, self.vocab_size, size=input_ids.shape), new_ids)
        return new_ids.astype(np.int64), labels.astype(np.int64)

    def __repr__(self) -> str:
        return f"MaskPieces(probability={self.probability}, mask_fraction={self.mask_fraction}, random_fraction={self.random_fraction})"


def apply_hook(hook: PieceHook, batch, rng: np.random.Generator):
    """Run `hook` on a `PaddedBatch` and store its ids and labels there (checked shapes, E374)."""
    input_ids, labels = hook(batch.input_ids, batch.attention_mask, batch.special_mask, rng)
    for what, array in (("input_ids", input_ids), ("labels", labels)):
        if np.shape(array) != batch.input_ids.shape:
            raise ValueError(Errors.E374.format(hook=hook, what=what, got=np.shape(array), expected=batch.input_ids.shape))
    batch.input_ids = np.asarray(input_ids, dtype=np.int64)
    batch.labels = np.asarray(labels, dtype=np.int64)
    return batch
