"""Piece -> token pooling: one vector per spaCy token from the vectors of the pieces it overlaps.

Works on thinc ops arrays (numpy or cupy). A token without pieces (whitespace, characters the
normaliser removes) gets a zero vector and no gradient.
"""
from typing import Callable, Tuple

from thinc.api import Ops
from thinc.types import Floats2d, Ints1d

from ...errors import Errors

POOLING_MODES = ("mean", "first", "last", "max")


def check_pooling(mode: str) -> str:
    """`mode` (str) if it is one of `POOLING_MODES`, else ValueError E352: the one check of the
    `pooling` setting (the `bert` component and `spacy-bert.BertEncoder.v1` call it)."""
    if mode not in POOLING_MODES:
        raise ValueError(Errors.E352.format(value=mode, expected=", ".join(POOLING_MODES)))
    return mode

Backprop = Callable[[Floats2d], Floats2d]


def pool_pieces(
    ops: Ops, piece_states: Floats2d, lengths: Ints1d, piece_indices: Ints1d, mode: str
) -> Tuple[Floats2d, Backprop]:
    """Pool piece vectors into token vectors.

    Args:
        ops (Ops): The array backend.
        piece_states (Floats2d): (n_pieces, hidden).
        lengths (Ints1d): (n_tokens,) pieces per token (may be 0).
        piece_indices (Ints1d): (lengths.sum(),) the pieces of each token, token-major.
        mode (str): One of `POOLING_MODES`.

    Returns:
        (token vectors (n_tokens, hidden), backprop: d_tokens (n_tokens, hidden) -> d_pieces (n_pieces, hidden)).
    """
    n_pieces, width = piece_states.shape
    n_tokens = lengths.shape[0]
    gathered = piece_states[piece_indices]  # (sum(lengths), hidden)
    has_pieces = lengths > 0
    nonempty_lengths = ops.asarray1i(lengths[has_pieces])
    if mode == "mean":
        pooled = ops.reduce_mean(gathered, nonempty_lengths)
        back = lambda d: ops.backprop_reduce_mean(d, nonempty_lengths)  # noqa: E731
    elif mode == "first":
        pooled, starts_ends = ops.reduce_first(gathered, nonempty_lengths)
        back = lambda d: ops.backprop_reduce_first(d, starts_ends)  # noqa: E731
    elif mode == "last":
        pooled, lasts = ops.reduce_last(gathered, nonempty_lengths)
        back = lambda d: ops.backprop_reduce_last(d, lasts)  # noqa: E731
    elif mode == "max":
        pooled, which = ops.reduce_max(gathered, nonempty_lengths)
        back = lambda d: ops.backprop_reduce_max(d, which, nonempty_lengths)  # noqa: E731
    else:
        check_pooling(mode)  # raises: the mode is none of the above
    tokens = ops.alloc2f(n_tokens, width, dtype=piece_states.dtype)
    if pooled.shape[0]:
        tokens[has_pieces] = pooled

    def backprop(d_tokens: Floats2d) -> Floats2d:
        d_pieces = ops.alloc2f(n_pieces, width, dtype=d_tokens.dtype)
        if gathered.shape[0]:
            d_gathered = back(ops.xp.ascontiguousarray(d_tokens[has_pieces]))
            # a piece overlapping several tokens receives the sum of their gradients
            ops.scatter_add(d_pieces, piece_indices, d_gathered)
        return d_pieces

    return tokens, backprop
