"""Decoding, token/id conversion, the vocabulary and special-token helpers vs transformers."""
import numpy as np
import pytest
import torch


@pytest.mark.parametrize("skip_special_tokens", [False, True])
@pytest.mark.parametrize("clean_up", [False, True])
def test_decode_matches_transformers(uncased, corpus, skip_special_tokens, clean_up):
    ours, theirs = uncased
    texts = corpus + ["Hello , world ! isn't it ? I 'm sure they 're here ."]
    for text in texts:
        ids = theirs(text)["input_ids"]
        assert ours.decode(ids, skip_special_tokens, clean_up) == theirs.decode(
            ids, skip_special_tokens=skip_special_tokens, clean_up_tokenization_spaces=clean_up)
    batch = theirs(texts[:5], padding=True)["input_ids"]
    assert ours.batch_decode(batch, skip_special_tokens, clean_up) == theirs.batch_decode(
        batch, skip_special_tokens=skip_special_tokens, clean_up_tokenization_spaces=clean_up)


def test_decode_accepts_arrays_tensors_and_single_ids(uncased):
    ours, theirs = uncased
    ids = theirs("Decode me, please.")["input_ids"]
    expected = theirs.decode(ids, clean_up_tokenization_spaces=True)
    assert ours.decode(np.array(ids)) == expected
    assert ours.decode(torch.tensor(ids)) == expected
    assert ours.decode(ids[1]) == theirs.decode(ids[1])
    assert ours.batch_decode(torch.tensor([ids, ids])) == [expected, expected]


def test_decode_default_follows_the_clean_up_setting(uncased, uncased_vocab_file):
    from spacy_bert.tokenization import BertTokenizer

    _, theirs = uncased
    ids = theirs.encode("I 'm here , they 're not")
    assert BertTokenizer(uncased_vocab_file).decode(ids) == theirs.decode(ids, clean_up_tokenization_spaces=True)
    assert BertTokenizer(uncased_vocab_file, clean_up_tokenization_spaces=False).decode(ids) == \
        theirs.decode(ids, clean_up_tokenization_spaces=False)


def test_convert_ids_and_tokens_match_transformers(uncased, corpus):
    ours, theirs = uncased
    ids = theirs(corpus[:6], padding=True)["input_ids"]
    for row in ids:
        assert ours.convert_ids_to_tokens(row) == theirs.convert_ids_to_tokens(row)
        assert ours.convert_ids_to_tokens(row, skip_special_tokens=True) == \
            theirs.convert_ids_to_tokens(row, skip_special_tokens=True)
        tokens = theirs.convert_ids_to_tokens(row)
        assert ours.convert_tokens_to_ids(tokens) == theirs.convert_tokens_to_ids(tokens)
    assert ours.convert_ids_to_tokens(2023) == theirs.convert_ids_to_tokens(2023)
    for token in ["hello", "[CLS]", "not-a-token", "##ing"]:
        assert ours.convert_tokens_to_ids(token) == theirs.convert_tokens_to_ids(token)


def test_vocabulary_and_special_tokens_match_transformers(uncased):
    ours, theirs = uncased
    assert ours.get_vocab() == theirs.get_vocab()
    assert ours.vocab_size == theirs.vocab_size == 30522
    assert len(ours) == len(theirs)
    assert ours.all_special_tokens == theirs.all_special_tokens
    assert ours.all_special_ids == theirs.all_special_ids
    for name in ["unk", "sep", "pad", "cls", "mask"]:
        assert getattr(ours, f"{name}_token") == getattr(theirs, f"{name}_token")
        assert getattr(ours, f"{name}_token_id") == getattr(theirs, f"{name}_token_id")
    assert ours.model_max_length == theirs.model_max_length == 512
    assert ours.special_tokens_map == {k: v for k, v in theirs.special_tokens_map.items()}


@pytest.mark.parametrize("ids_1", [None, [], [7, 8, 9]])
@pytest.mark.parametrize("ids_0", [[], [2023, 2003]])
def test_special_token_layout_matches_legacy_tokenizer(uncased, legacy_uncased, ids_0, ids_1):
    # transformers' current BertTokenizer has dropped these helpers; the legacy one has them.
    ours, _ = uncased
    legacy = legacy_uncased
    assert ours.build_inputs_with_special_tokens(ids_0, ids_1) == legacy.build_inputs_with_special_tokens(ids_0, ids_1)
    assert ours.get_special_tokens_mask(ids_0, ids_1) == legacy.get_special_tokens_mask(ids_0, ids_1)
    assert ours.create_token_type_ids_from_sequences(ids_0, ids_1) == \
        legacy.create_token_type_ids_from_sequences(ids_0, ids_1)
    formatted = legacy.build_inputs_with_special_tokens(ids_0, ids_1) + [legacy.pad_token_id]
    assert ours.get_special_tokens_mask(formatted, already_has_special_tokens=True) == \
        legacy.get_special_tokens_mask(formatted, already_has_special_tokens=True)


def test_special_token_layout_agrees_with_call(uncased):
    ours, _ = uncased
    a, b = ours.encode("first text", add_special_tokens=False), ours.encode("second", add_special_tokens=False)
    encoding = ours("first text", "second", return_special_tokens_mask=True)
    assert encoding["input_ids"] == ours.build_inputs_with_special_tokens(a, b)
    assert encoding["token_type_ids"] == ours.create_token_type_ids_from_sequences(a, b)
    assert encoding["special_tokens_mask"] == ours.get_special_tokens_mask(a, b)
    assert ours.num_special_tokens_to_add(pair=True) == 3 and ours.num_special_tokens_to_add() == 2


def test_tokenize_of_pairs_matches_transformers(uncased):
    ours, theirs = uncased
    assert ours.tokenize("A question?", "An answer.", add_special_tokens=True) == \
        theirs.tokenize("A question?", "An answer.", add_special_tokens=True)
    assert ours.encode("A question?", "An answer.") == theirs.encode("A question?", "An answer.")
