"""`batch_invariant = true`: a text's outputs are bit for bit the same whatever it is batched with.

For every factory, in fp32 (on 1 and 2 torch threads), int8 and bf16: each text run alone, in
pairs, and in one batch with all the others (texts of 1 to 5 windows, so batches mix lengths and
windows) gives byte-identical outputs: token vectors, entity and category scores, answers and
fill-mask scores, written out with every float's exact `repr`. Why the setting exists (a text's
scores depend on the padding and row count of its batch otherwise) is in
`spacy_bert/layers/stages/batching.py`."""
import json
import warnings

import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_bert.layers.stages.batching import INVARIANT_MULTIPLE, invariant_batches, invariant_length
from spacy_bert.pipeline import set_batch_invariant, set_precision
from tests.error_codes import raises_code

TEXTS = [
    "Alice Smith lives in Paris now",
    "Eve",
    "",
    "I hate London and Berlin.",
    "Who is Shaka Khan?",
    "The meeting in Rome was moved to Oslo because of the weather in the north.",
] + [f"Report {i}: Anna met Bob in Lima." + " It rained all day long and nobody came." * (i % 6) for i in range(10)]
MASK_TEXTS = [f"{text} The [MASK] was late." if i % 2 else f"[MASK] {text}" for i, text in enumerate(TEXTS) if text]
QUESTIONS = ["Who lives in Paris?", "Where does Alice live?"]
SMALL = {"window": 64, "stride": 16, "batch_invariant": True}
FACTORIES = ["bert", "bert_ner", "bert_textcat", "bert_qa", "bert_fill_mask"]


@pytest.fixture(scope="module")
def pipelines(tiny_bert_dir, make_tiny_head):
    """One batch-invariant pipeline per factory, on tiny random checkpoints."""
    made = {}
    train = [("Alice Smith lives in Paris now", {"entities": [(0, 11, "PER"), (21, 26, "LOC")], "cats": {"POS": 1.0, "NEG": 0.0}}),
             ("I hate London and Berlin.", {"entities": [(7, 13, "LOC"), (18, 24, "LOC")], "cats": {"POS": 0.0, "NEG": 1.0}})]
    for factory in FACTORIES:
        nlp = spacy.blank("en")
        if factory == "bert_qa":
            checkpoint, config = make_tiny_head("BertForQuestionAnswering")[1], {"max_seq_len": 48, "doc_stride": 16, "top_k": 2, "batch_invariant": True}
        elif factory == "bert_fill_mask":
            checkpoint, config = make_tiny_head("BertForMaskedLM")[1], {**SMALL, "top_k": 3}
        else:
            checkpoint, config = tiny_bert_dir, dict(SMALL)
        nlp.add_pipe(factory, config={"checkpoint": str(checkpoint), **config})
        fix_random_seed(0)
        if factory in ("bert_ner", "bert_textcat"):
            nlp.initialize(lambda: [Example.from_dict(nlp.make_doc(text), annotations) for text, annotations in train])
        else:
            nlp.initialize()
        made[factory] = nlp
    return made


def make_docs(nlp, factory, texts):
    docs = [nlp.make_doc(text) for text in texts]
    if factory == "bert_qa":
        for doc in docs:
            doc._.questions = list(QUESTIONS)
    return docs


def record(doc) -> str:
    """Everything a component set on `doc` that carries floats, as exact JSON."""
    scores = [list(group.attrs.get("scores", [])) for group in doc.spans.values()]
    out = {
        "tensor": doc.tensor.tolist(),
        "ents": [(e.start_char, e.end_char, e.label_) for e in doc.ents],
        "span_scores": [[float(s) for s in group] for group in scores],
        "cats": doc.cats,
    }
    for name in ("answers", "fill_mask"):
        if doc.has_extension(name) and getattr(doc._, name) is not None:
            out[name] = getattr(doc._, name)
    return json.dumps(out, default=lambda value: value.item())


def has_scores(text: str) -> bool:
    """Whether a record holds any float: compared outputs must not be empty."""
    out = json.loads(text)
    return bool(out["tensor"] or any(out["span_scores"]) or out["cats"] or out.get("answers") or out.get("fill_mask"))


@pytest.mark.parametrize("precision,threads", [("float32", 1), ("float32", 2), ("int8", 1), ("bfloat16", 1)])
@pytest.mark.parametrize("factory", FACTORIES)
def test_outputs_do_not_depend_on_the_batch(pipelines, factory, precision, threads):
    nlp = pipelines[factory]
    set_precision(nlp, precision)
    texts = MASK_TEXTS if factory == "bert_fill_mask" else TEXTS
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        together = [record(doc) for doc in nlp.pipe(make_docs(nlp, factory, texts), batch_size=len(texts))]
        pairs = [record(doc) for doc in nlp.pipe(make_docs(nlp, factory, texts), batch_size=2)]
        alone = [record(doc) for text in texts for doc in nlp.pipe(make_docs(nlp, factory, [text]))]
    finally:
        torch.set_num_threads(before)
        set_precision(nlp, "float32")
    assert sum(has_scores(out) for out in together) >= len(texts) // 2
    for text, a, b, c in zip(texts, together, pairs, alone):
        assert a == b == c, f"{factory} {precision}: {text[:30]!r}"


