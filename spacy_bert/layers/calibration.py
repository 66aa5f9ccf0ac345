"""Calibration input for int8's input ranges: built-in sentences (or fixed pseudo-random ids),
cut to the model's positions. Deterministic, no data file, ~0.1 s of the ~0.5 s an int8 copy
takes to build."""
from __future__ import annotations

import warnings
from typing import Any, Dict, List, Optional

import torch

from ..errors import Warnings

__all__ = ["CALIBRATION_TEXTS", "calibration_batch", "fit_positions"]

#: Built-in calibration text for int8's input ranges (`calibration_batch`): varied English (news,
#: reviews, a tweet, numbers, names, a question, punctuation), so no data file is needed at load.
#: Kept apart from the sentences the tests and bench/int8_error.py measure accuracy on.
CALIBRATION_TEXTS = (
    "The central bank raised interest rates by half a point on Wednesday, its third rise this year.",
    "a gorgeous , witty , seductive movie that never loses its sense of wonder .",
    "@sam_k88 cant believe we lost again lol #mondays",
    "Dr. Maria Sánchez, who studied in Berlin and Tokyo, now leads the lab's protein research team.",
    "Where was the 1998 World Cup final played, and who scored the first goal?",
    "The committee approved 3 of the 12 proposals; the rest were sent back for revision in May.",
    "the script is dull , the pacing is worse , and the ending made no sense to anyone .",
    "Shares of Acme Corp. fell 4.5% after it cut its full-year forecast, citing weak demand in Europe.",
)
#: Piece ids of the data-free calibration (no tokenizer): 8 rows of 32, fixed seed.
CALIBRATION_SHAPE, CALIBRATION_SEED = (8, 32), 0


def calibration_batch(tokenizer: Optional[Any] = None, vocab_size: int = 30522) -> Dict[str, torch.Tensor]:
    """The calibration batch of `input_ranges`: `CALIBRATION_TEXTS` encoded by `tokenizer`
    (padded), or, without one, `CALIBRATION_SHAPE` pseudo-random ids below `vocab_size` from
    a fixed seed (deterministic; for a model used without its tokenizer).

    Returns: {"input_ids": (8, seq) int64, "attention_mask": (8, seq) int64}.
    """
    if tokenizer is not None:
        enc = tokenizer(list(CALIBRATION_TEXTS), padding=True, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    generator = torch.Generator().manual_seed(CALIBRATION_SEED)
    low = min(1000, vocab_size - 1)  # past BERT vocabularies' special and unused entries
    ids = torch.randint(low, vocab_size, CALIBRATION_SHAPE, generator=generator)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def fit_positions(batch: Dict[str, torch.Tensor], limit: int, specials: bool, name: str = "bert") -> Dict[str, torch.Tensor]:
    """`batch` (`calibration_batch`'s) with rows no longer than `limit` positions (the model's
    `max_position_embeddings`); unchanged when they fit.

    A longer row is cut into consecutive windows, as long texts are run: with `specials` (rows
    encoded as `[CLS] pieces [SEP]`) each window is `[CLS]`, up to `limit - 2` of the row's
    pieces, `[SEP]`; without (random ids) plain runs of `limit` ids. Every real piece is in one
    window, so the ranges come from the same text. Warns W751 when it had to cut.

    Args:
        batch: {"input_ids": (rows, seq) int64, "attention_mask": (rows, seq) int64}.
        limit (int): positions the model has.
        specials (bool): rows begin with [CLS] and end with [SEP] (a tokenizer encoded them).
    Returns: the same keys, (windows, <= limit) each, right-padded with the rows' pad id.
    """
    ids, mask = batch["input_ids"], batch["attention_mask"]
    if ids.shape[1] <= limit:
        return batch
    specials = specials and limit >= 3  # a window needs room for [CLS], one piece and [SEP]
    pad = ids[mask == 0][0].item() if bool((mask == 0).any()) else 0
    windows: List[List[int]] = []
    for row, keep in zip(ids.tolist(), mask.bool().tolist()):
        real = [piece for piece, kept in zip(row, keep) if kept]
        if specials:
            cls, body, sep = real[0], real[1:-1], real[-1]
            step = limit - 2
            windows += [[cls, *body[i : i + step], sep] for i in range(0, max(len(body), 1), step)]
        else:
            windows += [real[i : i + limit] for i in range(0, len(real), limit)]
    width = max(len(w) for w in windows)
    input_ids = torch.full((len(windows), width), pad, dtype=ids.dtype)
    attention_mask = torch.zeros((len(windows), width), dtype=mask.dtype)
    for r, window in enumerate(windows):
        input_ids[r, : len(window)] = torch.tensor(window, dtype=ids.dtype)
        attention_mask[r, : len(window)] = 1
    warnings.warn(Warnings.W751.format(name=name, limit=limit, length=ids.shape[1]), UserWarning, stacklevel=3)
    return {"input_ids": input_ids, "attention_mask": attention_mask}
