"""What the merged encoder path gives per Doc (`BertDocOutput`) and takes back (`BertDocGradient`)."""
from dataclasses import dataclass
from typing import Optional

import numpy as np
from thinc.types import Floats1d, Floats2d

from ...tokenization import PieceAlignment

__all__ = ["BertDocGradient", "BertDocOutput"]


@dataclass
class BertDocOutput:
    """The encoder's output for one Doc.

    Attributes:
        piece_ids (np.ndarray): (n_pieces,) int32 WordPiece ids of the whole text, no special tokens.
        piece_offsets (np.ndarray): (n_pieces, 2) int32 char [start, end) of each piece in `doc.text`.
        alignment (PieceAlignment): pieces of each spaCy token.
        last_hidden_state (Optional[Floats2d]): (n_pieces, hidden), each piece from its best
            window; None where a shared `bert` did not keep them (`store_piece_states`).
        pooler_output (Floats1d): (hidden,) the pooled `[CLS]` vector, averaged over the Doc's windows.
        token_vectors (Floats2d): (n_tokens, hidden) pooled over each token's pieces.
        n_windows (int): windows the text was cut into.
    """

    piece_ids: np.ndarray
    piece_offsets: np.ndarray
    alignment: PieceAlignment
    last_hidden_state: Optional[Floats2d]
    pooler_output: Floats1d
    token_vectors: Floats2d
    n_windows: int


@dataclass
class BertDocGradient:
    """Gradients for one Doc's `BertDocOutput`; any field may be None (no gradient)."""

    d_token_vectors: Optional[Floats2d] = None
    d_last_hidden_state: Optional[Floats2d] = None
    d_pooler_output: Optional[Floats1d] = None

    def add(self, other: "BertDocGradient") -> None:
        """Accumulate `other` into this gradient (fields that are None count as zero)."""
        for name in ("d_token_vectors", "d_last_hidden_state", "d_pooler_output"):
            theirs = getattr(other, name)
            if theirs is None:
                continue
            ours = getattr(self, name)
            setattr(self, name, theirs.copy() if ours is None else ours + theirs)
