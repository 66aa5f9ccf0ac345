"""`bert_fill_mask` predictions against transformers' fill-mask pipeline, and its bad inputs."""
import time
import warnings

import numpy as np
import pytest
import spacy

import spacy_bert.pipeline  # noqa: F401  (registers the factories without reinstalling)
from spacy_bert.layers.stages.windows import plan_input_windows
from tests.error_codes import raises_code

ONE_MASK = ["The capital of France is [MASK].", "[MASK] is the best.", "I would like a cup of [MASK]"]
SEVERAL_MASKS = ["[MASK] is a [MASK] city in [MASK].", "The [MASK] sat on the [MASK]."]


@pytest.fixture(scope="module")
def hf_fill(legacy_mlm_dir):
    from transformers import pipeline

    return pipeline("fill-mask", model=str(legacy_mlm_dir), device=-1)


@pytest.fixture(scope="module")
def nlp(legacy_mlm_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(legacy_mlm_dir)})
    return nlp


def assert_same(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a["token"] == b["token"], (a, b)
        assert a["token_str"] == b["token_str"]
        assert a["sequence"] == b["sequence"]
        assert abs(a["score"] - b["score"]) <= 1e-5


@pytest.mark.parametrize("text", ONE_MASK + SEVERAL_MASKS)
def test_predictions_equal_transformers(nlp, hf_fill, text):
    doc = nlp(text)
    theirs = hf_fill(text)
    theirs = [theirs] if isinstance(theirs[0], dict) else theirs
    assert len(doc._.fill_mask) == len(theirs) == text.count("[MASK]")
    for entry, expected in zip(doc._.fill_mask, theirs):
        assert doc.text[entry["start"] : entry["end"]] == "[MASK]"
        assert_same(entry["predictions"], expected)
        token = doc.char_span(entry["start"], entry["end"])[0]
        assert token._.fill_mask == entry["predictions"]


@pytest.mark.parametrize("top_k", [1, 3, 12])
def test_top_k_equals_transformers(nlp, hf_fill, top_k):
    text = SEVERAL_MASKS[0]
    ours = nlp.get_pipe("bert_fill_mask").fill([text], top_k=top_k)[0]
    for entry, expected in zip(ours, hf_fill(text, top_k=top_k)):
        assert_same(entry["predictions"], expected)


@pytest.mark.parametrize("text", [ONE_MASK[0], SEVERAL_MASKS[1]])
def test_targets_equal_transformers(nlp, hf_fill, text):
    targets = ["paris", "london", "cat", "dog", "mat"]
    ours = nlp.get_pipe("bert_fill_mask").fill([text], targets=targets)[0]
    theirs = hf_fill(text, targets=targets)
    theirs = [theirs] if isinstance(theirs[0], dict) else theirs
    for entry, expected in zip(ours, theirs):
        assert len(entry["predictions"]) == 5
        assert_same(entry["predictions"], expected)


def test_target_outside_the_vocabulary_is_its_first_piece_with_a_warning(nlp, hf_fill):
    text = ONE_MASK[0]
    targets = ["Berlin", "copenhagenish", "paris"]  # a cased word; a word of several pieces
    with pytest.warns(UserWarning, match="W631"):
        ours = nlp.get_pipe("bert_fill_mask").fill([text], targets=targets)[0][0]["predictions"]
    assert_same(ours, hf_fill(text, targets=targets))


def test_targets_with_no_piece_are_a_coded_error(nlp):
    with pytest.warns(UserWarning, match="W632"), raises_code("E631"):
        nlp.get_pipe("bert_fill_mask").fill([ONE_MASK[0]], targets=["   ", "\u200b"])


def test_no_mask_leaves_the_doc_alone(nlp):
    doc = nlp("Nothing is masked here.")
    assert doc._.fill_mask == []
    assert all(t._.fill_mask is None for t in doc)
    assert [t.text for t in doc] == ["Nothing", "is", "masked", "here", "."]


@pytest.mark.parametrize(
    "text,tokens",
    [
        ("[MASK]", ["[MASK]"]),
        ("[MASK] starts it", ["[MASK]", "starts", "it"]),
        ("it ends with [MASK]", ["it", "ends", "with", "[MASK]"]),
        ("(\"[MASK]\").", ["(", '"', "[MASK]", '"', ")", "."]),
        ("two [MASK][MASK] glued", ["two", "[MASK]", "[MASK]", "glued"]),
        ("in a[MASK]b word", ["in", "a", "[MASK]", "b", "word"]),
    ],
)
def test_each_mask_is_one_token(nlp, hf_fill, text, tokens):
    doc = nlp(text)
    assert [t.text for t in doc] == tokens
    masks = [t for t in doc if t.text == "[MASK]"]
    assert len(masks) == len(doc._.fill_mask)
    assert all(t._.fill_mask for t in masks)
    theirs = hf_fill(text)
    theirs = [theirs] if isinstance(theirs[0], dict) else theirs
    for t, expected in zip(masks, theirs):
        assert_same(t._.fill_mask, expected)


def test_mask_deep_in_a_long_text_gets_context_on_both_sides(nlp, hf_fill):
    pipe = nlp.get_pipe("bert_fill_mask")
    words = ("the quick brown fox jumps over the lazy dog near a river bank . " * 800).split()
    words[5000] = "[MASK]"
    text = " ".join(words)
    ids, offsets = pipe.tokenizer.encode_batch_with_offsets([text])[0]
    piece = ids.index(pipe.tokenizer.mask_token_id)
    assert piece == 5000  # one piece per word in this text
    ours = pipe.fill([text])[0]
    assert len(ours) == 1
    # The window the mask is predicted from: plan it as the component does; it must give the
    # mask context on both sides, and HF on exactly that window's text must agree.
    settings = pipe.settings()
    plan = plan_input_windows([len(ids)], None, settings.window, settings.stride)
    w = int(plan.source_window[0][piece])
    start, length = int(plan.start[w]), int(plan.length[w])
    # stride 128: a piece is predicted at least ~64 pieces from either edge of its window
    assert piece - start >= 60 and start + length - 1 - piece >= 60
    window_text = text[offsets[start][0] : offsets[start + length - 1][1]]
    expected = hf_fill(window_text)
    for a, b in zip(ours[0]["predictions"], expected):
        assert a["token"] == b["token"] and abs(a["score"] - b["score"]) <= 1e-5


def test_a_thousand_masks_in_one_doc(nlp):
    text = " ".join(["word [MASK]"] * 1000)
    start = time.perf_counter()
    doc = nlp(text)
    took = time.perf_counter() - start
    assert len(doc._.fill_mask) == 1000
    assert sum(1 for t in doc if t._.fill_mask) == 1000
    assert all(len(e["predictions"]) == 5 for e in doc._.fill_mask)
    assert took < 120, took


def test_checkpoint_without_mlm_head_gets_a_fresh_tied_head_with_a_warning(tiny_bert_dir):
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(tiny_bert_dir)})
    with pytest.warns(UserWarning, match="W630"):
        doc = nlp("A fresh [MASK] head.")
    assert len(doc._.fill_mask[0]["predictions"]) == 5
    assert pipe.hf_class_name == "BertForMaskedLM"
    model = pipe.shim.model
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight


