"""Single texts: identical ids, offsets, type ids, masks to transformers' BertTokenizer."""
import pytest

from .conftest import CORPUS

FIELDS = ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "offset_mapping")

# (vocabulary, options): cased and uncased, every strip_accents setting, the switches.
OPTION_SETS = [
    ("uncased", {}),
    ("uncased", {"strip_accents": True}),
    ("uncased", {"strip_accents": False}),
    ("uncased", {"do_lower_case": False}),
    ("uncased", {"do_lower_case": False, "strip_accents": True}),
    ("cased", {"do_lower_case": False}),
    ("cased", {"do_lower_case": False, "strip_accents": True}),
    ("cased", {"do_lower_case": False, "strip_accents": False}),
    ("cased", {"do_lower_case": True, "strip_accents": None}),
    ("uncased", {"tokenize_chinese_chars": False}),
]


def hf_kwargs():
    return dict(return_offsets_mapping=True, return_special_tokens_mask=True)


@pytest.mark.parametrize("vocab,options", OPTION_SETS, ids=[f"{v}-{o}" for v, o in OPTION_SETS])
def test_batch_of_corpus_matches_transformers(make_pair, corpus, vocab, options):
    ours, theirs = make_pair(vocab, **options)
    got = ours(corpus, **hf_kwargs())
    expected = theirs(corpus, **hf_kwargs())
    for key in FIELDS:
        assert [list(map(tuple, row)) if key == "offset_mapping" else list(row) for row in got[key]] == \
            [list(map(tuple, row)) if key == "offset_mapping" else list(row) for row in expected[key]], key


@pytest.mark.parametrize("index", range(len(CORPUS) + 1))  # + the WikiText page
def test_each_text_alone_matches_transformers(uncased, corpus, index):
    ours, theirs = uncased
    text = corpus[index]
    got = ours(text, **hf_kwargs())
    expected = theirs(text, **hf_kwargs())
    assert set(got) == set(expected)
    for key in FIELDS:
        assert got[key] == expected[key], key
    assert ours.tokenize(text) == theirs.tokenize(text)
    assert ours.encode(text) == theirs.encode(text)
    assert ours.encode(text, add_special_tokens=False) == theirs.encode(text, add_special_tokens=False)


def test_offsets_point_into_the_original_text(uncased, corpus):
    ours, _ = uncased
    for text in corpus:
        ids, offsets = ours.encode_with_offsets(text)
        assert len(ids) == len(offsets)
        for start, end in offsets:
            # Inside the text, never empty, never starting or ending on whitespace.
            assert 0 <= start < end <= len(text)
            assert not text[start].isspace() and not text[end - 1].isspace()


def test_encode_with_offsets_matches_transformers_without_special_tokens(uncased, corpus):
    ours, theirs = uncased
    batch = ours.encode_batch_with_offsets(corpus)
    for text, (ids, offsets) in zip(corpus, batch):
        expected = theirs(text, add_special_tokens=False, return_offsets_mapping=True)
        assert ids == expected["input_ids"]
        assert offsets == [tuple(o) for o in expected["offset_mapping"]]
        assert ours.encode_with_offsets(text) == (ids, offsets)


def test_backend_tokenizer_has_no_truncation_or_padding_and_encodes_like_transformers(uncased, wiki_text):
    ours, theirs = uncased
    ours(wiki_text, truncation=True, max_length=16, padding="max_length", return_overflowing_tokens=True)
    backend = ours.backend_tokenizer
    assert backend.truncation is None and backend.padding is None
    encoding = backend.encode(wiki_text, add_special_tokens=False)
    assert encoding.ids == theirs(wiki_text, add_special_tokens=False)["input_ids"]


def test_word_over_100_chars_is_one_unk(uncased):
    ours, theirs = uncased
    text = "a" * 101
    assert ours.encode(text, add_special_tokens=False) == theirs.encode(text, add_special_tokens=False)
    assert ours.encode(text, add_special_tokens=False) == [ours.unk_token_id]
