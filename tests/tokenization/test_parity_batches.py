"""Pairs, padded batches, overlapping windows and tensors: identical to transformers."""
import warnings

import numpy as np
import pytest

from spacy_bert.tokenization import BatchEncoding

ALL = dict(return_offsets_mapping=True, return_special_tokens_mask=True)
KEYS = ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "offset_mapping",
        "overflow_to_sample_mapping")


def normalise(encoding):
    """Lists of lists (offsets as tuples), for comparing ours with transformers'."""
    out = {}
    for key in KEYS:
        if key not in encoding:
            continue
        value = encoding[key]
        if hasattr(value, "tolist"):
            value = value.tolist()
        if key == "offset_mapping":
            value = [[tuple(o) for o in row] for row in value] if value and isinstance(value[0], list) and \
                value[0] and isinstance(value[0][0], (list, tuple)) else [tuple(o) for o in value]
        out[key] = value
    return out


def assert_same(ours, theirs):
    got, expected = normalise(ours), normalise(theirs)
    assert set(got) == set(expected)
    for key in expected:
        assert got[key] == expected[key], key


def call_both(pair, *args, **kwargs):
    ours, theirs = pair
    with warnings.catch_warnings():
        # our truncation warning; transformers' own advice warnings
        warnings.simplefilter("ignore")
        return ours(*args, **kwargs), theirs(*args, **kwargs)


QUESTIONS = ["What is a lobster?", "Where does Homarus gammarus live?", "", "Who?"]


def contexts(wiki_text):
    return [wiki_text[:600], wiki_text[600:1500], "short context", wiki_text[1500:1700]]


def test_single_pair(uncased, wiki_text):
    assert_same(*call_both(uncased, QUESTIONS[0], wiki_text[:500], **ALL))


def test_batch_of_pairs(uncased, wiki_text):
    ours, theirs = call_both(uncased, QUESTIONS, contexts(wiki_text), **ALL)
    assert_same(ours, theirs)
    # [CLS] A [SEP] B [SEP] with type ids 0 / 1
    first = ours["token_type_ids"][0]
    n_a = ours["input_ids"][0].index(uncased[0].sep_token_id) + 1
    assert first == [0] * n_a + [1] * (len(first) - n_a)


@pytest.mark.parametrize("padding", [True, "longest", "max_length"])
def test_padded_batches(uncased, corpus, padding):
    ours, theirs = call_both(uncased, corpus[:8], padding=padding, max_length=200 if padding == "max_length" else None,
                             **ALL)
    assert_same(ours, theirs)
    lengths = {len(row) for row in ours["input_ids"]}
    assert len(lengths) == 1
    # right padding: pad id, type 0, attention 0
    row = ours["input_ids"][-1]
    n = sum(ours["attention_mask"][-1])
    assert row[n:] == [uncased[0].pad_token_id] * (len(row) - n)
    assert ours["token_type_ids"][-1][n:] == [0] * (len(row) - n)


def test_padding_max_length_without_max_length_uses_model_max_length(uncased):
    ours, theirs = call_both(uncased, ["a b", "c"], padding="max_length", **ALL)
    assert_same(ours, theirs)
    assert len(ours["input_ids"][0]) == 512


def test_padding_and_truncation_of_pairs(uncased, wiki_text):
    assert_same(*call_both(uncased, QUESTIONS, contexts(wiki_text), padding=True, truncation=True, max_length=64,
                           **ALL))


def test_left_padding_and_truncation(make_pair, hf_bert, uncased_vocab_file, wiki_text):
    from spacy_bert.tokenization import BertTokenizer

    ours = BertTokenizer(uncased_vocab_file, padding_side="left", truncation_side="left")
    theirs = hf_bert(vocab=str(uncased_vocab_file), padding_side="left", truncation_side="left")
    assert_same(*call_both((ours, theirs), contexts(wiki_text), padding=True, truncation=True, max_length=40, **ALL))


@pytest.mark.parametrize("stride", [0, 1, 32])
@pytest.mark.parametrize("max_length", [64, 128])
def test_windows_of_long_texts(uncased, wiki_text, stride, max_length):
    texts = [wiki_text, "short", wiki_text[:700]]
    ours, theirs = call_both(uncased, texts, truncation=True, max_length=max_length, stride=stride,
                             return_overflowing_tokens=True, **ALL)
    assert_same(ours, theirs)
    assert len(ours.encodings) == len(ours["input_ids"])
    # Every piece of the text is in some window: windows cover the whole text.
    full = uncased[0].encode(wiki_text, add_special_tokens=False)
    rows = [row for row, sample in zip(ours["input_ids"], ours["overflow_to_sample_mapping"]) if sample == 0]
    covered = [i for row in rows for i in row[1:-1]]
    assert len(covered) == len(full) + stride * (len(rows) - 1)


