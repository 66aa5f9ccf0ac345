"""`token_tags.py`: the BIO rules of `bert_ner` on hand-made alignments (tag rows, continuation
and transparent tokens, orphan and repeated tags, gold targets, aggregation strategies).

Moved from test_ner.py unchanged. Expected values are written by hand from the documented
rules, never from the code under test.
"""
import numpy as np
import pytest

from spacy_bert.pipeline.token_tags import (
    IGNORE,
    decode_entities,
    entity_types,
    gold_targets,
    tag_rows,
    token_pieces,
    token_probabilities,
)
from spacy_bert.tokenization import PieceAlignment

ROWS = ["O", "B-X", "I-X", "B-Y", "I-Y"]


def probs_for(tags, confidence=0.8):
    """Token probabilities with `tags[i]` at `confidence`, the rest shared by the other rows."""
    out = np.full((len(tags), len(ROWS)), (1 - confidence) / (len(ROWS) - 1))
    for i, tag in enumerate(tags):
        out[i, ROWS.index(tag)] = confidence
    return out


def spans(entities):
    return [(e.start, e.end, e.label, round(e.score, 6)) for e in entities]


def test_tag_rows_and_entity_types():
    assert tag_rows(["LOC", "PER"]) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert entity_types(["O", "B-PER", "I-PER", "I-LOC", "B-LOC"]) == ["PER", "LOC"]
    with pytest.raises(ValueError, match="'POS'"):
        entity_types(["O", "POS", "B-X"])


def test_continuation_token_shares_the_first_piece():
    # tokens "can" "not" "go": piece 0 ("cannot") covers the first two, piece 1 is "go"
    tp = token_pieces(PieceAlignment(lengths=[1, 1, 1], piece_indices=[0, 0, 1], n_pieces=2))
    assert tp.first_piece.tolist() == [0, -1, 1]
    assert tp.continuation.tolist() == [False, True, False]
    assert tp.labelled.tolist() == [True, False, True]
    # the continuation joins the entity of its first piece's token ...
    token_probs = probs_for(["B-X", "O", "O"])
    token_probs[1] = 0  # continuation rows are 0 (token_probabilities leaves them so)
    assert spans(decode_entities(token_probs, tp, ROWS)) == [(0, 2, "X", 0.8)]
    # ... and stays outside when that token is
    token_probs = probs_for(["O", "O", "B-Y"])
    token_probs[1] = 0
    assert spans(decode_entities(token_probs, tp, ROWS)) == [(2, 3, "Y", 0.8)]
    # gold: an entity over the continuation is expressible; one ending before it is not,
    # nor one starting on it
    offsets = np.array([[0, 3], [3, 6], [7, 9]])
    row_of = {r: i for i, r in enumerate(ROWS)}
    gold = gold_targets(offsets, tp, 2, [(0, 6, "X")], [], row_of)
    assert gold.inexpressible == [] and gold.piece_rows.tolist() == [1, 0]
    gold = gold_targets(offsets, tp, 2, [(0, 3, "X"), (3, 9, "Y")], [], row_of)
    assert gold.inexpressible == [(0, 3, "X"), (3, 9, "Y")]
    assert gold.piece_rows.tolist() == [IGNORE, IGNORE]


def test_token_with_pieces_of_its_own_is_not_a_continuation():
    # "I do n't know": BERT's piece "don" (1) covers "do" and the "n" of "n't", which also
    # has "'" (2) and "t" (3); "n't" owns 2 and 3, so its label sits on piece 2
    tp = token_pieces(PieceAlignment(lengths=[1, 1, 3, 1], piece_indices=[0, 1, 1, 2, 3, 4], n_pieces=5))
    assert tp.first_piece.tolist() == [0, 1, 2, 4]
    assert tp.continuation.tolist() == [False] * 4
    assert tp.owner.tolist() == [0, 1, 2, 2, 3] and tp.owned_pieces.tolist() == [0, 1, 2, 3, 4]