def test_invariant_lengths_by_hand():
    assert INVARIANT_MULTIPLE == 8
    assert [invariant_length(n, 512) for n in (2, 3, 8, 9, 16, 17, 505, 511, 512)] == [8, 8, 8, 16, 16, 24, 512, 512, 512]
    assert invariant_length(45, 48) == 48 and invariant_length(47, 46) == 47  # capped at the window, never below itself
    assert invariant_length(3, 5) == 5


def test_invariant_batches_group_one_length_under_the_budget():
    lengths = [3, 9, 10, 16, 17, 40, 12, 5, 64, 64, 64]
    groups = invariant_batches(lengths, 64, window=64)
    seen = sorted(int(w) for group, _ in groups for w in group)
    assert seen == list(range(len(lengths)))  # each window once
    for group, length in groups:
        assert {invariant_length(lengths[w], 64) for w in group} == {length}
        assert len(group) == 1 or len(group) * length <= 64
    assert [(list(map(int, g)), n) for g, n in groups] == [
        ([8], 64), ([9], 64), ([10], 64), ([5], 40), ([4], 24), ([3, 6, 2, 1], 16), ([7, 0], 8),
    ]


def test_batch_invariant_is_a_saved_setting(pipelines, tmp_path):
    nlp = pipelines["bert_ner"]
    assert nlp.get_pipe("bert_ner").cfg["batch_invariant"] is True
    nlp.to_disk(tmp_path / "saved")
    assert spacy.load(tmp_path / "saved").get_pipe("bert_ner").cfg["batch_invariant"] is True
    overridden = spacy.load(tmp_path / "saved", config={"components": {"bert_ner": {"batch_invariant": False}}})
    assert overridden.get_pipe("bert_ner").cfg["batch_invariant"] is False
    assert set_batch_invariant(overridden) == ["bert_ner"]
    assert overridden.get_pipe("bert_ner").cfg["batch_invariant"] is True
    assert overridden.config["components"]["bert_ner"]["batch_invariant"] is True


def test_batch_invariant_must_be_a_bool(tiny_bert_dir):
    nlp = spacy.blank("en")
    with raises_code("E354", match="batch_invariant"):
        nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir), "batch_invariant": "yes"})
    pipe = nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir)})
    with raises_code("E354", match="batch_invariant"):
        pipe.set_batch_invariant(1)
    assert pipe.cfg["batch_invariant"] is False


def test_real_model_pooled_classes_do_not_depend_on_the_batch(minilm_dir, data_dir):
    """all-MiniLM-L6-v2 (hidden 384) on 48 SST-2 sentences (many of one padded length, so batches
    of many rows): its pooler runs the CPU kernels whose results change with the row count (the
    tiny models' products are too small to show it)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_textcat", config={"checkpoint": str(minilm_dir), "window": 64, "stride": 16, "batch_invariant": True})
    fix_random_seed(0)
    nlp.initialize(lambda: [Example.from_dict(nlp.make_doc("Alice lives in Paris"), {"cats": {"POS": 1.0, "NEG": 0.0}})])
    texts = [line.split("\t")[1] for line in (data_dir / "sst2" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:49]]
    together = [record(doc) for doc in nlp.pipe(texts, batch_size=len(texts))]
    alone = [record(doc) for text in texts for doc in nlp.pipe([text])]
    assert all(json.loads(out)["cats"] for out in together)
    assert together == alone


def test_score_words_do_not_depend_on_the_other_candidates(minilm_dir):
    """`score_words` runs every (candidate, piece) as a row of one batch: with batch_invariant a
    candidate's log-probability is the same asked alone or among others. all-MiniLM-L6-v2 with
    a fresh masked-LM head (tied to its embeddings): a real model's products show the row-count
    effect (without the setting, these log-probabilities differ in the last bits)."""
    nlp = spacy.blank("en")
    fill = nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(minilm_dir), "batch_invariant": True})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fresh head is announced
        nlp.initialize()
    text = "Alice Smith lives in [MASK] now."
    candidates = ["paris", "the", "notwithstanding", "london", "a"]
    together = {out["word"]: out["log_prob"] for out in fill.score_words(text, candidates)}
    alone = {word: fill.score_words(text, [word])[0]["log_prob"] for word in candidates}
    assert all(value != 0.0 for value in together.values())
    assert together == alone