@pytest.mark.parametrize(
    "config",
    [{"objective": "nsp"}, {"mlm_probability": 1.5}, {"mlm_probability": 0.0}, {"targets": []}],  # top_k: test_input_shapes.py
)
def test_bad_settings_are_coded_errors(legacy_mlm_dir, config):
    nlp = spacy.blank("en")
    with raises_code("E630"):
        nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(legacy_mlm_dir), **config})


def test_no_checkpoint_is_a_coded_error():
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_fill_mask")
    with raises_code("E632"):
        nlp("The [MASK].")


def test_save_and_load_without_the_checkpoint(tmp_path, legacy_mlm_dir, hf_fill):
    import shutil

    copy = tmp_path / "ckpt"
    shutil.copytree(legacy_mlm_dir, copy)
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(copy), "top_k": 3})
    before = nlp(ONE_MASK[0])._.fill_mask
    assert before and before[0]["predictions"]
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(copy)
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded(ONE_MASK[0])._.fill_mask == before
    restored = spacy.blank("en")
    # The receiving component's settings are its own (issue 22: the config is the truth), so it
    # is configured as the saved one was.
    restored.add_pipe("bert_fill_mask", config={"checkpoint": None, "top_k": 3})
    restored.get_pipe("bert_fill_mask").from_bytes(nlp.get_pipe("bert_fill_mask").to_bytes())
    assert restored(ONE_MASK[0])._.fill_mask == before