def test_transparent_token_inside_an_entity():
    # tokens "New" "\n" "York" "\n" "is": the newlines have no pieces
    tp = token_pieces(PieceAlignment(lengths=[1, 0, 1, 0, 1], piece_indices=[0, 1, 2], n_pieces=3))
    assert tp.first_piece.tolist() == [0, -1, 1, -1, 2]
    assert tp.has_pieces.tolist() == [True, False, True, False, True]
    assert tp.continuation.tolist() == [False] * 5
    tags = ["B-X", "O", "I-X", "O", "O"]
    token_probs = probs_for(tags, 0.9)
    token_probs[[1, 3]] = 0
    assert spans(decode_entities(token_probs, tp, ROWS)) == [(0, 3, "X", 0.9)]
    # a transparent token after the last token of an entity is outside it
    token_probs = probs_for(["B-X", "O", "O", "O", "O"], 0.9)
    token_probs[[1, 3]] = 0
    assert spans(decode_entities(token_probs, tp, ROWS)) == [(0, 1, "X", 0.9)]
    token_probs = probs_for(["B-X", "O", "I-X", "O", "B-Y"], 0.9)
    token_probs[[1, 3]] = 0
    assert spans(decode_entities(token_probs, tp, ROWS)) == [(0, 3, "X", 0.9), (4, 5, "Y", 0.9)]
    # gold: across the transparent token is fine, only the transparent token is not
    offsets = np.array([[0, 3], [3, 4], [4, 8], [8, 9], [9, 11]])
    row_of = {r: i for i, r in enumerate(ROWS)}
    gold = gold_targets(offsets, tp, 3, [(0, 8, "Y"), (8, 9, "X")], [], row_of)
    assert gold.inexpressible == [(8, 9, "X")]
    assert gold.piece_rows.tolist() == [3, 4, 0]
    # unannotated (missing) tokens are ignored
    gold = gold_targets(offsets, tp, 3, [], [(9, 11)], row_of)
    assert gold.piece_rows.tolist() == [0, 0, IGNORE]


def test_orphan_inside_tag_starts_an_entity():
    tp = token_pieces(PieceAlignment(lengths=[1, 1, 1, 1], piece_indices=[0, 1, 2, 3], n_pieces=4))
    token_probs = probs_for(["O", "I-X", "I-X", "I-Y"])
    token_probs[1:3, ROWS.index("I-X")] = [0.6, 0.8]
    token_probs[3, ROWS.index("I-Y")] = 0.7
    assert spans(decode_entities(token_probs, tp, ROWS)) == [(1, 3, "X", 0.7), (3, 4, "Y", 0.7)]


def test_repeated_begin_tags_give_two_entities():
    tp = token_pieces(PieceAlignment(lengths=[1, 1, 1], piece_indices=[0, 1, 2], n_pieces=3))
    assert spans(decode_entities(probs_for(["B-X", "B-X", "I-X"]), tp, ROWS)) == [(0, 1, "X", 0.8), (1, 3, "X", 0.8)]


def test_aggregation_strategies_by_hand():
    # token 0 has pieces 0, 1; token 1 has piece 2
    tp = token_pieces(PieceAlignment(lengths=[2, 1], piece_indices=[0, 1, 2], n_pieces=3))
    assert tp.owner.tolist() == [0, 0, 1] and tp.owned_pieces.tolist() == [0, 1, 2]
    probs = np.array([
        [0.5, 0.3, 0.2, 0.0, 0.0],
        [0.1, 0.0, 0.0, 0.9, 0.0],
        [0.2, 0.2, 0.2, 0.2, 0.2],
    ])
    first = token_probabilities(probs, tp, "first")
    assert np.allclose(first, probs[[0, 2]])
    average = token_probabilities(probs, tp, "average")
    assert np.allclose(average[0], [0.3, 0.15, 0.1, 0.45, 0.0]) and np.allclose(average[1], probs[2])
    most = token_probabilities(probs, tp, "max")
    assert np.allclose(most[0], probs[1]) and np.allclose(most[1], probs[2])
    assert spans(decode_entities(first, tp, ROWS)) == []
    assert spans(decode_entities(average, tp, ROWS)) == [(0, 1, "Y", 0.45)]
    assert spans(decode_entities(most, tp, ROWS)) == [(0, 1, "Y", 0.9)]
