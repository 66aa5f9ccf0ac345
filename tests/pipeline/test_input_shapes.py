"""Issue 22, items 2 and 3 (numbers): argument shapes and `top_k` ranges of `bert_qa` and
`bert_fill_mask`.

- A `str` is ONE question (`spacy_bert.ask`), ONE target (`fill(targets=...)`, the factory's
  `targets`), ONE candidate word (`score_words`) and ONE text (`fill(texts=...)`), never its
  letters; the expected results are the same call with a one-item list and, where Hugging Face
  has the call, transformers' fill-mask pipeline (which treats a str target as one target).
- Bytes, dicts, numbers, None, sets where order matters, and bad items are coded errors.
- `top_k` passes one rule wherever it enters (method argument, factory config, direct
  construction, saved cfg through `from_disk` and `from_bytes`): an int >= 1, never a bool
  (E750). Beyond the vocabulary it is capped (compared with transformers at top_k = vocabulary
  size, where transformers still works); with targets it is capped at their number, as Hugging
  Face does. A QA top_k beyond the candidate spans gives all the valid spans (brute-force
  references of tests/pipeline/test_qa.py), so fewer answers than top_k.
"""
import json

import numpy as np
import pytest
import spacy
import srsly
import torch
from thinc.api import ConfigValidationError

import spacy_bert
import spacy_bert.pipeline  # noqa: F401  (registers the factories)
from spacy_bert import BertConfig, BertForMaskedLM, BertTokenizer
from spacy_bert.pipeline.fill_mask import BertFillMask, DEFAULT_MODEL as FILL_MASK_MODEL
from tests.error_codes import raises_code
from tests.pipeline.test_qa import (  # noqa: F401  (qa_checkpoint: a fixture)
    DOC_STRIDE,
    LONG_CONTEXT,
    MAX_SEQ_LEN,
    SHORT_CONTEXT,
    assert_same_answers,
    hf_features,
    make_nlp,
    qa_checkpoint,
    reference_pipeline,
    reference_squad,
)

TEXT = "The capital of France is [MASK]."
#: A small vocabulary (so top_k beyond it is cheap to compare in full with transformers).
WORDS = ["the", "a", "cat", "dog", "sat", "on", "mat", "is", "big", "small", "red", "capital", "of", "france", "paris", "."]
SMALL_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s", "##ed"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fill_nlp(legacy_mlm_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(legacy_mlm_dir)})
    return nlp


@pytest.fixture(scope="module")
def hf_fill(legacy_mlm_dir):
    from transformers import pipeline

    return pipeline("fill-mask", model=str(legacy_mlm_dir), device=-1)


@pytest.fixture(scope="module")
def small_vocab_dir(tmp_path_factory):
    """A random BertForMaskedLM over a 23-entry vocabulary (written by our save_pretrained,
    which transformers loads)."""
    directory = tmp_path_factory.mktemp("small-vocab-mlm")
    tokenizer = BertTokenizer(vocab={piece: i for i, piece in enumerate(SMALL_VOCAB)})
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(SMALL_VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    BertForMaskedLM(config).save_pretrained(directory, tokenizer=tokenizer)
    return directory


def small_fill_nlp(directory, **config):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(directory), "window": 64, "stride": 16, **config})
    return nlp


def assert_same(ours, theirs):
    assert [(p["token"], p["token_str"], p["sequence"]) for p in ours] == [(p["token"], p["token_str"], p["sequence"]) for p in theirs]
    assert all(abs(a["score"] - b["score"]) <= 1e-5 for a, b in zip(ours, theirs))


# -- a str is one item ---------------------------------------------------------------------
@pytest.mark.parametrize("question", ["When?", "Who founded Berlin around 1237?"])
def test_ask_with_a_str_asks_one_question(qa_checkpoint, hf_uncased_tokenizer, question):
    """The issue's `ask(nlp, context, "When?")` asked five one-letter questions."""
    hf_model, directory = qa_checkpoint
    nlp = make_nlp(directory, scoring="pipeline", top_k=2)
    doc = spacy_bert.ask(nlp, SHORT_CONTEXT, question)
    assert doc._.questions == [question]
    assert list(doc._.answers) == ["0"]
    assert doc._.answers == spacy_bert.ask(nlp, SHORT_CONTEXT, [question])._.answers
    assert_same_answers(doc._.answers["0"], reference_pipeline(hf_uncased_tokenizer, hf_model, question, SHORT_CONTEXT, 2, False))
    # a tuple and a generator are lists of questions too
    assert spacy_bert.ask(nlp, SHORT_CONTEXT, (question, "Who?"))._.answers == spacy_bert.ask(nlp, SHORT_CONTEXT, (q for q in [question, "Who?"]))._.answers


