"""`doc._.bert`: what the `bert` component leaves on a Doc.

The data is stored in `doc.user_data` as plain numpy arrays (so Docs pickle, `DocBin` and
`nlp.pipe(n_process=...)` carry it); `doc._.bert` returns a `BertDocData` view of it.
Everything is on the CPU (numpy), never GPU tensors.
"""
from dataclasses import dataclass
from typing import Any, Dict, Optional, cast

import numpy as np
from spacy.tokens import Doc
from thinc.types import Ints1d, Ragged

from ..errors import Errors

EXTENSION = "bert"
_USER_DATA_KEY = ("spacy_bert", "bert")


def user_data(doc: Doc) -> Dict[Any, Any]:
    """`doc.user_data`, whose keys are tuples as spaCy's own (its stubs say str)."""
    return cast(Dict[Any, Any], doc.user_data)


@dataclass
class BertDocData:
    """The BERT view of one Doc.

    Attributes:
        piece_ids (np.ndarray): (n_pieces,) int32 WordPiece ids of `doc.text`, no special tokens.
        piece_offsets (np.ndarray): (n_pieces, 2) int32 char [start, end) of each piece.
        lengths (np.ndarray): (n_tokens,) int32 pieces of each spaCy token (0 for whitespace
            tokens and characters the normaliser removes).
        piece_indices (np.ndarray): (lengths.sum(),) int32 the pieces of each token, token-major
            (thinc `Ragged` layout: `Ragged(last_hidden_state[piece_indices], lengths)`).
        last_hidden_state (Optional[np.ndarray]): (n_pieces, hidden) float32, each piece from the
            window where it has the most context; None unless the component keeps piece
            states (`store_piece_states`: true, or null while a listening component such as
            `bert_ner` reads them).
        pooler_output (np.ndarray): (hidden,) the pooled `[CLS]` vector (mean over windows).
        n_windows (int): windows the text was encoded in.
    """

    piece_ids: np.ndarray
    piece_offsets: np.ndarray
    lengths: np.ndarray
    piece_indices: np.ndarray
    last_hidden_state: Optional[np.ndarray]
    pooler_output: np.ndarray
    n_windows: int

    def pieces_of(self, token_index: int) -> np.ndarray:
        """Piece indices of token `token_index`."""
        starts = np.concatenate([[0], np.cumsum(self.lengths)])
        return self.piece_indices[starts[token_index] : starts[token_index + 1]]

    def as_ragged(self) -> Ragged:
        """The piece states of each token as a thinc `Ragged` ((lengths.sum(), hidden) data)."""
        if self.last_hidden_state is None:
            raise ValueError(Errors.E395)
        return Ragged(self.last_hidden_state[self.piece_indices], cast(Ints1d, self.lengths))

    def to_dict(self) -> Dict[str, Any]:
        return dict(vars(self))


def _get(doc: Doc) -> Optional[BertDocData]:
    data = user_data(doc).get(_USER_DATA_KEY)
    return None if data is None else BertDocData(**data)


def _set(doc: Doc, value: Optional[BertDocData]) -> None:
    if value is None:
        user_data(doc).pop(_USER_DATA_KEY, None)
    else:
        user_data(doc)[_USER_DATA_KEY] = value.to_dict()


def install_extension() -> None:
    """Register `Doc._.bert` (idempotent)."""
    if not Doc.has_extension(EXTENSION):
        Doc.set_extension(EXTENSION, getter=_get, setter=_set)
