"""Property tests of the whole `bert` component on random Unicode text."""
import numpy as np
import pytest
import spacy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacy_bert import BertTokenizer

ALPHABET = st.one_of(
    st.sampled_from(list(" \n\t\r  \u200d\u200b\x00\x07\ufeff")),
    st.sampled_from(list("abcXYZ.,!?'-éü東京日本👍🏽👩💻\u0301\u0308")),
    st.characters(codec="utf-8"),
)
TEXTS = st.one_of(
    st.text(ALPHABET, max_size=200),
    st.lists(st.sampled_from(["supercalifragilisticexpialidocious" * 4, "word", "Paris", "\n\n", "  "]), max_size=40).map(" ".join),
)


@pytest.fixture(scope="module")
def nlp(tiny_bert_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir), "window": 24, "stride": 6, "store_piece_states": True})
    nlp.initialize()
    return nlp


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS)
def test_every_kept_character_is_covered(nlp, tiny_bert_dir, text):
    tokenizer = BertTokenizer.from_pretrained(tiny_bert_dir)
    doc = nlp(text)
    data = doc._.bert
    assert doc.tensor.shape == (len(doc), 32) and np.isfinite(doc.tensor).all()
    # nothing truncated: exactly the pieces of the whole text, every offset inside it
    ids, offsets = tokenizer.encode_with_offsets(text)
    assert data.piece_ids.tolist() == ids
    assert all(0 <= s <= e <= len(text) for s, e in data.piece_offsets.tolist())
    assert data.last_hidden_state.shape == (len(ids), 32) and np.isfinite(data.last_hidden_state).all()
    for token in doc:
        if tokenizer.encode_with_offsets(token.text)[0]:
            assert data.lengths[token.i] >= 1, token.text
        if data.lengths[token.i] == 0:
            # (A token the normaliser removes can still lie inside a piece of its neighbours:
            # in "0\x1f0" the control character vanishes and "00" is one piece over all three
            # tokens, so only a token without pieces is known to get a zero vector.)
            assert not doc.tensor[token.i].any()