@pytest.mark.parametrize(
    "questions,code,match",
    [
        (b"When?", "E751", "bytes"),
        ({"id": "q1", "question": "When?"}, "E751", "dict"),
        ({"q1": "When?"}, "E751", "dict"),
        (42, "E751", "int"),
        (None, "E751", "NoneType"),
        ({"When?", "Who?"}, "E751", "no order"),
        (["When?", None], "E604", "index 1"),
        (["When?", 3], "E604", "index 1"),
        ([b"When?"], "E604", "index 0"),
        ("", "E605", "'0'"),
        ("   ", "E605", "'0'"),
    ],
)
def test_ask_refuses_what_is_not_questions(qa_checkpoint, questions, code, match):
    nlp = make_nlp(qa_checkpoint[1])
    with raises_code(code, match=match):
        spacy_bert.ask(nlp, SHORT_CONTEXT, questions)


def test_doc_questions_stay_a_list(qa_checkpoint):
    """Decision: `doc._.questions` is data that other code reads back as a list, so a str there
    stays E604 (only the `ask` argument takes a str as one question); a tuple is a list."""
    nlp = make_nlp(qa_checkpoint[1])
    doc = nlp.make_doc(SHORT_CONTEXT)
    doc._.questions = "When?"
    with raises_code("E604", match="str"):
        nlp(doc)
    doc = nlp.make_doc(SHORT_CONTEXT)
    doc._.questions = ("When?",)
    assert nlp(doc)._.answers == spacy_bert.ask(nlp, SHORT_CONTEXT, "When?")._.answers


@pytest.mark.parametrize("target", ["paris", "london"])
def test_a_str_target_is_one_target_as_in_transformers(fill_nlp, hf_fill, target):
    pipe = fill_nlp.get_pipe("bert_fill_mask")
    ours = pipe.fill([TEXT], targets=target)[0][0]["predictions"]
    assert len(ours) == 1 and ours[0]["token_str"] == target
    assert ours == pipe.fill([TEXT], targets=[target])[0][0]["predictions"]
    assert_same(ours, hf_fill(TEXT, targets=target))


def test_a_str_target_in_the_config_is_one_target(legacy_mlm_dir, hf_fill):
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(legacy_mlm_dir), "targets": "paris"})
    assert pipe.cfg["targets"] == ["paris"]
    assert_same(nlp(TEXT)._.fill_mask[0]["predictions"], hf_fill(TEXT, targets="paris"))


@pytest.mark.parametrize("word", ["cap", "giraffes"])
def test_score_words_with_a_str_scores_one_word(fill_nlp, word):
    pipe = fill_nlp.get_pipe("bert_fill_mask")
    ours = pipe.score_words(TEXT, word)
    assert [d["word"] for d in ours] == [word]
    assert ours == pipe.score_words(TEXT, [word])


def test_fill_with_a_str_fills_one_text(fill_nlp):
    """Decision: `fill` stays a batch method (a list per text); a str is one text."""
    pipe = fill_nlp.get_pipe("bert_fill_mask")
    ours = pipe.fill(TEXT, top_k=3)
    assert len(ours) == 1 and len(ours[0]) == 1
    assert ours == pipe.fill([TEXT], top_k=3)
    assert pipe.fill("no mask here") == [[]]


