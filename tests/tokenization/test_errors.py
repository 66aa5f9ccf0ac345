"""Bad input gives clear errors; truncation that drops pieces warns."""
import json
import re
import shutil
import warnings

import pytest

from spacy_bert.tokenization import BertTokenizer
from spacy_bert.tokenization.truncation import kept_when_truncated


# ---- files ------------------------------------------------------------------------------


def test_missing_directory(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError) as error:
        BertTokenizer.from_pretrained(missing)
    message = str(error.value)
    assert str(missing) in message and "tokenizer.json" in message and "vocab.txt" in message


def test_directory_without_vocabulary(legacy_mlm_dir, tmp_path):
    shutil.copy(legacy_mlm_dir / "tokenizer_config.json", tmp_path / "tokenizer_config.json")
    with pytest.raises(FileNotFoundError) as error:
        BertTokenizer.from_pretrained(tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message and "tokenizer.json or vocab.txt" in message
    assert "tokenizer_config.json" in message  # what was found instead


def test_missing_vocab_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocab_file .*missing.txt is not an existing file"):
        BertTokenizer(tmp_path / "missing.txt")


def test_vocab_file_or_vocab(uncased_vocab_file):
    with pytest.raises(ValueError, match="exactly one of vocab_file or vocab to BertTokenizer, got neither"):
        BertTokenizer()
    with pytest.raises(ValueError, match="got both"):
        BertTokenizer(uncased_vocab_file, vocab={"[UNK]": 0})


def test_bad_vocab_dicts():
    specials = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}
    with pytest.raises(ValueError, match="'a' and 'b' both have id 5"):
        BertTokenizer(vocab={**specials, "a": 5, "b": 5})
    with pytest.raises(ValueError, match="The unk_token '<unk>' is not in the vocabulary"):
        BertTokenizer(vocab=specials, unk_token="<unk>")
    with pytest.raises(ValueError, match="The mask_token"):
        BertTokenizer(vocab={k: v for k, v in specials.items() if k != "[MASK]"})
    tokenizer = BertTokenizer(vocab={**specials, "hello": 5, "##s": 6})
    assert tokenizer.encode("hellos x") == [2, 5, 6, 1, 3]


def test_tokenizer_json_of_another_model_type(legacy_mlm_dir, tmp_path):
    data = json.loads((legacy_mlm_dir / "tokenizer.json").read_text())
    data["model"] = {"type": "BPE", "vocab": {}, "merges": []}
    (tmp_path / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="holds a BPE model, but a BERT tokenizer needs a WordPiece model"):
        BertTokenizer.from_pretrained(tmp_path)


def test_broken_json(legacy_mlm_dir, tmp_path):
    shutil.copy(legacy_mlm_dir / "vocab.txt", tmp_path / "vocab.txt")
    (tmp_path / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="tokenizer_config.json is not a valid tokenizer file"):
        BertTokenizer.from_pretrained(tmp_path)


def test_added_token_with_a_wrong_id(legacy_mlm_dir, tmp_path):
    shutil.copy(legacy_mlm_dir / "vocab.txt", tmp_path / "vocab.txt")
    config = {"added_tokens_decoder": {"5": {"content": "[MASK]", "special": True}}}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"'\[MASK\]' should have id 5 .* but gets id 103"):
        BertTokenizer.from_pretrained(tmp_path)


def test_save_refuses_gaps_in_ids(tmp_path):
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 5}
    with pytest.raises(ValueError, match="id 4 is missing"):
        BertTokenizer(vocab=vocab).save_pretrained(tmp_path)


def test_do_basic_tokenize_false_warns(legacy_mlm_dir, tmp_path):
    shutil.copy(legacy_mlm_dir / "vocab.txt", tmp_path / "vocab.txt")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_basic_tokenize": False}))
    with pytest.warns(UserWarning, match="do_basic_tokenize=False"):
        BertTokenizer.from_pretrained(tmp_path)


