"""BIO tags on WordPieces: gold entities -> training targets, piece scores -> entity spans.

The unit that carries a label is the spaCy token ("word" in Hugging Face's terms): its label
sits on its first WordPiece, and its other pieces are ignored in the loss, as Hugging Face
trains token classification. Some tokens cannot carry a label of their own:

- a token without pieces (whitespace, characters the normaliser removes) is *transparent*:
  it is inside an entity when the tokens around it are;
- a token all of whose pieces started in earlier tokens (e.g. spaCy's "not" in "cannot", where
  BERT has the single piece "cannot") is a *continuation*: it joins whatever its pieces belong
  to. A token that shares its first piece with an earlier one but has pieces of its own ("n't"
  after "do": pieces "don", "'", "t") is labelled on its first own piece ("'").

Everything here works on numpy arrays; no spaCy objects, no torch.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import Errors
from ..tokenization import PieceAlignment

OUTSIDE = "O"
AGGREGATION_STRATEGIES = ("first", "average", "max")
IGNORE = -1


def tag_rows(labels: Sequence[str]) -> List[str]:
    """The classifier rows of a fresh head: "O", then "B-X", "I-X" for each label."""
    return [OUTSIDE] + [f"{prefix}-{label}" for label in labels for prefix in ("B", "I")]


def entity_types(rows: Sequence[str]) -> List[str]:
    """Entity types of IOB2 rows, in order of first appearance.

    Raises:
        ValueError: listing the rows that are not "O", "B-X" or "I-X".
    """
    bad = [r for r in rows if r != OUTSIDE and not (len(r) > 2 and r[:2] in ("B-", "I-"))]
    if bad:
        raise ValueError(", ".join(repr(r) for r in bad))
    types: List[str] = []
    for row in rows:
        if row != OUTSIDE and row[2:] not in types:
            types.append(row[2:])
    return types


@dataclass
class TokenPieces:
    """Which pieces label which token.

    Attributes:
        first_piece (np.ndarray): (n_tokens,) int64, the piece carrying the token's label, or
            -1 for transparent and continuation tokens.
        has_pieces (np.ndarray): (n_tokens,) bool.
        owned_pieces (np.ndarray): (n_owned,) int64 pieces owned by labelled tokens ...
        owner (np.ndarray): (n_owned,) int64 ... and the token owning each (ascending).
    """

    first_piece: np.ndarray
    has_pieces: np.ndarray
    owned_pieces: np.ndarray
    owner: np.ndarray

    @property
    def labelled(self) -> np.ndarray:
        return self.first_piece >= 0

    @property
    def continuation(self) -> np.ndarray:
        return self.has_pieces & (self.first_piece < 0)


def token_pieces(alignment: PieceAlignment) -> TokenPieces:
    """A token owns its pieces that no earlier token has; its first owned piece carries its label."""
    lengths = alignment.lengths.astype(np.int64)
    pieces = alignment.piece_indices.astype(np.int64)
    starts = alignment.token_starts.astype(np.int64)
    n_tokens = len(lengths)
    has_pieces = lengths > 0
    last = np.where(has_pieces, pieces[np.maximum(starts[1:] - 1, 0)] if len(pieces) else -1, -1)
    # The highest piece of all earlier tokens.
    prev_max = np.concatenate([[-1], np.maximum.accumulate(last)[:-1]]) if n_tokens else np.zeros(0, np.int64)
    entry_token = np.repeat(np.arange(n_tokens), lengths)
    owned = pieces > prev_max[entry_token]
    owned_tokens = entry_token[owned]
    owned_pieces = pieces[owned]
    first_piece = np.full(n_tokens, -1, dtype=np.int64)
    # Owned pieces are ascending, so the first entry of each token is its first owned piece.
    is_first = np.ones(len(owned_tokens), dtype=bool)
    is_first[1:] = owned_tokens[1:] != owned_tokens[:-1]
    first_piece[owned_tokens[is_first]] = owned_pieces[is_first]
    return TokenPieces(first_piece=first_piece, has_pieces=has_pieces, owned_pieces=owned_pieces, owner=owned_tokens)


def token_probabilities(probs: np.ndarray, tp: TokenPieces, strategy: str) -> np.ndarray:
    """(n_tokens, n_rows) label probabilities of each labelled token (rows of other tokens are 0).

    strategy: "first" (the first piece's), "average" (mean over the token's pieces) or "max"
        (the piece with the most confident prediction) — Hugging Face's aggregation strategies.
    """
    n_tokens = len(tp.first_piece)
    out = np.zeros((n_tokens, probs.shape[1]), dtype=probs.dtype)
    labelled = tp.labelled
    if strategy == "first":
        out[labelled] = probs[tp.first_piece[labelled]]
    elif strategy == "average":
        np.add.at(out, tp.owner, probs[tp.owned_pieces])
        counts = np.bincount(tp.owner, minlength=n_tokens)
        out[labelled] /= counts[labelled, None]
    elif strategy == "max":
        confidence = probs[tp.owned_pieces].max(axis=1)
        order = np.lexsort((-confidence, tp.owner))  # by token, most confident first
        owner_sorted = tp.owner[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = owner_sorted[1:] != owner_sorted[:-1]
        out[owner_sorted[first]] = probs[tp.owned_pieces[order[first]]]
    else:
        raise ValueError(Errors.E362.format(value=strategy, expected=", ".join(AGGREGATION_STRATEGIES)))
    return out


@dataclass
class EntitySpan:
    """An entity over tokens [start, end) with its label and confidence."""

    start: int
    end: int
    label: str
    score: float


def decode_entities(token_probs: np.ndarray, tp: TokenPieces, rows: Sequence[str]) -> List[EntitySpan]:
    """Valid, non-overlapping entities from token label probabilities.

    "B-X" starts an entity; "I-X" continues an entity of type X and otherwise starts one (as
    Hugging Face's pipeline and seqeval read it: an I- without a start is never dropped);
    "O" ends it. Continuation tokens extend the current entity; transparent tokens are inside
    only when the entity goes on after them.
    """
    best = token_probs.argmax(axis=1)
    confidence = token_probs.max(axis=1)
    entities: List[EntitySpan] = []
    current: Optional[List] = None  # [start, end, label, scores]

    def close() -> None:
        nonlocal current
        if current is not None:
            entities.append(EntitySpan(current[0], current[1], current[2], float(np.mean(current[3]))))
            current = None

    for i in range(len(tp.first_piece)):
        if not tp.has_pieces[i]:
            continue
        if tp.first_piece[i] < 0:
            if current is not None:
                current[1] = i + 1
            continue
        tag = rows[best[i]]
        if tag == OUTSIDE:
            close()
            continue
        prefix, label = tag[0], tag[2:]
        if prefix == "B" or current is None or current[2] != label:
            close()
            current = [i, i + 1, label, [confidence[i]]]
        else:
            current[1] = i + 1
            current[3].append(confidence[i])
    close()
    return entities


@dataclass
class GoldTargets:
    """Training targets of one Doc.

    Attributes:
        piece_rows (np.ndarray): (n_pieces,) int64 the gold row of each piece, IGNORE (-1) for
            pieces that carry no label (continuation pieces, unannotated or inexpressible tokens).
        inexpressible (List[Tuple[int, int, str]]): gold entities (char start, end, label) that
            the tokens' pieces cannot express.
    """

    piece_rows: np.ndarray
    inexpressible: List[Tuple[int, int, str]]


def gold_targets(
    token_offsets: np.ndarray,
    tp: TokenPieces,
    n_pieces: int,
    entities: Sequence[Tuple[int, int, str]],
    missing: Sequence[Tuple[int, int]],
    row_of: Dict[str, int],
) -> GoldTargets:
    """Place gold entities (by char offsets) on the predicted tokens' pieces.

    Args:
        token_offsets (np.ndarray): (n_tokens, 2) char [start, end) of the predicted tokens.
        tp (TokenPieces): the tokens' pieces.
        n_pieces (int): pieces of the text.
        entities: gold (char start, char end, label).
        missing: char ranges whose annotation is unknown (their tokens are ignored).
        row_of: tag -> classifier row.

    An entity is expressible when it starts and ends on token boundaries, its first and last
    tokens have pieces, its first token carries its own label, and the token after it is not a
    continuation of it; labels must have rows. Tokens of an inexpressible entity are ignored.
    """
    n_tokens = len(tp.first_piece)
    token_rows = np.full(n_tokens, row_of[OUTSIDE], dtype=np.int64)
    starts, ends = token_offsets[:, 0], token_offsets[:, 1]
    for start, end in missing:
        token_rows[(starts < end) & (ends > start)] = IGNORE
    inexpressible: List[Tuple[int, int, str]] = []
    with_pieces = np.flatnonzero(tp.has_pieces)
    for start, end, label in entities:
        inside = np.flatnonzero((starts < end) & (ends > start))
        ok = (
            len(inside) > 0
            and starts[inside[0]] == start
            and ends[inside[-1]] == end
            and tp.has_pieces[inside[0]]
            and tp.has_pieces[inside[-1]]
            and tp.first_piece[inside[0]] >= 0
            and f"B-{label}" in row_of
            and f"I-{label}" in row_of
        )
        if ok:
            after = with_pieces[with_pieces > inside[-1]]
            ok = not (len(after) and tp.first_piece[after[0]] < 0)
        if not ok:
            inexpressible.append((start, end, label))
            token_rows[inside] = IGNORE
            continue
        token_rows[inside] = row_of[f"I-{label}"]
        token_rows[inside[0]] = row_of[f"B-{label}"]
    piece_rows = np.full(n_pieces, IGNORE, dtype=np.int64)
    labelled = tp.labelled
    piece_rows[tp.first_piece[labelled]] = token_rows[labelled]
    return GoldTargets(piece_rows=piece_rows, inexpressible=inexpressible)