@pytest.mark.parametrize(
    "call,code,match",
    [
        (lambda p: p.fill(b"The [MASK]."), "E751", "bytes"),
        (lambda p: p.fill({"text": TEXT}), "E751", "dict"),
        (lambda p: p.fill(7), "E751", "int"),
        (lambda p: p.fill(None), "E751", "NoneType"),
        (lambda p: p.fill({TEXT, "A [MASK]."}), "E751", "no order"),
        (lambda p: p.fill([TEXT, None]), "E752", "item 1"),
        (lambda p: p.fill([TEXT, b"x"]), "E752", "item 1"),
        (lambda p: p.fill([TEXT], targets=b"paris"), "E751", "bytes"),
        (lambda p: p.fill([TEXT], targets={"paris": 1}), "E751", "dict"),
        (lambda p: p.fill([TEXT], targets=5), "E751", "int"),
        (lambda p: p.fill([TEXT], targets=["paris", None]), "E752", "item 1"),
        (lambda p: p.score_words(TEXT, b"cap"), "E751", "bytes"),
        (lambda p: p.score_words(TEXT, {"cap": 1}), "E751", "dict"),
        (lambda p: p.score_words(TEXT, 3), "E751", "int"),
        (lambda p: p.score_words(TEXT, ["cap", None]), "E752", "item 1"),
        (lambda p: p.score_words(TEXT, ""), "E638", None),
        (lambda p: p.score_words(TEXT, []), "E638", None),
    ],
)
def test_fill_mask_refuses_what_is_not_strings(fill_nlp, call, code, match):
    with raises_code(code, match=match):
        call(fill_nlp.get_pipe("bert_fill_mask"))


def test_an_empty_target_is_a_coded_error(fill_nlp):
    pipe = fill_nlp.get_pipe("bert_fill_mask")
    with pytest.warns(UserWarning, match="W632"), raises_code("E631"):
        pipe.fill([TEXT], targets="")


def test_a_set_of_targets_or_words_is_fine(fill_nlp):
    pipe = fill_nlp.get_pipe("bert_fill_mask")
    assert pipe.fill([TEXT], targets={"paris", "london"}) == pipe.fill([TEXT], targets=["london", "paris"])
    assert pipe.score_words(TEXT, {"cap", "paris"}) == pipe.score_words(TEXT, ["paris", "cap"])


# -- top_k ---------------------------------------------------------------------------------
BAD_TOP_K = [True, False, 0, -3, 2.5, "3", None]


@pytest.mark.parametrize("value", [v for v in BAD_TOP_K if v is not None])
def test_top_k_argument_of_fill(fill_nlp, value):
    with raises_code("E750", match=r"fill\(top_k"):
        fill_nlp.get_pipe("bert_fill_mask").fill([TEXT], top_k=value)


def test_top_k_accepts_numpy_ints(fill_nlp, hf_fill):
    ours = fill_nlp.get_pipe("bert_fill_mask").fill([TEXT], top_k=np.int64(4))[0][0]["predictions"]
    assert_same(ours, hf_fill(TEXT, top_k=4))


@pytest.mark.parametrize("factory", ["bert_fill_mask", "bert_qa"])
@pytest.mark.parametrize("value", [0, -3, "3"])
def test_top_k_in_the_factory_config(factory, value):
    with raises_code("E750", match="in its config"):
        spacy.blank("en").add_pipe(factory, config={"top_k": value})


@pytest.mark.parametrize("factory", ["bert_fill_mask", "bert_qa"])
def test_top_k_true_in_the_config_is_refused(factory):
    """A bool in the config is refused by spaCy's own config check before the component."""
    with pytest.raises(ConfigValidationError, match="top_k"):
        spacy.blank("en").add_pipe(factory, config={"top_k": True})


def test_top_k_true_in_direct_construction():
    from thinc.api import Config
    from spacy.util import registry

    model = registry.resolve(Config({"model": FILL_MASK_MODEL}))["model"]
    with raises_code("E750", match="True"):
        BertFillMask(spacy.blank("en").vocab, model, top_k=True)


def saved_with_top_k(nlp, tmp_path, name, value):
    """Save `nlp`, then write `value` as top_k into component `name`'s saved cfg."""
    path = tmp_path / "saved"
    nlp.to_disk(path)
    cfg_file = path / name / "cfg"
    cfg = json.loads(cfg_file.read_text())
    cfg["top_k"] = value
    cfg_file.write_text(json.dumps(cfg))
    return path


@pytest.mark.parametrize("value", [True, 0, -1, 1.5, "5"])
def test_top_k_in_a_saved_cfg_fill_mask(small_vocab_dir, tmp_path, value):
    nlp = small_fill_nlp(small_vocab_dir)
    path = saved_with_top_k(nlp, tmp_path, "bert_fill_mask", value)
    with raises_code("E750", match="in its cfg"):
        spacy.load(path)
    msg = srsly.msgpack_loads(nlp.get_pipe("bert_fill_mask").to_bytes())
    msg["cfg"]["top_k"] = value
    with raises_code("E750", match="in its cfg"):
        small_fill_nlp(small_vocab_dir).get_pipe("bert_fill_mask").from_bytes(srsly.msgpack_dumps(msg))