def test_bad_bytes_are_a_coded_error(nlp):
    import srsly

    with raises_code("E389"):
        nlp.get_pipe("bert_fill_mask").from_bytes(srsly.msgpack_dumps({"cfg": {}, "files": {"../x": b"1"}}))


# -- beyond Hugging Face: whole words of several pieces, scored jointly --------------------------------
def test_score_words_one_piece_equals_transformers_targets(nlp, hf_fill):
    text = ONE_MASK[0]
    words = ["paris", "london", "lyon"]
    ours = {d["word"]: d["score"] for d in nlp.get_pipe("bert_fill_mask").score_words(text, words)}
    for expected in hf_fill(text, targets=words):
        assert abs(ours[expected["token_str"]] - expected["score"]) <= 1e-5


def test_score_words_multi_piece_is_the_chain_rule_of_transformers(nlp, legacy_mlm_dir):
    import torch
    from transformers import AutoTokenizer, BertForMaskedLM

    tok = AutoTokenizer.from_pretrained(str(legacy_mlm_dir))
    model = BertForMaskedLM.from_pretrained(str(legacy_mlm_dir)).eval()
    text = "At the zoo we saw a tall [MASK] eating leaves."
    word = "giraffes"
    pieces = tok(word, add_special_tokens=False)["input_ids"]
    assert len(pieces) > 1
    expected = 0.0
    enc = tok(text.replace("[MASK]", "[MASK]" * len(pieces)), return_tensors="pt")
    first = enc["input_ids"][0].tolist().index(tok.mask_token_id)
    for i in range(len(pieces)):
        # step i: the first i pieces in place (as ids: decoding "gi##raf" would re-tokenize)
        ids = enc["input_ids"].clone()
        ids[0, first : first + i] = torch.tensor(pieces[:i], dtype=ids.dtype)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=enc["attention_mask"]).logits[0, first + i]
        expected += float(logits.log_softmax(-1)[pieces[i]])
    ours = nlp.get_pipe("bert_fill_mask").score_words(text, [word, "dogs"])
    by_word = {d["word"]: d for d in ours}
    assert abs(by_word[word]["log_prob"] - expected) <= 1e-4
    assert by_word[word]["pieces"] == tok.convert_ids_to_tokens(pieces)
    assert by_word[word]["sequence"] == "At the zoo we saw a tall giraffes eating leaves."


@pytest.mark.parametrize("text,code", [("no mask here", "E637"), ("[MASK] and [MASK]", "E637")])
def test_score_words_needs_one_mask(nlp, text, code):
    with raises_code(code):
        nlp.get_pipe("bert_fill_mask").score_words(text, ["x"])


def test_score_words_needs_candidates(nlp):
    with raises_code("E638"):
        nlp.get_pipe("bert_fill_mask").score_words(ONE_MASK[0], ["  "])


def test_spliced_sequences_equal_full_decodes(nlp):
    from spacy_bert.pipeline.fill_mask import SequenceSplicer

    pipe = nlp.get_pipe("bert_fill_mask")
    tokenizer = pipe.tokenizer
    text = 'He said: "don\'t [MASK] it", I \'m sure [MASK] n\'t (or \'s) ... un##known [MASK]!'
    ids = np.array([tokenizer.cls_token_id, *tokenizer.encode_batch_with_offsets([text])[0][0], tokenizer.sep_token_id])
    splicer = SequenceSplicer(tokenizer, ids)
    rng = np.random.default_rng(0)
    for position in range(1, len(ids) - 1):
        for token in [*rng.integers(0, tokenizer.vocab_size, 20).tolist(), *tokenizer.convert_tokens_to_ids(["'", ".", "##s", "n", "'s", ",", "do", "not"])]:
            seq = ids.copy()
            seq[position] = token
            assert splicer.sequence(position, token) == tokenizer.decode(seq), (position, token)
    assert splicer.exact
