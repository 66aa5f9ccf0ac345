"""Alignment of WordPiece pieces to spaCy tokens by char offsets.

Expected values come from the hand examples written here or from a brute-force O(n * m)
reference of the rule (a piece belongs to every token it overlaps), never from the
vectorised implementation itself.
"""
import re
import time
from typing import List, Sequence, Tuple

import numpy as np
import pytest
import spacy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc

from spacy_bert import BertTokenizer
from spacy_bert.tokenization import PieceAlignment, align_pieces_to_tokens

Offsets = List[Tuple[int, int]]


@pytest.fixture(scope="module")
def tok(minilm_dir) -> BertTokenizer:
    return BertTokenizer.from_pretrained(minilm_dir)


@pytest.fixture(scope="module")
def nlp():
    return spacy.blank("en")


def token_offsets(doc: Doc) -> Offsets:
    return [(t.idx, t.idx + len(t)) for t in doc]


def reference(piece_offsets: Sequence[Tuple[int, int]], token_offsets: Sequence[Tuple[int, int]]) -> List[List[int]]:
    """Brute force: for each token, the pieces it owns under the rule, ascending."""
    out = []
    for ts, te in token_offsets:
        own = []
        for p, (ps, pe) in enumerate(piece_offsets):
            if ps == pe:
                hit = ts <= ps < te
            else:
                hit = ps < te and ts < pe
            if hit:
                own.append(p)
        out.append(own)
    return out


def as_lists(alignment: PieceAlignment) -> List[List[int]]:
    return [alignment.pieces_of(i).tolist() for i in range(alignment.n_tokens)]


def check_against_reference(alignment: PieceAlignment, pieces: Offsets, tokens: Offsets) -> None:
    expected = reference(pieces, tokens)
    assert as_lists(alignment) == expected
    assert alignment.lengths.dtype == np.int32 and alignment.piece_indices.dtype == np.int32
    assert alignment.token_starts.dtype == np.int32
    assert alignment.lengths.tolist() == [len(e) for e in expected]
    assert alignment.piece_indices.tolist() == [p for e in expected for p in e]
    assert alignment.token_starts.tolist() == np.concatenate([[0], np.cumsum([len(e) for e in expected])]).tolist()
    assert alignment.n_pieces == len(pieces)
    assert alignment.first_piece.tolist() == [e[0] if e else -1 for e in expected]
    assert alignment.last_piece.tolist() == [e[-1] if e else -1 for e in expected]
    first_token = [next((i for i, e in enumerate(expected) if p in e), -1) for p in range(len(pieces))]
    assert alignment.tokens_of_piece.tolist() == first_token


# ---- hand examples -------------------------------------------------------------------


def test_piece_spanning_two_tokens_dont(tok, nlp):
    text = "I don't know."
    doc = nlp(text)
    assert [t.text for t in doc] == ["I", "do", "n't", "know", "."]
    ids, pieces = tok.encode_with_offsets(text)
    # "don" is one piece over spaCy's "do" and the "n" of "n't".
    assert pieces == [(0, 1), (2, 5), (5, 6), (6, 7), (8, 12), (12, 13)]
    alignment = align_pieces_to_tokens(pieces, token_offsets(doc), n_pieces=len(ids))
    assert as_lists(alignment) == [[0], [1], [1, 2, 3], [4], [5]]
    assert alignment.tokens_of_piece.tolist() == [0, 1, 2, 2, 3, 4]
    assert alignment.first_piece.tolist() == [0, 1, 1, 4, 5]
    assert alignment.last_piece.tolist() == [0, 1, 3, 4, 5]
    assert alignment.token_starts.tolist() == [0, 1, 2, 5, 6, 7]


def test_tokens_split_inside_a_word(tok, nlp):
    # A Doc whose tokens cut "unbelievably" where WordPiece does not: un|bel|ie|va|bly.
    doc = Doc(nlp.vocab, words=["unb", "eliev", "ably", "!"], spaces=[False, False, False, False])
    ids, pieces = tok.encode_with_offsets(doc.text)
    assert pieces == [(0, 2), (2, 5), (5, 7), (7, 9), (9, 12), (12, 13)]
    alignment = align_pieces_to_tokens(pieces, token_offsets(doc))
    assert as_lists(alignment) == [[0, 1], [1, 2, 3], [3, 4], [5]]
    check_against_reference(alignment, pieces, token_offsets(doc))