def test_bad_options(uncased_vocab_file):
    with pytest.raises(ValueError, match="do_lower_case='yes' is not valid"):
        BertTokenizer(uncased_vocab_file, do_lower_case="yes")
    with pytest.raises(ValueError, match="padding_side='top' is not valid. Expected 'right' or 'left'"):
        BertTokenizer(uncased_vocab_file, padding_side="top")
    with pytest.raises(ValueError, match="model_max_length=0 is not valid"):
        BertTokenizer(uncased_vocab_file, model_max_length=0)


# ---- inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize("text,name,type_name", [
    (123, "text", "int"),
    (None, "text", "NoneType"),
    (b"bytes", "text", "bytes"),
    ([1, 2], r"text\[0\]", "int"),
    (["a", None], r"text\[1\]", "NoneType"),
])
def test_non_str_input(uncased, text, name, type_name):
    ours, _ = uncased
    with pytest.raises(TypeError, match=rf"^\[E207\] {name} must be .*, got a {type_name}"):
        ours(text)


def test_non_str_text_pair_and_other_methods(uncased):
    ours, _ = uncased
    with pytest.raises(TypeError, match="text_pair must be a str, since text is a single str, got a list"):
        ours("a", ["b"])
    with pytest.raises(TypeError, match="text_pair must be a list of str as long as text"):
        ours(["a"], "b")
    with pytest.raises(TypeError, match=r"text_pair\[0\] must be a str"):
        ours(["a"], [3])
    with pytest.raises(ValueError, match="text has 2 entries but text_pair has 1"):
        ours(["a", "b"], ["c"])
    for method in (ours.tokenize, ours.encode, ours.encode_with_offsets):
        with pytest.raises(TypeError, match="text must be a str, got a int"):
            method(5)
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        ours.encode_batch_with_offsets(["a", 1])


@pytest.mark.parametrize("pair,max_length,minimum", [(None, 2, 3), (None, 1, 3), ("b", 3, 4)])
def test_max_length_too_small_for_special_tokens(uncased, pair, max_length, minimum):
    ours, _ = uncased
    with pytest.raises(ValueError, match=rf"max_length={max_length} is too small: .* at least {minimum}"):
        ours("a b c", pair, truncation=True, max_length=max_length)


def test_bad_call_options(uncased):
    ours, _ = uncased
    with pytest.raises(ValueError, match="padding='longer' is not valid"):
        ours("a", padding="longer")
    with pytest.raises(ValueError, match="truncation='middle' is not valid"):
        ours("a", truncation="middle")
    with pytest.raises(ValueError, match="return_tensors='tf' is not valid"):
        ours("a", return_tensors="tf")
    with pytest.raises(ValueError, match="stride=-1 is not valid"):
        ours("a", stride=-1)
    with pytest.raises(ValueError, match="max_length=0 is not valid"):
        ours("a", max_length=0)
    with pytest.raises(ValueError, match="truncation='only_second' truncates text_pair, but no text_pair"):
        ours("a b c", truncation="only_second", max_length=4)


def test_ragged_tensors(uncased):
    ours, _ = uncased
    with pytest.raises(ValueError, match=r"every row of input_ids to have the same length, got lengths \[3, 4\]"):
        ours(["a", "b c"], return_tensors="pt")


def test_stride_too_large_for_single_texts(uncased):
    ours, _ = uncased
    with pytest.raises(ValueError, match="stride=8 is too large for max_length=10: .* at most 7"):
        ours("a b c d e f g h i j k l", truncation=True, max_length=10, stride=8, return_overflowing_tokens=True)


def test_stride_too_large_for_a_pair_is_an_error_not_a_rust_panic(uncased):
    ours, _ = uncased
    question = " ".join(["what"] * 20)
    with pytest.raises(ValueError, match="stride=8 is too large for input 1 .* keeps only 7 pieces of its text_pair"):
        ours(["q", question], ["a b c d e f g h i j k l m n o p", "x " * 40], truncation="only_second", max_length=30,
             stride=8, return_overflowing_tokens=True)
    with pytest.raises(ValueError, match="stride=5 is too large for input 0 .* keeps only 5 pieces of its text"):
        ours("a " * 40, "b " * 40, truncation="longest_first", max_length=13, stride=5, return_overflowing_tokens=True)
    # A short pair that is never cut is fine with the same settings.
    ours([question], ["x"], truncation="only_second", max_length=30, stride=8)


