"""Stage 3, *hooks*: replace piece ids after padding and before the model runs.

A hook sees one padded batch on the host and returns new ids plus labels kept beside them
(Hugging Face's convention: the original id where a position is scored, -100 elsewhere), so
masked-LM training reuses the whole encoder path unchanged. Hooks run on numpy, before the one
host-to-device copy of the batch.

- `MaskPieces`: BERT's 80/10/10 corruption, of pieces or (`whole_word=True`) of whole words;
- `label_pieces`: no corruption; chosen pieces of the texts get a label in the one window
  where they have the most context (fill-mask scores its `[MASK]` pieces, `score_words` its
  candidate pieces). It needs the plan, so it works on all batches at once.
"""
from __future__ import annotations

from typing import List, Optional, Protocol, Sequence, Tuple, cast

import numpy as np

from ...errors import Errors
from ...modeling import IGNORE_INDEX

__all__ = ["IGNORE_INDEX", "MaskPieces", "PieceHook", "apply_hook", "label_pieces", "piece_words"]

class PieceHook(Protocol):
    """(input_ids, attention_mask, special_mask, rng) -> (input_ids, labels).

    input_ids (batch, length) int64, attention_mask (batch, length) int64, special_mask
    (batch, length) bool (True on [CLS], [SEP], padding), rng np.random.Generator. Returns new
    input_ids and labels, both (batch, length) int64. A hook must not modify its arguments.
    A hook whose `uses_words` is true also gets `word_ids` (see `MaskPieces`).
    """

    def __call__(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, special_mask: np.ndarray, rng: np.random.Generator
    ) -> Tuple[np.ndarray, np.ndarray]: ...


class WordHook(Protocol):
    """A `PieceHook` whose `uses_words` is true: also gets `word_ids` (batch, length) int64."""

    def __call__(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, special_mask: np.ndarray, rng: np.random.Generator,
        word_ids: Optional[np.ndarray],
    ) -> Tuple[np.ndarray, np.ndarray]: ...


class MaskPieces:
    """BERT's masked-LM corruption: each non-special piece is chosen with `probability`; a
    chosen piece becomes [MASK] with `mask_fraction`, a random piece with `random_fraction`,
    and stays itself otherwise; labels hold the original id of every chosen piece.

    With `whole_word=True` the unit is a word (a spaCy token) instead of a piece: each word is
    chosen with `probability` and all its pieces are scored; the 80/10/10 choice is made once
    per word, so a chosen word's pieces all become [MASK], all random pieces, or all stay
    (BERT's whole-word release kept the 80/10/10 rule; Hugging Face's v5 collator masks 100 %:
    we keep BERT's). The words come as `word_ids` (batch, length) int64: a batch-wide id of
    the word of each piece, -1 on special positions (`piece_words` makes each piece a word).

    Args:
        mask_id (int): The [MASK] id.
        vocab_size (int): Random replacements are drawn from [0, vocab_size).
        probability (float): Chance that a piece (a word) is chosen (BERT: 0.15).
        mask_fraction (float): Share of chosen pieces replaced by [MASK] (BERT: 0.8).
        random_fraction (float): Share of chosen pieces replaced by a random id (BERT: 0.1).
        whole_word (bool): Choose words, not pieces.
    """

    def __init__(
        self, mask_id: int, vocab_size: int, probability: float = 0.15, mask_fraction: float = 0.8, random_fraction: float = 0.1, whole_word: bool = False
    ) -> None:
        self.mask_id = int(mask_id)
        self.vocab_size = int(vocab_size)
        self.probability = float(probability)
        self.mask_fraction = float(mask_fraction)
        self.random_fraction = float(random_fraction)
        self.whole_word = bool(whole_word)

    @property
    def uses_words(self) -> bool:
        """Whether `apply_hook` must pass `word_ids`."""
        return self.whole_word

    def __call__(self, input_ids, attention_mask, special_mask, rng, word_ids: Optional[np.ndarray] = None):
        if self.whole_word:
            if word_ids is None:
                word_ids = piece_words(special_mask)
            # One draw per word (np.unique's order), spread to its pieces.
            words, inverse = np.unique(word_ids, return_inverse=True)
            inverse = inverse.reshape(word_ids.shape)
            chosen = (rng.random(len(words)) < self.probability)[inverse] & ~special_mask & (word_ids >= 0)
            draw = rng.random(len(words))[inverse]
        else:
            chosen = (rng.random(input_ids.shape) < self.probability) & ~special_mask
            draw = rng.random(input_ids.shape)
        labels = np.where(chosen, input_ids, IGNORE_INDEX)
        to_mask = chosen & (draw < self.mask_fraction)
        to_random = chosen & (draw >= self.mask_fraction) & (draw < self.mask_fraction + self.random_fraction)
        new_ids = np.where(to_mask, self.mask_id, input_ids)
        new_ids = np.where(to_random, rng.integers(0, self.vocab_size, size=input_ids.shape), new_ids)
        return new_ids.astype(np.int64), labels.astype(np.int64)

    def __repr__(self) -> str:
        return (
            f"MaskPieces(probability={self.probability}, mask_fraction={self.mask_fraction}, "
            f"random_fraction={self.random_fraction}, whole_word={self.whole_word})"
        )