def test_whitespace_and_control_tokens_have_no_piece(tok, nlp):
    text = "a  \n b \x00 c"
    doc = nlp(text)
    words = [t.text for t in doc]
    assert words == ["a", " \n ", "b", "\x00", "c"]
    ids, pieces = tok.encode_with_offsets(text)
    alignment = align_pieces_to_tokens(pieces, token_offsets(doc), n_pieces=len(ids))
    assert alignment.lengths.tolist() == [1, 0, 1, 0, 1]
    assert as_lists(alignment) == [[0], [], [1], [], [2]]
    assert alignment.first_piece.tolist() == [0, -1, 1, -1, 2]
    assert alignment.last_piece.tolist() == [0, -1, 1, -1, 2]
    assert alignment.pieces_of(1).size == 0


def test_empty_text(tok, nlp):
    doc = nlp("")
    ids, pieces = tok.encode_with_offsets("")
    alignment = align_pieces_to_tokens(pieces, token_offsets(doc))
    assert alignment.n_tokens == 0 and alignment.n_pieces == 0
    assert alignment.lengths.shape == (0,) and alignment.piece_indices.shape == (0,)
    assert alignment.token_starts.tolist() == [0]
    assert alignment.tokens_of_piece.shape == (0,)
    assert alignment.first_piece.shape == (0,)


def test_whitespace_only_text_has_tokens_but_no_piece(tok, nlp):
    doc = nlp("  \t\n ")
    ids, pieces = tok.encode_with_offsets(doc.text)
    alignment = align_pieces_to_tokens(pieces, token_offsets(doc))
    assert ids == [] and alignment.n_tokens == len(doc) > 0
    assert alignment.lengths.tolist() == [0] * len(doc)


def test_pieces_without_token_and_unsorted_tokens():
    pieces = [(0, 3), (4, 6), (6, 9), (10, 12)]
    tokens = [(6, 12), (0, 2)]  # piece 1 in no token; tokens given right to left
    alignment = align_pieces_to_tokens(np.array(pieces), np.array(tokens))
    assert as_lists(alignment) == [[2, 3], [0]]
    assert alignment.tokens_of_piece.tolist() == [1, -1, 0, 0]
    check_against_reference(alignment, pieces, tokens)


def test_zero_width_pieces_and_tokens():
    # Zero-width pieces at 3 (a token start), at 5 (inside a token), at 9 (no token there).
    pieces = [(0, 3), (3, 3), (3, 6), (5, 5), (9, 9)]
    tokens = [(0, 3), (3, 7), (7, 7), (7, 9)]
    alignment = align_pieces_to_tokens(pieces, tokens)
    assert as_lists(alignment) == [[0], [1, 2, 3], [], []]
    check_against_reference(alignment, pieces, tokens)
    # A zero-width token gets the pieces that strictly contain its position.
    alignment = align_pieces_to_tokens([(0, 4), (4, 6)], [(2, 2), (4, 4)])
    assert as_lists(alignment) == [[0], []]


def test_alignment_is_frozen_and_pieces_of_checks_index():
    alignment = align_pieces_to_tokens([(0, 1)], [(0, 1), (1, 2)])
    with pytest.raises(AttributeError):
        alignment.n_pieces = 3  # type: ignore[misc]
    assert alignment.pieces_of(-2).tolist() == [0]
    with pytest.raises(IndexError):
        alignment.pieces_of(2)


@pytest.mark.parametrize(
    "pieces,tokens,n_pieces,match",
    [
        ([(0, 1, 2)], [(0, 1)], None, r"shape \(1, 3\) and dtype int64"),
        ([(0.0, 1.0)], [(0, 1)], None, r"integer char offsets of shape \(n, 2\).*float64"),
        ([(0, 1)], [(2, 1)], None, r"token_offsets\[0\] = \(2, 1\)"),
        ([(-1, 1)], [(0, 1)], None, r"piece_offsets\[0\] = \(-1, 1\)"),
        ([(0, 1)], [(0, 1)], 2, r"n_pieces=2 but piece_offsets has 1"),
        ([(2, 3), (0, 1)], [(0, 3)], None, r"starts.*piece 1 \(0, 1\) comes after \(2, 3\)"),
        ([(0, 5), (1, 2)], [(0, 3)], None, r"ends.*piece 1 \(1, 2\) comes after \(0, 5\)"),
    ],
)
def test_errors_show_offending_value(pieces, tokens, n_pieces, match):
    with pytest.raises(ValueError, match=match):
        align_pieces_to_tokens(pieces, tokens, n_pieces=n_pieces)


# ---- property tests on random Unicode text ---------------------------------------------

