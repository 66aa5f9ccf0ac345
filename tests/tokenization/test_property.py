"""Property test: on random Unicode text, ids and offsets equal transformers'."""
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Space separators, controls, combining marks, symbols (emoji), other letters (CJK, kana,
# Hangul, Thai...), cased letters, digits and punctuation, plus format characters (ZWJ, BOM).
CATEGORIES = ("Zs", "Cc", "Cf", "Mn", "So", "Lo", "Lu", "Ll", "Nd", "Po", "Ps", "Pe", "Sm")
texts = st.text(
    alphabet=st.characters(categories=CATEGORIES) | st.sampled_from(" \t\n\u00e9e\u0301[SEP]#"),
    max_size=60,
)


@pytest.fixture(scope="module")
def pairs(make_pair):
    return [make_pair("uncased"), make_pair("cased", do_lower_case=False, strip_accents=True)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts, pair_text=st.one_of(st.none(), texts))
def test_random_text_ids_and_offsets_equal_transformers(pairs, text, pair_text):
    for ours, theirs in pairs:
        got = ours(text, pair_text, return_offsets_mapping=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = theirs(text, pair_text, return_offsets_mapping=True)
        assert got["input_ids"] == expected["input_ids"]
        assert got["token_type_ids"] == expected["token_type_ids"]
        assert got["offset_mapping"] == [tuple(o) for o in expected["offset_mapping"]]
        ids, offsets = ours.encode_with_offsets(text)
        for start, end in offsets:
            assert 0 <= start < end <= len(text)
        # The pieces of the text alone, in order, are those of the full encoding's first sequence.
        first = [i for i, s in zip(got["input_ids"], got.sequence_ids(0)) if s == 0]
        assert first == ids
