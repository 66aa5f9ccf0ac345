"""Long texts become overlapping windows of pieces, never truncation (DESIGN.md decision 1).

Terms (all counts are pieces of one text, without special tokens):

- `window`: the maximum number of positions of one encoder input, INCLUDING [CLS] and [SEP].
  A window therefore holds at most C = window - 2 content pieces; window must be >= 3.
- `stride`: the number of content pieces two consecutive windows share (Hugging Face's
  meaning of `stride`: the overlap, not the step). 0 <= stride < C; the step between window
  starts is C - stride >= 1.

Plan per text of n pieces:

- n <= C: exactly one window [0, n). A text with no pieces is one window of length 0, i.e.
  the input [CLS][SEP], so every text has an output row (e.g. for a [CLS] vector).
- n > C: windows of C pieces starting at 0, step, 2 * step, ... for as long as a window
  ends before the text does; the last window is then shifted left to end exactly at the
  text's end (start n - C). So every window is full length (no short, context-poor tail),
  the tail gets full left context, and the last two windows overlap by at least `stride`.

Merging: the context of piece p in a window [s, s + L) is min(p - s, s + L - 1 - p), the
number of pieces it sees on its poorer side. Each piece takes its output from the window
where that context is largest (ties: the earlier window). `source_window` and
`source_position` give, per text, that window and the position inside it (counting [CLS] as
position 0), so a layer gathers a text's piece outputs as `out[source_window, source_position]`
from the (n_windows, positions, width) encoder output; every piece is gathered exactly once.

Windows are ordered text by text, left to right. This module imports only the standard
library and numpy; the plan is plain integer arrays, usable to index numpy or cupy data.

Pairs (`plan_input_windows`): an input may carry a second segment of q pieces (a question)
that every one of its windows repeats whole, as `[CLS] segment [SEP] text-window [SEP]`. Its
content budget is C = window - 3 - q, and its windows are laid out exactly as Hugging Face's
tokenizer lays out `tokenizer(segment, text, truncation="only_second", max_length=window,
stride=stride, return_overflowing_tokens=True)`: starts 0, step, 2 * step, ... (step = C - stride)
until a window reaches the text's end, each min(C, n - start) long, so the last one may be
short (unlike the single-segment layout, which shifts it left). Merging uses the same rule
(most context, earlier window on ties), and positions count the segment: piece p of a window
starting at s sits at position q + 2 + p - s.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import numpy as np

from ...errors import Errors
from ..settings import DEFAULT_NAMES, EncoderSettings, SettingNames

#: Counts per text or window: a list of ints or a 1-D integer array.
Counts = Union[Sequence[int], np.ndarray]

__all__ = ["WindowPlan", "plan_input_windows", "plan_windows"]


@dataclass(frozen=True, eq=False)
class WindowPlan:
    """Where the windows of a batch of texts lie, and where each piece's output comes from.

    text_index: np.ndarray (n_windows,) int64 — the text each window belongs to.
    start: np.ndarray (n_windows,) int64 — first content piece of the window in its text.
    length: np.ndarray (n_windows,) int64 — content pieces in the window (without [CLS]/[SEP]).
    source_window: List[np.ndarray] — per text, (n_pieces,) int64: for each piece, the index
        of the window where it has the most context.
    source_position: List[np.ndarray] — per text, (n_pieces,) int64: the piece's position
        inside that window, counting [CLS] as position 0 (so piece p is at p - start + 1, or
        at q + 2 + p - start behind a second segment of q pieces).
    segment_length: Optional[np.ndarray] — (n_windows,) int64 pieces of the second segment
        in each window (0: no second segment); None means 0 for every window.

    Equality is identity (`eq=False`): array fields have no single truth value.
    """

    text_index: np.ndarray
    start: np.ndarray
    length: np.ndarray
    source_window: List[np.ndarray]
    source_position: List[np.ndarray]
    segment_length: Optional[np.ndarray] = None

    @property
    def n_windows(self) -> int:
        """Number of windows (int)."""
        return len(self.start)

    @property
    def n_texts(self) -> int:
        """Number of texts (int)."""
        return len(self.source_window)

    @property
    def positions(self) -> np.ndarray:
        """(n_windows,) int64: encoder positions of each window, special tokens and second
        segment included (length + 2, or length + 3 + q for a pair) — the `lengths` that
        `plan_batches` takes."""
        if self.segment_length is None:
            return self.length + 2
        return self.length + 2 + np.where(self.segment_length > 0, self.segment_length + 1, 0)

    @property
    def content_offset(self) -> np.ndarray:
        """(n_windows,) int64: position of each window's first content piece (1 after [CLS],
        q + 2 behind a second segment of q pieces)."""
        if self.segment_length is None:
            return np.ones(len(self.start), dtype=np.int64)
        return np.where(self.segment_length > 0, self.segment_length + 2, 1)


def _check_sizes(window: int, stride: int, names: SettingNames = DEFAULT_NAMES) -> int:
    """The content size C = window - 2 after checking `window` and `stride` (ints; TypeError
    for other types, E354 from `EncoderSettings.validate` for values that cannot work)."""
    window, stride = operator.index(window), operator.index(stride)
    EncoderSettings(window=window, stride=stride).validate(names=names)
    return window - 2


def as_counts(values: Counts, error: str = Errors.E303) -> np.ndarray:
    """`values` (piece counts or window lengths) as an int64 array (n,), each checked to be an
    int >= 0; `error` is the message (with {index} and {value}) for a negative one."""
    array = np.asarray(values)
    if array.ndim == 1 and np.issubdtype(array.dtype, np.integer):
        counts = array.astype(np.int64, copy=False)
    else:
        # Lists of ints, or anything else: operator.index rejects floats and other non-ints.
        counts = np.array([operator.index(n) for n in values], dtype=np.int64)
    negative = np.flatnonzero(counts < 0)
    if len(negative):
        i = int(negative[0])
        raise ValueError(error.format(index=i, value=int(counts[i])))
    return counts


def plan_windows(n_pieces: Counts, window: int, stride: int, names: SettingNames = DEFAULT_NAMES) -> WindowPlan:
    """Plan the windows of texts with `n_pieces` pieces each (Sequence[int], each >= 0).

    window: int >= 3 — maximum positions per window including [CLS] and [SEP].
    stride: int, 0 <= stride < window - 2 — pieces shared by consecutive windows.
    Returns a `WindowPlan` (see the module docstring for the semantics).
    names (SettingNames): what the user calls window and stride (for the messages).
    Raises ValueError (E354 for window and stride, E303) for invalid sizes.

    Vectorised over all texts and pieces at once (no Python loop per text except the final
    split into per-text arrays): a `pipe` batch may hold thousands of short texts.
    """
    content = _check_sizes(window, stride, names)
    step = content - operator.index(stride)
    counts = as_counts(n_pieces)  # (n_texts,)
    n_texts = len(counts)
    # Windows per text: one if it fits; else regular windows start at j * step while they end
    # before the text does (j * step + C < n), and one more, shifted to end at n, closes it.
    n_windows = np.where(counts <= content, 1, -(-(counts - content) // step) + 1)  # (n_texts,)
    first_window = np.zeros(n_texts + 1, dtype=np.int64)
    np.cumsum(n_windows, out=first_window[1:])
    text_index = np.repeat(np.arange(n_texts, dtype=np.int64), n_windows)  # (total_windows,)
    j = np.arange(len(text_index), dtype=np.int64) - first_window[:-1][text_index]  # window in its text
    n = counts[text_index]
    # j * step for the regular windows, n - C for the last of a long text (j * step >= n - C
    # only there), 0 for a text that fits.
    start = np.minimum(j * step, np.maximum(n - content, 0))
    length = np.minimum(n, content)

    # Source window of each piece. All windows of a multi-window text have length C, so the
    # context of p in window j, min(p - s_j, s_j + C - 1 - p), is the tent
    # (C - 1) / 2 - |p - centre_j| with centre_j = s_j + (C - 1) / 2: the best window has the
    # nearest centre. Between windows j and j + 1, p stays in j (the earlier on ties) while
    # p <= bound_j = (s_j + s_{j+1} + C - 1) // 2; the last window of a text takes the rest
    # (bound n - 1). In global piece coordinates (text offset + p) these bounds are sorted
    # across texts and the last is total_pieces - 1, so window w takes exactly the pieces
    # (bound_{w-1}, bound_w]: a repeat, linear in the pieces, assigns them all.
    piece_offset = np.zeros(n_texts + 1, dtype=np.int64)
    np.cumsum(counts, out=piece_offset[1:])
    is_last = j == n_windows[text_index] - 1
    bound = n - 1  # (total_windows,): right for the last window of each text
    if len(start) > 1:
        inner = (start[:-1] + start[1:] + content - 1) // 2
        bound[:-1] = np.where(is_last[:-1], bound[:-1], inner)
    global_start = piece_offset[:-1][text_index] + start  # (total_windows,)
    bound = bound + piece_offset[:-1][text_index]
    taken = np.diff(bound, prepend=-1)  # (total_windows,) pieces whose source is each window
    window_of_piece = np.repeat(np.arange(len(bound), dtype=np.int64), taken)  # (total_pieces,)
    # Position inside the window, [CLS] = 0: global piece - global window start + 1.
    position = np.arange(int(piece_offset[-1]), dtype=np.int64) - np.repeat(global_start - 1, taken)
    # Per-text views by slicing (np.split is several times slower for thousands of texts).
    edges = piece_offset.tolist()
    return WindowPlan(
        text_index=text_index,
        start=start,
        length=length,
        source_window=[window_of_piece[a:b] for a, b in zip(edges, edges[1:])],
        source_position=[position[a:b] for a, b in zip(edges, edges[1:])],
    )


def _pair_windows(index: int, n: int, q: int, window: int, stride: int, names: SettingNames = DEFAULT_NAMES):
    """Hugging Face's only_second windows of one pair input: (starts, lengths, source window,
    source position), int64 arrays. Raises E371 / E372 when the text cannot be windowed."""
    budget = window - 3 - q
    if n <= budget:  # fits whole (also an empty text behind a segment that leaves no room)
        starts = np.zeros(1, dtype=np.int64)
        lengths = np.full(1, n, dtype=np.int64)
    else:
        if budget < 1:
            raise ValueError(Errors.E371.format(index=index, segment=q, window=window, specials=3, budget=budget, n=n, maximum=window - 4, window_name=names.window))
        if stride >= budget:
            raise ValueError(Errors.E372.format(index=index, stride=stride, window=window, specials=3, segment=q, budget=budget, maximum=budget - 1, window_name=names.window, stride_name=names.stride))
        step = budget - stride
        count = -(-(n - budget) // step) + 1  # windows until one reaches the end
        starts = np.arange(count, dtype=np.int64) * step
        lengths = np.minimum(budget, n - starts)
    pieces = np.arange(n, dtype=np.int64)
    # (n_windows, n) context of each piece in each window, -1 outside it; argmax takes the
    # first maximum, i.e. the earlier window on ties.
    left = pieces[None, :] - starts[:, None]
    right = (starts + lengths - 1)[:, None] - pieces[None, :]
    context = np.where((left >= 0) & (right >= 0), np.minimum(left, right), -1)
    best = np.argmax(context, axis=0) if n else np.zeros(0, dtype=np.int64)
    return starts, lengths, best.astype(np.int64), pieces - starts[best] + q + 2


def plan_input_windows(
    n_pieces: Counts, segment_lengths: Optional[Counts], window: int, stride: int, names: SettingNames = DEFAULT_NAMES,
) -> WindowPlan:
    """Plan the windows of inputs whose texts have `n_pieces` pieces and whose second segments
    have `segment_lengths` pieces (0 or None: no second segment).

    Single-segment inputs get exactly `plan_windows`' layout; pair inputs Hugging Face's
    only_second layout (module docstring). Windows stay ordered input by input.
    Raises ValueError: E354 and E303 as `plan_windows`; E371 when a second segment leaves no room
    for a text that needs windows; E372 when stride does not fit a pair's content budget. The
    messages call window and stride by `names`.
    """
    _check_sizes(window, stride, names)
    counts = as_counts(n_pieces)
    segments = np.zeros(len(counts), dtype=np.int64) if segment_lengths is None else as_counts(segment_lengths)
    pairs = np.flatnonzero(segments > 0)
    if not len(pairs):
        plan = plan_windows(counts, window, stride, names)
        return WindowPlan(plan.text_index, plan.start, plan.length, plan.source_window, plan.source_position, np.zeros(plan.n_windows, dtype=np.int64))
    singles = np.flatnonzero(segments == 0)
    single_plan = plan_windows(counts[singles], window, stride, names)
    single_windows = [np.flatnonzero(single_plan.text_index == k) for k in range(len(singles))]
    single_of = {int(i): k for k, i in enumerate(singles)}
    starts, lengths, seg, text_index, source_window, source_position = [], [], [], [], [], []
    n_before = 0
    for i, (n, q) in enumerate(zip(counts.tolist(), segments.tolist())):
        if q == 0:
            k = single_of[i]
            rows = single_windows[k]
            s, L = single_plan.start[rows], single_plan.length[rows]
            src_w = single_plan.source_window[k] - rows[0]
            src_p = single_plan.source_position[k]
        else:
            s, L, src_w, src_p = _pair_windows(i, n, q, window, stride, names)
        starts.append(s)
        lengths.append(L)
        seg.append(np.full(len(s), q, dtype=np.int64))
        text_index.append(np.full(len(s), i, dtype=np.int64))
        source_window.append(src_w + n_before)
        source_position.append(src_p)
        n_before += len(s)
    return WindowPlan(
        text_index=np.concatenate(text_index),
        start=np.concatenate(starts),
        length=np.concatenate(lengths),
        source_window=source_window,
        source_position=source_position,
        segment_length=np.concatenate(seg),
    )