# Letters of several scripts, digits, punctuation, symbols (emoji), combining marks, format
# characters (ZWJ), controls and separators, plus hand-picked troublemakers and long words.
CATEGORIES = ("Zs", "Cc", "Cf", "Mn", "So", "Lo", "Lu", "Ll", "Nd", "Po", "Ps", "Pe", "Sm")
chars = st.characters(categories=CATEGORIES) | st.sampled_from(" \t\n\r\u00a0\u200d\u0301e'.-")
chunks = st.one_of(
    st.text(alphabet=chars, max_size=12),
    st.sampled_from([
        " ", "  \n\n  ", "\t", "\x00", "\x07", "\u200d", "\u200b", "\ufeff", "👩\u200d💻", "👍🏽", "🇫🇷",
        "東京は日本", "北京欢迎你", "e\u0301", "cafe\u0301", "İstanbul", "ﬁne", "don't", "can't", "U.S.A.",
        "unbelievably", "pneumonoultramicroscopicsilicovolcanoconiosis" * 3, "x" * 101, "[SEP]", "##ing",
    ]),
)
texts = st.lists(chunks, max_size=12).map("".join)


def random_split_doc(vocab, text: str, data) -> Doc:
    """A Doc of `text` cut at random char positions; sometimes a trailing ' ' becomes a space."""
    if not text:
        return Doc(vocab, words=[], spaces=[])
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=len(text)), label="cuts"))
    bounds = [0] + [c for c in cuts if 0 < c < len(text)] + [len(text)]
    words, spaces = [], []
    for a, b in zip(bounds, bounds[1:]):
        word = text[a:b]
        if len(word) > 1 and word.endswith(" ") and data.draw(st.booleans(), label="space"):
            words.append(word[:-1])
            spaces.append(True)
        else:
            words.append(word)
            spaces.append(False)
    doc = Doc(vocab, words=words, spaces=spaces)
    assert doc.text == text
    return doc


def check_properties(tok: BertTokenizer, doc: Doc) -> None:
    text = doc.text
    ids, pieces = tok.encode_with_offsets(text)
    tokens = token_offsets(doc)
    alignment = align_pieces_to_tokens(pieces, tokens, n_pieces=len(ids))
    for start, end in pieces:
        assert 0 <= start <= end <= len(text)
    assert alignment.n_pieces == len(ids)
    assert np.all(alignment.piece_indices < len(ids)) and np.all(alignment.piece_indices >= 0)
    # Each token's pieces really overlap it, and all overlapping pieces are there.
    check_against_reference(alignment, pieces, tokens)
    # A token whose text the normaliser keeps has a piece.
    for i, token in enumerate(doc):
        if tok.encode_with_offsets(token.text)[0]:
            assert alignment.lengths[i] > 0, (token.text, pieces)
    # Tokens (with their trailing spaces) cover all non-whitespace: then no piece is orphaned.
    covered = np.zeros(len(text), dtype=bool)
    for start, end in tokens:
        covered[start:end] = True
    assert all(c.isspace() for c, hit in zip(text, covered) if not hit)
    assert np.all(alignment.tokens_of_piece >= 0)


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(text=texts)
def test_random_text_spacy_tokens(tok, nlp, text):
    check_properties(tok, nlp(text))


@SETTINGS
@given(text=texts, data=st.data())
def test_random_text_random_split_doc(tok, nlp, text, data):
    check_properties(tok, random_split_doc(nlp.vocab, text, data))


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    n_chars=st.integers(0, 40),
)
def test_random_offsets_match_reference(data, n_chars):
    """Synthetic sorted pieces (zero-width ones included) and arbitrary tokens."""
    points = sorted(data.draw(st.lists(st.integers(0, n_chars), max_size=20), label="points"))
    # Consecutive pairs of sorted points: starts and ends both non-decreasing.
    pieces = [(a, b) for a, b in zip(points[::2], points[1::2])]
    tokens = data.draw(
        st.lists(st.tuples(st.integers(0, n_chars), st.integers(0, 5)).map(lambda t: (t[0], t[0] + t[1])), max_size=15),
        label="tokens",
    )
    check_against_reference(align_pieces_to_tokens(pieces, tokens), pieces, tokens)


def test_100k_characters_align_quickly(tok):
    rng = np.random.default_rng(0)
    words = ["the", "unbelievably", "don't", "東京", "café", "x" * 120, "\x00", "👩\u200d💻", "42.5", "!"]
    text = " ".join(rng.choice(words, size=30_000).tolist())[:100_000]
    ids, pieces = tok.encode_with_offsets(text)
    tokens = [m.span() for m in re.finditer(r"\S+", text)]
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        alignment = align_pieces_to_tokens(pieces, tokens, n_pieces=len(ids))
        best = min(best, time.perf_counter() - began)
    assert best < 1.0, f"alignment of 100,000 chars took {best:.3f} s"
    assert len(text) == 100_000 and alignment.n_tokens == len(tokens)
    assert np.all(alignment.tokens_of_piece >= 0)
    kept = np.array([t != "\x00" for t in re.findall(r"\S+", text)])
    assert np.all(alignment.lengths[kept] > 0)
