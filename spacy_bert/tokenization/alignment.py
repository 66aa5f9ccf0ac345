"""Align the WordPiece pieces of a text to its spaCy tokens by character offsets.

The rule (DESIGN.md, `tokenization/`): a piece belongs to every token it overlaps, where
[a, b) and [c, d) overlap when a < d and c < b. A token may have zero pieces (whitespace
tokens, characters the normaliser removes such as control characters or combining accents
on their own); a piece may belong to several tokens (spaCy splits "don't" inside one piece, a
`Doc(vocab, words=...)` may cut a word anywhere). A zero-width piece (start == end, which
the BERT normaliser does not produce but other pipelines may) belongs to the token that
contains its start (t_start <= start < t_end). A zero-width token [s, s) follows the
overlap rule: it gets the pieces that strictly contain s.

The result is token-major, the layout of thinc's `Ragged`: `lengths[i]` pieces for token i,
their indices listed in `piece_indices` one token after the other. A layer above pools piece
vectors into token vectors with `X[alignment.piece_indices]` and `alignment.lengths` (numpy
or cupy alike: the plan is plain integer arrays).

This module imports only the standard library and numpy.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Optional

import numpy as np

from ..errors import Errors

__all__ = ["PieceAlignment", "align_pieces_to_tokens"]


@dataclass(frozen=True, eq=False)
class PieceAlignment:
    """WordPiece pieces of one text aligned to its spaCy tokens, token-major (thinc's Ragged layout).

    lengths: np.ndarray (n_tokens,) int32 — number of pieces overlapping each token (may be 0).
    piece_indices: np.ndarray (lengths.sum(),) int32 — token 0's pieces, then token 1's, ...;
        ascending within each token. Indices count the text's pieces without special tokens
        (0 = first piece).
    n_pieces: int — the number of pieces of the text (pieces that belong to no token included).
    token_starts: np.ndarray (n_tokens + 1,) int32 — offsets into `piece_indices`: token i's
        pieces are piece_indices[token_starts[i]:token_starts[i + 1]]. Computed, not passed.

    Treat the arrays as read-only: a plan is shared between a forward pass and its backprop.
    They are left writeable because thinc's Cython ops (reduce_mean, ...) reject read-only
    buffers. Equality is identity (`eq=False`): array fields have no single truth value.
    """

    lengths: np.ndarray
    piece_indices: np.ndarray
    n_pieces: int
    token_starts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        lengths = np.array(self.lengths, dtype=np.int32).reshape(-1)
        piece_indices = np.array(self.piece_indices, dtype=np.int32).reshape(-1)
        n_pieces = operator.index(self.n_pieces)
        token_starts = np.zeros(len(lengths) + 1, dtype=np.int32)
        np.cumsum(lengths, out=token_starts[1:])
        # Internal invariants: align_pieces_to_tokens always satisfies them.
        assert len(lengths) == 0 or lengths.min() >= 0, "negative token length"
        assert token_starts[-1] == len(piece_indices), "lengths.sum() != len(piece_indices)"
        assert len(piece_indices) == 0 or (0 <= piece_indices.min() and piece_indices.max() < n_pieces)
        object.__setattr__(self, "lengths", lengths)
        object.__setattr__(self, "piece_indices", piece_indices)
        object.__setattr__(self, "n_pieces", n_pieces)
        object.__setattr__(self, "token_starts", token_starts)

    @property
    def n_tokens(self) -> int:
        """Number of tokens (int)."""
        return len(self.lengths)

    def pieces_of(self, token_index: int) -> np.ndarray:
        """The piece indices (int32, ascending, possibly empty) of token `token_index` (int;
        negative counts from the end, as in a list)."""
        i = operator.index(token_index)
        if not -self.n_tokens <= i < self.n_tokens:
            raise IndexError(Errors.E235.format(index=i, n_tokens=self.n_tokens))
        i %= self.n_tokens
        return self.piece_indices[self.token_starts[i] : self.token_starts[i + 1]]

    @cached_property
    def first_piece(self) -> np.ndarray:
        """(n_tokens,) int32: each token's first piece, -1 for tokens with no piece."""
        has = self.lengths > 0
        out = np.full(self.n_tokens, -1, dtype=np.int32)
        out[has] = self.piece_indices[self.token_starts[:-1][has]]
        return out

    @cached_property
    def last_piece(self) -> np.ndarray:
        """(n_tokens,) int32: each token's last piece, -1 for tokens with no piece."""
        has = self.lengths > 0
        out = np.full(self.n_tokens, -1, dtype=np.int32)
        out[has] = self.piece_indices[self.token_starts[1:][has] - 1]
        return out

    @cached_property
    def tokens_of_piece(self) -> np.ndarray:
        """(n_pieces,) int32: the FIRST token (lowest index) each piece overlaps, -1 if none."""
        out = np.full(self.n_pieces, -1, dtype=np.int32)
        if len(self.piece_indices):
            token_of_entry = np.repeat(np.arange(self.n_tokens, dtype=np.int32), self.lengths)
            # Entries are token-major, so the first occurrence of a piece has its lowest token.
            pieces, first = np.unique(self.piece_indices, return_index=True)
            out[pieces] = token_of_entry[first]
        return out


def _as_offsets(name: str, offsets: Any) -> np.ndarray:
    """`offsets` (sequence of (start, end) or array (n, 2)) as an int64 array (n, 2), checked."""
    array = np.asarray(offsets)
    if array.size == 0:
        # [] has no shape (0, 2) nor an integer dtype; it is still "no offsets".
        return np.zeros((0, 2), dtype=np.int64)
    if array.ndim != 2 or array.shape[1] != 2 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(Errors.E231.format(name=name, shape=array.shape, dtype=array.dtype))
    array = array.astype(np.int64, copy=False)
    bad = np.flatnonzero((array[:, 0] < 0) | (array[:, 1] < array[:, 0]))
    if len(bad):
        i = int(bad[0])
        raise ValueError(Errors.E232.format(name=name, index=i, offset=tuple(int(x) for x in array[i])))
    return array


def align_pieces_to_tokens(
    piece_offsets: Any, token_offsets: Any, n_pieces: Optional[int] = None
) -> PieceAlignment:
    """Align pieces to tokens by char offsets (see the module docstring for the rule).

    piece_offsets: (n_pieces, 2) ints — char [start, end) of each piece of the text, as
        `BertTokenizer.encode_with_offsets` (i.e. `tokenizers`) gives them: starts and ends
        non-decreasing. A list of tuples or an integer array.
    token_offsets: (n_tokens, 2) ints — char [start, end) of each spaCy token,
        (token.idx, token.idx + len(token)). Tokens need not be sorted.
    n_pieces: int, optional — the text's piece count; if given it must equal
        len(piece_offsets) (a check that ids and offsets belong together).
    Returns a `PieceAlignment`.

    O((n_pieces + n_tokens) log n_pieces), without a Python loop over tokens or pieces.
    """
    pieces = _as_offsets("piece_offsets", piece_offsets)
    tokens = _as_offsets("token_offsets", token_offsets)
    if n_pieces is None:
        n_pieces = len(pieces)
    elif operator.index(n_pieces) != len(pieces):
        raise ValueError(Errors.E233.format(n_pieces=n_pieces, n_offsets=len(pieces)))
    p_start = pieces[:, 0]
    # A zero-width piece [x, x) belongs to the token with t_start <= x < t_end, i.e.
    # t_start < x + 1: treating its end as x + 1 makes the one overlap test below cover it.
    # For pieces of width >= 1 the end is unchanged.
    p_end = np.maximum(pieces[:, 1], p_start + 1)
    # The searchsorted runs below are only right if both are sorted; tokenizers' offsets are.
    for what, values in (("starts", p_start), ("ends", p_end)):
        down = np.flatnonzero(values[1:] < values[:-1])
        if len(down):
            i = int(down[0])
            raise ValueError(
                Errors.E234.format(
                    what=what,
                    index=i + 1,
                    offset=tuple(int(x) for x in pieces[i + 1]),
                    previous=tuple(int(x) for x in pieces[i]),
                )
            )
    t_start, t_end = tokens[:, 0], tokens[:, 1]
    # Piece p overlaps token [s, e) iff p_start < e and s < p_end. With both sorted, the
    # first condition holds on a prefix of the pieces and the second on a suffix, so the
    # token's pieces are the contiguous run [lo, hi).
    hi = np.searchsorted(p_start, t_end, side="left")
    lo = np.searchsorted(p_end, t_start, side="right")
    lengths = np.maximum(hi - lo, 0)
    total = int(lengths.sum())
    token_starts = np.zeros(len(tokens) + 1, dtype=np.int64)
    np.cumsum(lengths, out=token_starts[1:])
    # Concatenated ranges lo[i] .. lo[i] + lengths[i], built without a loop:
    # entry k of token i is lo[i] + (k - token_starts[i]).
    piece_indices = np.arange(total, dtype=np.int64) + np.repeat(lo - token_starts[:-1], lengths)
    return PieceAlignment(lengths=lengths, piece_indices=piece_indices, n_pieces=int(n_pieces))