def piece_words(special_mask: np.ndarray) -> np.ndarray:
    """(batch, length) int64 word ids where every non-special piece is its own word, -1 on
    special positions (whole-word masking where no words are known, e.g. NSP pairs)."""
    return np.where(special_mask, -1, np.arange(special_mask.size).reshape(special_mask.shape)).astype(np.int64)


def apply_hook(hook: PieceHook, batch, rng: np.random.Generator):
    """Run `hook` on a `PaddedBatch` and store its ids and labels there (checked shapes, E374)."""
    if getattr(hook, "uses_words", False):
        input_ids, labels = cast(WordHook, hook)(batch.input_ids, batch.attention_mask, batch.special_mask, rng, batch.word_ids)
    else:
        input_ids, labels = hook(batch.input_ids, batch.attention_mask, batch.special_mask, rng)
    for what, array in (("input_ids", input_ids), ("labels", labels)):
        if np.shape(array) != batch.input_ids.shape:
            raise ValueError(Errors.E374.format(hook=hook, what=what, got=np.shape(array), expected=batch.input_ids.shape))
    batch.input_ids = np.asarray(input_ids, dtype=np.int64)
    batch.labels = np.asarray(labels, dtype=np.int64)
    return batch


def label_pieces(
    batches: Sequence, plan, text_index: np.ndarray, piece_index: np.ndarray, labels: np.ndarray
) -> List[np.ndarray]:
    """Label chosen pieces where they have the most context; every other position is -100.

    Args:
        batches (Sequence[PaddedBatch]): the padded batches of `plan` (maybe a subset of its
            windows, as long as every chosen piece's source window is among them).
        plan (WindowPlan): the windows of the texts.
        text_index, piece_index (np.ndarray): (n,) int64 the text and the piece (in the text's
            encoding) of each chosen piece.
        labels (np.ndarray): (n,) int64 the label of each.
    Returns, per batch, (n_in_batch,) int64: the chosen pieces (indices into the n) in the
    row-major order of their positions, the order in which boolean indexing yields them.
    Sets `batch.labels` on every batch.
    """
    n_windows = plan.n_windows
    batch_of_window = np.full(n_windows, -1, dtype=np.int64)
    row_of_window = np.zeros(n_windows, dtype=np.int64)
    for b, batch in enumerate(batches):
        batch_of_window[batch.windows] = b
        row_of_window[batch.windows] = np.arange(len(batch.windows))
        batch.labels = np.full(batch.input_ids.shape, IGNORE_INDEX, dtype=np.int64)
    window = np.array([plan.source_window[t][p] for t, p in zip(text_index.tolist(), piece_index.tolist())], dtype=np.int64)
    position = np.array([plan.source_position[t][p] for t, p in zip(text_index.tolist(), piece_index.tolist())], dtype=np.int64)
    which = [np.full(batch.input_ids.shape, -1, dtype=np.int64) for batch in batches]
    for k, (w, pos, label) in enumerate(zip(window.tolist(), position.tolist(), np.asarray(labels).tolist())):
        b, r = int(batch_of_window[w]), int(row_of_window[w])
        batches[b].labels[r, pos] = label
        which[b][r, pos] = k
    return [w[w >= 0] for w in which]
