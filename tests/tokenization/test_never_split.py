"""never_split behaves like the legacy Python BertTokenizer of transformers.

The legacy class keeps a whitespace-separated word that is exactly a never_split word as one
piece (not lower-cased, not split at punctuation). See spacy_bert/tokenization/never_split.py
for how we reproduce it and where the two differ; those differences are pinned here too.
"""
import warnings

import pytest

from spacy_bert.tokenization import BertTokenizer

NEVER_SPLIT = ["[unused1]", "[unused2]", "hello", "##ing", "lobster", "cafe"]

TEXTS = [
    "a [unused1] b",
    "[unused1] at the start and at the end [unused2]",
    "[unused1] [unused1] [unused2] [unused1]",
    "Hello hello HELLO hello.",  # only the exact word is never_split; lower-casing gives the same id
    "(hello) hello, hello; -hello- 'hello'",  # a plain word next to punctuation: the same in both
    "say hello\u00a0[unused1]\u3000x and hello\t[unused2]\nend",  # other whitespace separates words
    "[CLS] [unused1] [SEP] hello[SEP] [MASK]hello",  # next to special tokens
    "x[unused1] [unused1]x hellothere thehello",  # inside words: not kept
    "walk ##ing [UNUSED1] unused1",  # the lower-cased word is compared too
    "Café CAFÉ café, cafés",  # ... and the accent-stripped one
    "The European lobster, Homarus gammarus, is a lobster.",
    "",
]


@pytest.fixture(scope="module")
def pair_with_never_split(hf_legacy, uncased_vocab_file):
    ours = BertTokenizer(uncased_vocab_file, never_split=NEVER_SPLIT)
    legacy = hf_legacy(str(uncased_vocab_file), never_split=NEVER_SPLIT)
    return ours, legacy


@pytest.mark.parametrize("text", TEXTS)
def test_never_split_matches_legacy_tokenizer(pair_with_never_split, text):
    ours, legacy = pair_with_never_split
    assert ours.tokenize(text) == legacy.tokenize(text)
    assert ours.encode(text) == legacy.encode(text)
    assert ours(text)["input_ids"] == legacy(text)["input_ids"]


def test_never_split_with_a_cased_vocabulary(hf_legacy, cased_vocab_file):
    words = ["Hello", "World", "BERT", "[unused1]"]
    ours = BertTokenizer(cased_vocab_file, do_lower_case=False, never_split=words)
    legacy = hf_legacy(str(cased_vocab_file), do_lower_case=False, never_split=words)
    for text in ["Hello World from BERT [unused1]", "hello world Hello, World! BERT's [unused1] x"]:
        assert ours.encode(text) == legacy.encode(text)


def test_decode_with_never_split_matches_legacy_tokenizer(pair_with_never_split):
    ours, legacy = pair_with_never_split
    for text in TEXTS:
        ids = legacy.encode(text)
        assert ours.decode(ids) == legacy.decode(ids)
        assert ours.decode(ids, skip_special_tokens=True) == legacy.decode(ids, skip_special_tokens=True)


def test_never_split_words_keep_offsets_and_are_in_backend_tokenizer(pair_with_never_split):
    # The spaCy layer encodes with backend_tokenizer: it must honour never_split too.
    ours, legacy = pair_with_never_split
    text = "a [unused1] b"
    encoding = ours.backend_tokenizer.encode(text, add_special_tokens=False)
    assert encoding.ids == legacy.encode(text, add_special_tokens=False)
    assert encoding.offsets[1] == (2, 11)
    assert ours.encode_with_offsets(text) == (encoding.ids, encoding.offsets)


def test_never_split_word_glued_to_punctuation_is_still_kept_whole(pair_with_never_split):
    # Documented difference: the legacy tokenizer needs whitespace on both sides of a
    # never_split word; here any non-word character (punctuation) will do. We give what the
    # legacy tokenizer gives once that whitespace is there.
    ours, legacy = pair_with_never_split
    assert ours.encode("a [unused1]. b") == legacy.encode("a [unused1] . b")
    assert ours.encode("[unused1][unused2]") == legacy.encode("[unused1] [unused2]")


def test_never_split_words_the_legacy_tokenizer_cannot_match_warn_and_act_like_transformers(
        hf_bert, hf_legacy, uncased_vocab_file):
    words = ["New York", "東京", "Cafe\u0301", "tab\x07", "", "<e1>"]
    with pytest.warns(UserWarning, match="never_split") as record:
        ours = BertTokenizer(uncased_vocab_file, never_split=words)
    message = str(record[0].message)
    for word in words:
        assert repr(word) in message
    assert "not in the vocabulary" in message and "whitespace" in message
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        current = hf_bert(vocab=str(uncased_vocab_file))
        legacy = hf_legacy(str(uncased_vocab_file), never_split=words[:4])
    text = "New York and 東京 and tab <e1> entity"
    # words that cannot match: same as the legacy tokenizer; "<e1>" not in the vocabulary:
    # pieces, as transformers' current BertTokenizer (the legacy one would give [UNK]).
    assert ours.encode(text) == current.encode(text)
    assert ours.encode("New York 東京") == legacy.encode("New York 東京")


def test_special_tokens_in_never_split_are_fine(uncased, uncased_vocab_file):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = BertTokenizer(uncased_vocab_file, never_split=["[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]", "東"])
    _, theirs = uncased
    text = "[CLS] x [SEP] 東京 [MASK]"
    assert ours.encode(text) == theirs.encode(text)


def test_never_split_must_be_a_list_of_str(uncased_vocab_file):
    with pytest.raises(TypeError, match="never_split must be a list of str"):
        BertTokenizer(uncased_vocab_file, never_split="[unused1]")
    with pytest.raises(TypeError, match="never_split must be a list of str"):
        BertTokenizer(uncased_vocab_file, never_split=[1])
