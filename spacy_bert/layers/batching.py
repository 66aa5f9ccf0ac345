"""Length-sorted packing of windows into padded batches under a piece budget (DESIGN.md decision 2).

All windows of all Docs of a `pipe` batch are sorted by length, longest first, and cut into
consecutive groups whose padded size len(group) * max(length in group) stays within
`max_batch_items` positions. Neighbours in the sorted order have similar lengths, so a
group pads little; the budget bounds the memory of one encoder call. A window longer than
the budget on its own forms a group of one: it is never dropped.

`pad_windows` then builds one group's encoder input, [CLS] content [SEP] padded on the
right, from each text's piece ids and a `WindowPlan`.

This module imports only the standard library and numpy; groups are plain index arrays.
"""
from __future__ import annotations

import operator
from typing import List, Sequence, Tuple

import numpy as np

from ..errors import Errors
from .windows import WindowPlan

__all__ = ["pad_windows", "padding_ratio", "plan_batches"]


def _as_lengths(lengths: Sequence[int]) -> np.ndarray:
    """`lengths` as an int64 array (n,), each checked to be an int >= 0."""
    array = np.asarray(lengths)
    if np.issubdtype(array.dtype, np.integer) and array.ndim == 1:
        values = array.astype(np.int64, copy=False)
    else:
        # Lists of ints, or anything else: operator.index rejects floats and other non-ints.
        values = np.array([operator.index(x) for x in lengths], dtype=np.int64)
    negative = np.flatnonzero(values < 0)
    if len(negative):
        i = int(negative[0])
        raise ValueError(Errors.E305.format(index=i, value=int(values[i])))
    return values


def plan_batches(lengths: Sequence[int], max_batch_items: int) -> List[np.ndarray]:
    """Group windows into batches by length under a budget of padded positions.

    lengths: Sequence[int] (n_windows,) — total positions of each window (content + 2,
        e.g. `WindowPlan.positions`).
    max_batch_items: int >= 1 — the most padded positions, len(group) * max(length), of a group.
    Returns a list of int64 arrays of original window indices; each window is in exactly one
    group. Window indices are sorted by length, longest first (stable: equal lengths keep
    their order), and the groups are consecutive runs of that order, cut greedily. Every
    group respects the budget except a single window longer than it, which is a group alone.
    """
    budget = operator.index(max_batch_items)
    if budget < 1:
        raise ValueError(Errors.E304.format(value=budget))
    values = _as_lengths(lengths)
    # Stable sort on the negated lengths: longest first, ties in their original order.
    order = np.argsort(-values, kind="stable")
    groups: List[np.ndarray] = []
    i, n = 0, len(order)
    # One iteration per group, not per window: the first window of a group is its longest,
    # so the group may hold budget // longest windows (at least one).
    while i < n:
        longest = int(values[order[i]])
        size = max(1, budget // longest) if longest > 0 else n - i
        groups.append(order[i : i + size])
        i += size
    return groups


def padding_ratio(lengths: Sequence[int], groups: Sequence[np.ndarray]) -> float:
    """Padding positions / all positions (float in [0, 1]) when each of `groups` (index
    arrays into `lengths`, Sequence[int]) is padded to its longest window; 0.0 if empty."""
    values = _as_lengths(lengths)
    total = used = 0
    for group in groups:
        if len(group):
            chosen = values[np.asarray(group, dtype=np.int64)]
            total += len(chosen) * int(chosen.max())
            used += int(chosen.sum())
    return (total - used) / total if total else 0.0


def pad_windows(
    piece_ids: Sequence[np.ndarray],
    plan: WindowPlan,
    group: np.ndarray,
    cls_id: int,
    sep_id: int,
    pad_id: int,
) -> Tuple[np.ndarray, np.ndarray]:
    """The padded encoder input of the windows in `group`.

    piece_ids: Sequence of int arrays, per text (n_pieces,) — its piece ids, no special tokens.
    plan: WindowPlan made from those texts' piece counts.
    group: (batch,) int array of window indices (e.g. one of `plan_batches`).
    cls_id, sep_id, pad_id: int — the ids of [CLS], [SEP] and [PAD].
    Returns (input_ids, attention_mask), both (batch, max_len) int64 with
    max_len = 2 + the longest window's length in the group: row r is window group[r] as
    [CLS] content [SEP] then pad_id (right padding); the mask is 1 on those 2 + length
    positions and 0 on padding. An empty group gives arrays of shape (0, 2).
    Raises ValueError (E306) when a window lies outside its text's piece_ids.
    """
    windows = np.asarray(group, dtype=np.int64).reshape(-1)
    lengths = plan.length[windows]
    starts = plan.start[windows]
    texts = plan.text_index[windows]
    max_len = 2 + (int(lengths.max()) if len(windows) else 0)
    input_ids = np.full((len(windows), max_len), pad_id, dtype=np.int64)
    input_ids[:, 0] = cls_id
    # One slice copy per row: a window is a contiguous run of its text's ids.
    for row, (w, t, s, n) in enumerate(zip(windows.tolist(), texts.tolist(), starts.tolist(), lengths.tolist())):
        ids = np.asarray(piece_ids[t])
        if s + n > len(ids):
            raise ValueError(Errors.E306.format(window=w, text=t, start=s, end=s + n, n=len(ids)))
        input_ids[row, 1 : 1 + n] = ids[s : s + n]
        input_ids[row, 1 + n] = sep_id
    attention_mask = (np.arange(max_len) < (lengths + 2)[:, None]).astype(np.int64)
    return input_ids, attention_mask
