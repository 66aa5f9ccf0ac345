"""Length-sorted packing of windows into padded batches under a piece budget (DESIGN.md decision 2).

All windows of all Docs of a `pipe` batch are sorted by length, longest first, and cut into
consecutive runs of that order, each padded to its first (longest) window and run as one
encoder forward. `plan_batches` chooses the cuts that minimise

    padded positions + FORWARD_COST * forwards

(a dynamic programme over the sorted lengths), subject to the budget: a group's padded size
len(group) * max(length in group) stays within `max_batch_items` positions, which bounds the
memory of one forward. A window longer than the budget on its own forms a group of one: it is
never dropped. Cutting consecutive runs of the sorted order loses nothing: any grouping can
be rearranged into consecutive runs with the same group sizes and no larger maxima.
`greedy_batches` is the plain budget fill (each group as large as the budget allows), kept
as the baseline the benchmarks and tests compare with.

Batch invariance (`EncoderSettings.batch_invariant`, `invariant_batches`): in their last float
bits, a window's outputs depend on the padded length of its batch (the CPU attention kernel
reduces over it in vector blocks), though not on the content of the other rows. So when a
text's results must not depend on the texts batched with it (a server that batches across
requests, reproducible scores), each window is padded to a length of its own,
`invariant_length` (its positions rounded up to a multiple of INVARIANT_MULTIPLE, at most the
window), and a batch only holds windows of one such length. Products over few rows are the
other source (`modeling.encoder.project_rows`: the pooler always, the masked-LM head in this
mode); the encoder's own products have rows x padded length >= 8 rows, past the few-row kernels
measured on this project's CPUs (1 and 2-3 rows). A minimum of 16 positions was measured too:
it cost short phrases 0.72x instead of 0.81x (bench/RESULTS.md), so it was not kept. `tests/pipeline/test_batch_invariance.py` checks every component. The price is padding
and forwards: about 5-10 % fewer words/s on sentences, up to 20 % on very short phrases in
large batches, none measurable on paragraphs (bench/RESULTS.md), so it is off by default.

`pad_windows` then builds one group's encoder input, [CLS] content [SEP] padded on the
right, from each text's piece ids and a `WindowPlan`; `pad_inputs` does the same for inputs
that may carry a second segment (`[CLS] segment [SEP] content [SEP]`, token type ids 1 from
the content on) and returns a `PaddedBatch` with the special-token mask that hooks need.

This module imports only the standard library and numpy; groups are plain index arrays.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ...errors import Errors
from ..settings import EncoderSettings
from .windows import Counts, WindowPlan, as_counts

__all__ = [
    "FORWARD_COST", "INVARIANT_MULTIPLE", "PaddedBatch", "batches_cost", "greedy_batches", "invariant_batches",
    "invariant_length", "pad_inputs", "pad_windows", "padding_ratio", "plan_batches",
]

# The cost of one encoder forward, in padded positions: the time of a forward beyond its
# positions' share. Measured with bench/forward_cost.py (all-MiniLM-L6-v2, spacy_bert's
# BertModel, torch 2.13 CPU, 1 thread, AMD EPYC 2-core VM, 19 shapes from 1x16 to 64x16 and
# 2x256), fitting time ~ a * positions + b * forwards by least squares; three runs on a busy
# machine gave a = 613 / 732 / 1009 us and b = 17.2 / 14.8 / 27.7 ms, i.e. one forward
# = b / a = 28 / 20 / 27 positions: the median, 27. (The fit ignores attention's quadratic
# term; its residuals stay within about 16 % on these shapes.) A GPU's per-forward cost is
# far larger relative to a position; pass `forward_cost` there.
FORWARD_COST = 27

#: Batch-invariant padded lengths are multiples of this (the number of windows sharing one
#: length, and so the rows per forward, grows with it; so does the padding of each window).
INVARIANT_MULTIPLE = 8


def _sorted(lengths: Counts, max_batch_items: int) -> Tuple[int, np.ndarray, np.ndarray]:
    """(budget, order, sorted lengths): window indices longest first (stable: equal lengths
    keep their order) and their lengths, after checking the arguments."""
    budget = operator.index(max_batch_items)
    EncoderSettings(max_batch_items=budget).validate()
    values = as_counts(lengths, Errors.E305)
    # Stable sort on the negated lengths: longest first, ties in their original order.
    order = np.argsort(-values, kind="stable")
    return budget, order, values[order]


def plan_batches(
    lengths: Counts, max_batch_items: int, forward_cost: int = FORWARD_COST
) -> List[np.ndarray]:
    """Group windows into batches by length, minimising padded positions plus a cost per forward.

    lengths: Counts (n_windows,) — total positions of each window (content + 2,
        e.g. `WindowPlan.positions`).
    max_batch_items: int >= 1 — the most padded positions, len(group) * max(length), of a group.
    forward_cost: int >= 0 — the cost of one group (one encoder forward) in positions
        (default FORWARD_COST; 0 minimises padding alone).
    Returns a list of int64 arrays of original window indices; each window is in exactly one
    group. Window indices are sorted by length, longest first (stable: equal lengths keep
    their order), and the groups are consecutive runs of that order whose total
    `batches_cost` is the least possible. Every group respects the budget except a single
    window longer than it, which is a group alone.

    A dynamic programme over the sorted lengths L (descending): best[j], the least cost of the
    first j windows, is min over i of best[i] + (j - i) * L[i] + forward_cost, for the starts
    i whose group [i, j) fits the budget. At most max_batch_items // L[i] windows fit, so the
    work is O(n * k) for n windows and groups of at most k windows, one numpy step per window.
    """
    budget, order, ordered = _sorted(lengths, max_batch_items)
    try:
        cost = operator.index(forward_cost)
    except TypeError:
        raise TypeError(Errors.E260.format(value=forward_cost)) from None
    if cost < 0:
        raise ValueError(Errors.E260.format(value=forward_cost))
    n = len(ordered)
    if n == 0:
        return []
    # Most windows a group starting at i may hold (>= 1: an oversize window stands alone;
    # a zero length fits any number).
    limit = np.where(ordered > 0, np.maximum(1, budget // np.maximum(ordered, 1)), n)
    best = np.zeros(n + 1, dtype=np.int64)
    # best[i] + (j - i) * L[i] = (best[i] - i * L[i]) + j * L[i]: the first term is fixed once
    # best[i] is known, so each step is one multiply-add and an argmin over the starts.
    offset = np.zeros(n, dtype=np.int64)  # best[i] - i * L[i]
    start_of = np.zeros(n + 1, dtype=np.int64)  # start of the last group of the best cut of j
    first = 0  # smallest feasible start for the current end j; never decreases as j grows
    for j in range(1, n + 1):
        offset[j - 1] = best[j - 1] - (j - 1) * ordered[j - 1]
        # Start i is feasible for end j when j - i <= limit[i]. Lengths fall as i grows, so
        # limit rises and the feasible starts are one run [first, j).
        while j - first > limit[first]:
            first += 1
        candidates = offset[first:j] + j * ordered[first:j]
        pick = int(np.argmin(candidates))  # first minimum: the longest last group
        best[j] = candidates[pick] + cost
        start_of[j] = first + pick
    cuts = []
    j = n
    while j > 0:
        cuts.append((int(start_of[j]), j))
        j = int(start_of[j])
    return [order[i:j] for i, j in reversed(cuts)]


def greedy_batches(lengths: Counts, max_batch_items: int) -> List[np.ndarray]:
    """The plain budget fill: `plan_batches`'s sorted order, cut into groups as large as the
    budget allows (budget // longest windows, at least one). Same arguments and guarantees as
    `plan_batches`; no cost is minimised. The baseline of the benchmarks and tests.
    """
    budget, order, ordered = _sorted(lengths, max_batch_items)
    groups: List[np.ndarray] = []
    i, n = 0, len(order)
    # One iteration per group, not per window: the first window of a group is its longest,
    # so the group may hold budget // longest windows (at least one).
    while i < n:
        longest = int(ordered[i])
        size = max(1, budget // longest) if longest > 0 else n - i
        groups.append(order[i : i + size])
        i += size
    return groups


def invariant_length(positions, window: int):
    """The padded length of a window of `positions` positions (an int >= 1, or an int array of
    them, each mapped) when batches are batch-invariant: rounded up to a multiple of
    INVARIANT_MULTIPLE, but not past `window` (int, the encoder's window: the model may have no
    position beyond it), nor below `positions`. Returns an int (an int64 array for an array)."""
    rounded = -(-np.asarray(positions, dtype=np.int64) // INVARIANT_MULTIPLE) * INVARIANT_MULTIPLE
    lengths = np.maximum(positions, np.minimum(window, rounded))
    return int(lengths) if lengths.ndim == 0 else lengths


def invariant_batches(lengths: Counts, max_batch_items: int, window: int) -> List[Tuple[np.ndarray, int]]:
    """Batches in which a window's padded length depends on that window alone.

    lengths: Counts (n_windows,) — total positions of each window.
    max_batch_items: int >= 1 — the most padded positions, rows x padded length, of a batch.
    window: int — the encoder's window (the longest padded length, see `invariant_length`).
    Returns (group, padded length) pairs: each group an int64 array of window indices, longest
    first (stable), all of one `invariant_length`, as many per group as the budget allows (at
    least one); each window is in exactly one group.
    """
    budget, order, ordered = _sorted(lengths, max_batch_items)
    padded = invariant_length(ordered, window)
    groups: List[Tuple[np.ndarray, int]] = []
    start, n = 0, len(order)
    while start < n:
        length = int(padded[start])
        end = start + int(np.count_nonzero(padded[start:] == length))  # sorted: one run per length
        size = max(1, budget // length)
        groups.extend((order[i : min(i + size, end)], length) for i in range(start, end, size))
        start = end
    return groups


def batches_cost(lengths: Counts, groups: Sequence[np.ndarray], forward_cost: int = FORWARD_COST) -> int:
    """Padded positions of `groups` (index arrays into `lengths`, Sequence[int]) plus
    `forward_cost` per non-empty group: what `plan_batches` minimises."""
    values = as_counts(lengths, Errors.E305)
    total = 0
    for group in groups:
        if len(group):
            total += len(group) * int(values[np.asarray(group, dtype=np.int64)].max()) + forward_cost
    return total


def padding_ratio(lengths: Counts, groups: Sequence[np.ndarray]) -> float:
    """Padding positions / all positions (float in [0, 1]) when each of `groups` (index
    arrays into `lengths`, Sequence[int]) is padded to its longest window; 0.0 if empty."""
    values = as_counts(lengths, Errors.E305)
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
    length: Optional[int] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """The padded encoder input of the windows in `group`.

    piece_ids: Sequence of int arrays, per text (n_pieces,) — its piece ids, no special tokens.
    plan: WindowPlan made from those texts' piece counts.
    group: (batch,) int array of window indices (e.g. one of `plan_batches`).
    cls_id, sep_id, pad_id: int — the ids of [CLS], [SEP] and [PAD].
    length: Optional[int] — pad to at least this many positions (`invariant_batches`).
    Returns (input_ids, attention_mask), both (batch, max_len) int64 with max_len = 2 + the
    longest window's length in the group (or `length` if larger): row r is window group[r] as
    [CLS] content [SEP] then pad_id (right padding); the mask is 1 on those 2 + length
    positions and 0 on padding. An empty group gives arrays of shape (0, 2).
    Raises ValueError (E306) when a window lies outside its text's piece_ids.
    """
    windows = np.asarray(group, dtype=np.int64).reshape(-1)
    lengths = plan.length[windows]
    starts = plan.start[windows]
    texts = plan.text_index[windows]
    max_len = max(2 + (int(lengths.max()) if len(windows) else 0), length or 0)
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


@dataclass
class PaddedBatch:
    """One encoder call's inputs (all arrays numpy, right-padded).

    windows: (batch,) int64 — the plan's window index of each row.
    input_ids: (batch, length) int64 — `[CLS] content [SEP]` or `[CLS] segment [SEP] content [SEP]`.
    attention_mask: (batch, length) int64 — 1 on real positions, 0 on padding.
    token_type_ids: (batch, length) int64 — 1 from a pair's content to its last [SEP], else 0.
    special_mask: (batch, length) bool — True on [CLS], [SEP] and padding (never masked by hooks).
    labels: Optional[(batch, length) int64] — set by a piece hook (-100 where not scored).
    word_ids: Optional[(batch, length) int64] — batch-wide word id of each piece, -1 on special
        positions (whole-word masking; set by the caller that knows the words).
    """

    windows: np.ndarray
    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    special_mask: np.ndarray
    labels: Optional[np.ndarray] = None
    word_ids: Optional[np.ndarray] = None


def pad_inputs(
    piece_ids: Sequence[np.ndarray],
    segment_ids: Sequence[np.ndarray],
    plan: WindowPlan,
    group: np.ndarray,
    cls_id: int,
    sep_id: int,
    pad_id: int,
    length: Optional[int] = None,
) -> PaddedBatch:
    """The padded encoder input of the windows in `group`, with or without second segments.

    piece_ids: per input (n_pieces,) ints — the text's ids, no special tokens.
    segment_ids: per input (n_segment,) ints — the second segment's ids (empty: none).
    plan: the `WindowPlan` of those inputs (`plan_input_windows`).
    group: (batch,) int array of window indices (e.g. one of `plan_batches`).
    length: Optional[int] — pad to at least this many positions (`invariant_batches`).
    Raises ValueError (E306) when a window lies outside its text's piece_ids.
    """
    windows = np.asarray(group, dtype=np.int64).reshape(-1)
    segments = plan.segment_length[windows] if plan.segment_length is not None else np.zeros(len(windows), dtype=np.int64)
    if not segments.any():
        input_ids, attention_mask = pad_windows(piece_ids, plan, windows, cls_id, sep_id, pad_id, length)
        token_type_ids = np.zeros_like(input_ids)
        special_mask = attention_mask == 0
        special_mask[:, 0] = True
        if len(windows):
            special_mask[np.arange(len(windows)), plan.length[windows] + 1] = True
        return PaddedBatch(windows, input_ids, attention_mask, token_type_ids, special_mask)
    lengths = plan.length[windows]
    starts = plan.start[windows]
    texts = plan.text_index[windows]
    positions = plan.positions[windows]
    max_len = max(int(positions.max()), length or 0)
    input_ids = np.full((len(windows), max_len), pad_id, dtype=np.int64)
    token_type_ids = np.zeros((len(windows), max_len), dtype=np.int64)
    special_mask = np.ones((len(windows), max_len), dtype=bool)
    input_ids[:, 0] = cls_id
    for row, (w, t, s, n, q) in enumerate(zip(windows.tolist(), texts.tolist(), starts.tolist(), lengths.tolist(), segments.tolist())):
        ids = np.asarray(piece_ids[t])
        if s + n > len(ids):
            raise ValueError(Errors.E306.format(window=w, text=t, start=s, end=s + n, n=len(ids)))
        at = 1
        if q:
            input_ids[row, 1 : 1 + q] = segment_ids[t]
            special_mask[row, 1 : 1 + q] = False
            input_ids[row, 1 + q] = sep_id
            at = q + 2
        input_ids[row, at : at + n] = ids[s : s + n]
        special_mask[row, at : at + n] = False
        input_ids[row, at + n] = sep_id
        if q:
            token_type_ids[row, q + 2 : at + n + 1] = 1
    attention_mask = (np.arange(max_len) < positions[:, None]).astype(np.int64)
    return PaddedBatch(windows, input_ids, attention_mask, token_type_ids, special_mask)
