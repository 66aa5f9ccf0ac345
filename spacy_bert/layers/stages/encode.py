"""Stage 1, *encode*: one WordPiece encoding per input.

An *input* is a Doc's text plus an optional second segment (a question, a sentence B). The
text is the part that is windowed, aligned to tokens and merged; the second segment is short
and repeated whole in every window of its input. Layout of a pair window (Hugging Face's
`tokenizer(segment, text, truncation="only_second")`, as for a question and its context):
`[CLS] segment [SEP] text-window [SEP]` with token_type_ids 0 up to the first [SEP], then 1.

A segment that is None or "" means no pair (as transformers treats an empty `text_pair`).
Piece ids and offsets are int32: the vocabulary and char offsets fit, and Docs stay light.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from ...errors import Errors
from ...tokenization import BertTokenizer
from .timing import timed_stage

__all__ = ["EncodedInputs", "encode_inputs"]

_NO_PIECES = np.zeros(0, dtype=np.int32)


@dataclass(frozen=True, eq=False)
class EncodedInputs:
    """The encodings of a batch of inputs.

    Attributes:
        piece_ids (List[np.ndarray]): per input, (n_pieces,) int32 ids of the text, no specials.
        piece_offsets (List[np.ndarray]): per input, (n_pieces, 2) int32 char [start, end) in the text.
        segment_ids (List[np.ndarray]): per input, (n_segment,) int32 ids of the second segment,
            empty when the input has none.
    """

    piece_ids: List[np.ndarray]
    piece_offsets: List[np.ndarray]
    segment_ids: List[np.ndarray]

    @property
    def n_inputs(self) -> int:
        return len(self.piece_ids)

    @property
    def n_pieces(self) -> np.ndarray:
        """(n_inputs,) int64 pieces of each text."""
        return np.fromiter((len(ids) for ids in self.piece_ids), dtype=np.int64, count=len(self.piece_ids))

    @property
    def segment_lengths(self) -> np.ndarray:
        """(n_inputs,) int64 pieces of each second segment (0: single-segment input)."""
        return np.fromiter((len(ids) for ids in self.segment_ids), dtype=np.int64, count=len(self.segment_ids))


@timed_stage("encode")
def encode_inputs(
    tokenizer: BertTokenizer, texts: Sequence[str], segments: Optional[Sequence[Optional[str]]] = None
) -> EncodedInputs:
    """Encode each text whole (ids and char offsets) and each second segment (ids).

    Args:
        tokenizer (BertTokenizer): The encoder's tokenizer.
        texts (Sequence[str]): One text per input (e.g. `doc.text`).
        segments (Optional[Sequence[Optional[str]]]): One second segment per input, None or ""
            for none; None: no input has one.
    Raises ValueError (E375) when `segments` and `texts` differ in length.
    """
    encoded = tokenizer.encode_batch_with_offsets(list(texts))
    piece_ids = [np.asarray(ids, dtype=np.int32) for ids, _ in encoded]
    piece_offsets = [np.asarray(offsets, dtype=np.int32).reshape(-1, 2) for _, offsets in encoded]
    if segments is None:
        segment_ids = [_NO_PIECES] * len(piece_ids)
    else:
        segments = list(segments)
        if len(segments) != len(piece_ids):
            raise ValueError(Errors.E375.format(got=len(segments), expected=len(piece_ids)))
        present = [i for i, segment in enumerate(segments) if segment]
        segment_ids = [_NO_PIECES] * len(piece_ids)
        if present:
            for i, (ids, _) in zip(present, tokenizer.encode_batch_with_offsets([s for s in segments if s])):
                segment_ids[i] = np.asarray(ids, dtype=np.int32)
    return EncodedInputs(piece_ids=piece_ids, piece_offsets=piece_offsets, segment_ids=segment_ids)