def test_windows_of_a_single_text_keep_the_batch_dimension(uncased, wiki_text):
    ours, theirs = call_both(uncased, wiki_text, truncation=True, max_length=100, stride=20,
                             return_overflowing_tokens=True, **ALL)
    assert_same(ours, theirs)
    assert isinstance(ours["input_ids"][0], list)


@pytest.mark.parametrize("strategy", ["only_second", "longest_first"])
def test_windows_of_pairs_question_answering_style(uncased, wiki_text, strategy):
    ours, theirs = call_both(uncased, QUESTIONS[:2], contexts(wiki_text)[:2], truncation=strategy, max_length=96,
                             stride=24, return_overflowing_tokens=True, padding="max_length", **ALL)
    assert_same(ours, theirs)


def test_windows_with_only_first(uncased, wiki_text):
    assert_same(*call_both(uncased, [wiki_text[:900]], ["a question"], truncation="only_first", max_length=50,
                           stride=5, return_overflowing_tokens=True, **ALL))


def test_max_length_alone_truncates_like_transformers(uncased, wiki_text):
    ours, theirs = call_both(uncased, wiki_text, max_length=20, **ALL)
    assert_same(ours, theirs)
    assert len(ours["input_ids"]) == 20


def test_truncation_true_without_max_length_uses_model_max_length(uncased, wiki_text):
    ours, theirs = call_both(uncased, wiki_text * 2, truncation=True)
    assert_same(ours, theirs)
    assert len(ours["input_ids"]) == 512


@pytest.mark.parametrize("tensor_type", ["pt", "np"])
def test_return_tensors(uncased, corpus, tensor_type):
    ours, theirs = call_both(uncased, corpus[:5], padding=True, return_tensors=tensor_type, **ALL)
    for key in theirs:
        assert type(ours[key]) is type(theirs[key]), key
        assert ours[key].dtype == theirs[key].dtype, key
        assert ours[key].shape == theirs[key].shape, key
        assert ours[key].tolist() == theirs[key].tolist(), key


def test_return_tensors_pt_single_text_and_windows(uncased, wiki_text):
    torch = pytest.importorskip("torch")
    ours, theirs = call_both(uncased, wiki_text, truncation=True, max_length=64, stride=8, padding=True,
                             return_overflowing_tokens=True, return_tensors="pt", **ALL)
    assert set(ours) == set(theirs)
    for key in theirs:
        assert isinstance(ours[key], torch.Tensor)
        assert torch.equal(ours[key], theirs[key]), key
    single, single_hf = call_both(uncased, "One text.", return_tensors="pt")
    assert single["input_ids"].shape == single_hf["input_ids"].shape == (1, 5)


def test_without_attention_mask_and_type_ids(uncased):
    ours, theirs = call_both(uncased, ["a b", "c"], return_attention_mask=False, return_token_type_ids=False)
    assert dict(ours) == dict(theirs)


def test_without_special_tokens(uncased, wiki_text):
    assert_same(*call_both(uncased, [wiki_text[:300], "x"], add_special_tokens=False, truncation=True,
                           max_length=30, stride=3, return_overflowing_tokens=True, **ALL))


def test_empty_text_pair_of_a_single_text_is_no_pair(uncased):
    # transformers treats text_pair="" of a single text as "no pair"; a batch keeps it.
    assert_same(*call_both(uncased, "hello", "", **ALL))
    assert_same(*call_both(uncased, ["hello"], [""], **ALL))


def test_batch_encoding_interface(uncased):
    ours, theirs = uncased
    encoding = ours(["Hello world", "Hi"], padding=True)
    assert isinstance(encoding, BatchEncoding) and isinstance(encoding, dict)
    assert encoding.input_ids is encoding["input_ids"]
    assert encoding.tokens(1) == theirs(["Hello world", "Hi"], padding=True).tokens(1)
    assert encoding.sequence_ids(0)[0] is None
    assert encoding[0] is encoding.encodings[0]
    with pytest.raises(AttributeError):
        encoding.no_such_key
    arrays = ours(["a", "b c"], padding=True, return_tensors="np")
    assert isinstance(arrays.input_ids, np.ndarray)
    moved = ours(["a", "b c"], padding=True, return_tensors="pt").to("cpu")
    assert moved.input_ids.device.type == "cpu"


def test_empty_batch(uncased):
    ours, _ = uncased
    encoding = ours([])
    assert encoding["input_ids"] == [] and encoding.encodings == []