@pytest.mark.parametrize("value", [True, 0, "2"])
def test_top_k_in_a_saved_cfg_qa(qa_checkpoint, tmp_path, value):
    nlp = make_nlp(qa_checkpoint[1])
    path = saved_with_top_k(nlp, tmp_path, "bert_qa", value)
    with raises_code("E750", match="in its cfg"):
        spacy.load(path)
    msg = srsly.msgpack_loads(nlp.get_pipe("bert_qa").to_bytes())
    msg["cfg"]["top_k"] = value
    with raises_code("E750", match="in its cfg"):
        make_nlp(qa_checkpoint[1]).get_pipe("bert_qa").from_bytes(srsly.msgpack_dumps(msg))


def test_top_k_set_on_pipe_cfg_is_checked_when_used(qa_checkpoint):
    nlp = make_nlp(qa_checkpoint[1])
    nlp.get_pipe("bert_qa").cfg["top_k"] = True
    with raises_code("E750"):
        spacy_bert.ask(nlp, SHORT_CONTEXT, "When?")


def test_top_k_beyond_the_vocabulary_is_capped_as_transformers_at_its_size(small_vocab_dir):
    """The issue's crash in `probs.topk` (method argument); transformers fails the same way
    beyond the vocabulary, so it is compared at top_k = vocabulary size."""
    from transformers import pipeline

    hf = pipeline("fill-mask", model=str(small_vocab_dir), device=-1)
    pipe = small_fill_nlp(small_vocab_dir).get_pipe("bert_fill_mask")
    text = "the cat sat on the [MASK] ."
    for top_k in (len(SMALL_VOCAB) + 1, 10**9):
        ours = pipe.fill([text], top_k=top_k)[0][0]["predictions"]
        assert len(ours) == len(SMALL_VOCAB)
        assert_same(ours, hf(text, top_k=len(SMALL_VOCAB)))
    with pytest.raises(RuntimeError):  # what transformers does beyond its vocabulary
        hf(text, top_k=len(SMALL_VOCAB) + 1)
    # with targets: capped at their number, as transformers does
    ours = pipe.fill([text], top_k=50, targets=["mat", "dog"])[0][0]["predictions"]
    assert_same(ours, hf(text, top_k=50, targets=["mat", "dog"]))
    assert len(ours) == 2


@pytest.mark.parametrize("where", ["config", "saved cfg"])
def test_top_k_beyond_the_vocabulary_in_config_and_saved_cfg(small_vocab_dir, tmp_path, where):
    text = "a [MASK] dog sat on the mat ."
    reference = small_fill_nlp(small_vocab_dir).get_pipe("bert_fill_mask").fill([text], top_k=len(SMALL_VOCAB))
    if where == "config":
        nlp = small_fill_nlp(small_vocab_dir, top_k=10**6)
    else:
        nlp = spacy.load(saved_with_top_k(small_fill_nlp(small_vocab_dir), tmp_path, "bert_fill_mask", 10**6))
    assert nlp(text)._.fill_mask == reference[0]


@pytest.mark.parametrize("context", [SHORT_CONTEXT, LONG_CONTEXT], ids=["one-window", "several-windows"])
def test_qa_top_k_beyond_the_candidates_gives_all_valid_spans(qa_checkpoint, hf_uncased_tokenizer, context):
    """Fewer answers than top_k: every valid span (brute-force reference over all pairs), never
    a 0-score cell of [CLS] or of a reversed span, which Hugging Face's pipeline returns here."""
    hf_model, directory = qa_checkpoint
    question = "When was it founded?"
    top_k = 10**6
    doc = spacy_bert.ask(make_nlp(directory, scoring="pipeline", top_k=top_k, max_answer_len=4), context, question)
    ours = doc._.answers["0"]
    reference = reference_pipeline(hf_uncased_tokenizer, hf_model, question, context, top_k, False, max_answer_len=4)
    assert 1 < len(ours) < top_k
    assert_same_answers(ours, reference)
    assert all(a["start"] < a["end"] and a["answer"] == context[a["start"] : a["end"]] for a in ours)
    # squad: the n-best list (n_best_size spans, + the null answer when impossible is allowed)
    nlp = make_nlp(directory, scoring="squad", top_k=top_k, handle_impossible=True, n_best_size=5)
    ours = spacy_bert.ask(nlp, context, question)._.answers["0"]
    assert_same_answers(ours, reference_squad(hf_uncased_tokenizer, hf_model, question, context, top_k, True, n_best=5))
    assert len(ours) <= 6