def test_pair_window_lengths_follow_tokenizers(uncased):
    # The kept lengths we use to check the stride are those tokenizers produces.
    ours, theirs = uncased
    lengths = [0, 1, 2, 3, 5, 8, 13]
    for budget in [1, 2, 3, 5, 8, 11]:
        for l1 in lengths:
            for l2 in lengths:
                for strategy in ["longest_first", "only_first", "only_second"]:
                    if l1 + l2 <= budget:
                        continue
                    try:
                        # (a batch, so that an empty text_pair stays a pair)
                        encoding = theirs(["a " * l1], ["b " * l2], truncation=strategy, max_length=budget + 3)
                    except Exception:  # "sequence to truncate too short": tokenizers' own error
                        continue
                    kept = {"text": encoding.sequence_ids(0).count(0), "text_pair": encoding.sequence_ids(0).count(1)}
                    predicted = kept_when_truncated(strategy, l1, l2, budget)
                    assert predicted, (budget, l1, l2, strategy)
                    for name, n in predicted:
                        assert kept[name] == n, (budget, l1, l2, strategy, name)


def test_decode_and_mask_errors(uncased):
    ours, _ = uncased
    with pytest.raises(TypeError, match="decode takes one sequence of ids, got a nested list"):
        ours.decode([[101, 102]])
    with pytest.raises(ValueError, match="takes one formatted sequence"):
        ours.get_special_tokens_mask([101, 102], [5], already_has_special_tokens=True)


# ---- the truncation warning -----------------------------------------------------------------


def n_pieces(theirs, text):
    return len(theirs(text, add_special_tokens=False)["input_ids"])


def test_truncation_warns_with_counts_and_still_returns_what_transformers_returns(uncased, wiki_text):
    ours, theirs = uncased
    text = wiki_text[:500]
    total = n_pieces(theirs, text)
    with pytest.warns(UserWarning) as record:
        got = ours(text, truncation=True, max_length=10)
    message = str(record[0].message)
    assert f"Truncation to max_length=10 dropped pieces: {total - 8} of {total} pieces of text" in message
    assert "return_overflowing_tokens=True" in message and "stride" in message
    assert got["input_ids"] == theirs(text, truncation=True, max_length=10)["input_ids"]


def test_truncation_warning_names_inputs_and_both_texts_of_pairs(uncased, wiki_text):
    ours, theirs = uncased
    first, second = wiki_text[:300], wiki_text[300:700]
    expected = theirs(["short", first], ["x", second], truncation=True, max_length=40)
    kept_first = expected.sequence_ids(1).count(0)
    kept_second = expected.sequence_ids(1).count(1)
    n1, n2 = n_pieces(theirs, first), n_pieces(theirs, second)
    with pytest.warns(UserWarning, match=re.escape(
            f"input 1: {n1 - kept_first} of {n1} pieces of text and {n2 - kept_second} of {n2} pieces of text_pair")):
        got = ours(["short", first], ["x", second], truncation=True, max_length=40)
    assert got["input_ids"] == expected["input_ids"]


def test_no_truncation_warning_when_nothing_is_dropped_or_windows_are_returned(uncased, wiki_text):
    ours, _ = uncased
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours("short text", truncation=True, max_length=10)
        ours(wiki_text, truncation=True, max_length=64, stride=16, return_overflowing_tokens=True)
        ours(wiki_text)


def test_max_length_with_padding_true_and_no_truncation_warns(uncased):
    ours, theirs = uncased
    with pytest.warns(UserWarning, match="max_length=3 is ignored: padding=True pads to the longest row"):
        got = ours(["a b c d e", "f"], padding=True, max_length=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert got["input_ids"] == theirs(["a b c d e", "f"], padding=True, max_length=3)["input_ids"]