def test_qa_top_k_equal_to_the_window_cells(qa_checkpoint, hf_uncased_tokenizer):
    """top_k == positions**2 of the window: Hugging Face's `argpartition(-scores, top_k)`
    raises there (kth out of bounds); here all valid spans come back."""
    hf_model, directory = qa_checkpoint
    question = "Who?"
    features = hf_features(hf_uncased_tokenizer, question, SHORT_CONTEXT, max_length=MAX_SEQ_LEN, stride=DOC_STRIDE)
    assert len(features["input_ids"]) == 1
    cells = len(features["input_ids"][0]) ** 2
    doc = spacy_bert.ask(make_nlp(directory, scoring="pipeline", top_k=cells), SHORT_CONTEXT, question)
    assert_same_answers(doc._.answers["0"], reference_pipeline(hf_uncased_tokenizer, hf_model, question, SHORT_CONTEXT, cells, False))


# -- the other public methods that take strings ----------------------------------------------
def test_run_windows_takes_a_str_as_one_pair(qa_checkpoint):
    qa = make_nlp(qa_checkpoint[1]).get_pipe("bert_qa")
    one = qa.run_windows(SHORT_CONTEXT, "When?")
    listed = qa.run_windows([SHORT_CONTEXT], ["When?"])
    assert one.plan.n_windows == listed.plan.n_windows == 1
    assert np.array_equal(one.start_logits[0], listed.start_logits[0])
    with raises_code("E602", match="len\\(questions\\)"):
        qa.run_windows([SHORT_CONTEXT, LONG_CONTEXT], "When?")
    with raises_code("E751", match="bytes"):
        qa.run_windows(b"Berlin", "When?")


def test_target_ids_takes_a_str_as_one_target(fill_nlp):
    pipe = fill_nlp.get_pipe("bert_fill_mask")
    assert pipe.target_ids("paris").tolist() == pipe.target_ids(["paris"]).tolist()
    assert len(pipe.target_ids("paris")) == 1


def test_set_precision_takes_a_str_as_one_name(qa_checkpoint, legacy_mlm_dir):
    from spacy_bert.pipeline import set_precision

    nlp = make_nlp(qa_checkpoint[1])
    nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(legacy_mlm_dir)})
    assert set_precision(nlp, "bfloat16", names="bert_qa") == {"bert_qa": "bfloat16"}
    assert nlp.get_pipe("bert_fill_mask").precision == "float32"
    with raises_code("E751", match="dict"):
        set_precision(nlp, "int8", names={"bert_qa": True})


def test_a_numpy_top_k_in_the_config_saves_as_an_int(small_vocab_dir, tmp_path):
    nlp = small_fill_nlp(small_vocab_dir)
    pipe = nlp.get_pipe("bert_fill_mask")
    made = BertFillMask(nlp.vocab, pipe.model, "bert_fill_mask", checkpoint=str(small_vocab_dir), window=64, stride=16, top_k=np.int64(3))
    assert type(made.cfg["top_k"]) is int
    made.to_disk(tmp_path / "component")
    assert json.loads((tmp_path / "component" / "cfg").read_text())["top_k"] == 3



@pytest.mark.parametrize("text", [["The [MASK]."], b"The [MASK].", None, 5])
def test_score_words_text_is_one_str(fill_nlp, text):
    with raises_code("E753", match="score_words"):
        fill_nlp.get_pipe("bert_fill_mask").score_words(text, "cap")


@pytest.mark.parametrize("context", [b"Berlin was founded in 1237.", None, 1237, [SHORT_CONTEXT]])
def test_ask_context_is_one_str(qa_checkpoint, context):
    with raises_code("E753", match="ask"):
        spacy_bert.ask(make_nlp(qa_checkpoint[1]), context, "When?")
