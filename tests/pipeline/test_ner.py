"""`bert_ner`: training, round trips, parity with transformers' token classification, long and
odd input, errors, export and `spacy train` (the BIO rules of `token_tags.py` on hand-made
alignments are in test_token_tags.py).

Expected values come from transformers (run in the same process) or are written by hand from
the documented rules, never from the code under test.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import spacy
import torch
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import load_model_from_config
from thinc.api import fix_random_seed

from tests.pipeline.spacy_cli import ONE_THREAD_ENV, run_spacy, train_briefly, wnut_slice
from spacy_bert.hf_reference import word_piece_labels
from spacy_bert.pipeline.export import export_component
from spacy_bert.pipeline.token_tags import IGNORE


ID2LABEL = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}

TRAIN_DATA = [
    ("Alice Smith lives in Paris now", [(0, 11, "PER"), (21, 26, "LOC")]),
    ("I like London and Berlin.", [(7, 13, "LOC"), (18, 24, "LOC")]),
    ("Who is Shaka Khan?", [(7, 17, "PER")]),
]

#: Texts whose spaCy tokens are exactly BERT's words (no contractions, punctuation spaced), so
#: spaCy's token = transformers' word and the two aggregations are comparable.
PARITY_TEXTS = [
    "Alice met Bob in Paris and London yesterday .",
    "Arnold Schwarzenegger listened to Tchaikovsky in Reykjavik .",
    "the quick brown fox jumps over the lazy dog",
    "Mr Johnson flew from New York to San Francisco with Maria Gonzalez",
    "Thessaloniki Kolmogorov Dostoyevsky Szczebrzeszyn Llanfairpwllgwyngyll",
    "she said that the unbelievable antidisestablishmentarianism was over",
]

LISTENER_NER_MODEL = {
    "@architectures": "spacy-bert.BertTokenClassifier.v1",
    "nO": None,
    "tok2vec": {"@architectures": "spacy-bert.BertOutputListener.v1", "upstream": "bert"},
}


# torch on one thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


#: Environment of the `spacy` subprocesses: one thread, as above.


def ents(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def scores(doc, key="bert_ner"):
    return list(doc.spans[key].attrs["scores"])


# -- checkpoints made with transformers --------------------------------------------------
def save_token_classifier(directory, minilm_dir, id2label=ID2LABEL, scale=10.0, context_free=False):
    """A random transformers `BertForTokenClassification` (hidden 32, 64 positions, the real
    uncased vocabulary) whose head gives varied labels: its weights are scaled and its bias
    centres the logits on some sample texts (otherwise one label wins everywhere).

    context_free: zero the attention outputs and position embeddings, so each piece's logits
        depend on its id only (then any windowing of a long text gives the same logits).
    """
    import transformers

    from tests.modeling.helpers import hf_model

    model = hf_model(
        "BertForTokenClassification",
        vocab_size=30522,
        num_labels=len(id2label),
        id2label=dict(id2label),
        label2id={v: k for k, v in id2label.items()},
    )
    tokenizer = transformers.BertTokenizerFast.from_pretrained(str(minilm_dir))
    with torch.no_grad():
        if context_free:
            for layer in model.bert.encoder.layer:
                layer.attention.output.dense.weight.zero_()
                layer.attention.output.dense.bias.zero_()
            model.bert.embeddings.position_embeddings.weight.zero_()
        model.classifier.weight.mul_(scale)
        batch = tokenizer(PARITY_TEXTS[:3], return_tensors="pt", padding=True)
        hidden = model.bert(**batch).last_hidden_state[batch["attention_mask"].bool()]
        bias = -(model.classifier.weight @ hidden.mean(0))
        bias[0] += 1.0  # a little more "O"
        model.classifier.bias.copy_(bias)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def finetuned_dir(tmp_path_factory, minilm_dir):
    return save_token_classifier(tmp_path_factory.mktemp("ft-ner"), minilm_dir)


@pytest.fixture(scope="module")
def context_free_dir(tmp_path_factory, minilm_dir):
    return save_token_classifier(tmp_path_factory.mktemp("cf-ner"), minilm_dir, context_free=True)


def ner_nlp(checkpoint, **config):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_ner", config={"checkpoint": str(checkpoint), **config})
    return nlp


def hf_token_model(directory):
    import transformers

    return transformers.AutoModelForTokenClassification.from_pretrained(str(directory)).eval()


def hf_logits(model, tokenizer, text):
    """transformers' logits of `text` (with [CLS]/[SEP]) and the fast tokenizer's encoding."""
    enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return model(**enc).logits[0].numpy(), enc


# -- 1. overfitting and round trips (own encoder and listener) ---------------------------
def build_pipeline(mode, checkpoint):
    nlp = spacy.blank("en")
    if mode == "own":
        nlp.add_pipe("bert_ner", config={"checkpoint": str(checkpoint)})
    else:
        nlp.add_pipe("bert", config={"checkpoint": str(checkpoint)})
        nlp.add_pipe("bert_ner", config={"model": LISTENER_NER_MODEL})
    return nlp


@pytest.fixture(scope="module", params=["own", "listener"])
def trained(request, tiny_bert_dir, tmp_path_factory):
    """A pipeline overfitted on TRAIN_DATA; its checkpoint directory is deleted afterwards, so
    everything later must work from the trained weights alone."""
    mode = request.param
    checkpoint = tmp_path_factory.mktemp(f"ckpt-{mode}") / "tiny"
    shutil.copytree(tiny_bert_dir, checkpoint)
    fix_random_seed(0)
    nlp = build_pipeline(mode, checkpoint)
    egs = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in TRAIN_DATA]
    optimizer = nlp.initialize(lambda: egs)
    history = []
    for _ in range(60):
        history.append(nlp.update(egs, sgd=optimizer, losses={})["bert_ner"])
    shutil.rmtree(checkpoint)
    return mode, nlp, history


def test_overfitting_IO(trained, tmp_path):
    mode, nlp, history = trained
    ner = nlp.get_pipe("bert_ner")
    assert ner.owns_encoder == (mode == "own")
    if mode == "listener":
        assert nlp.get_pipe("bert").listening_components == ["bert_ner"]
    assert ner.labels == ("LOC", "PER")
    assert ner.cfg["labels"] == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert history[-1] < history[0] / 5
    texts = [t for t, _ in TRAIN_DATA]
    docs = [nlp(t) for t in texts]
    for doc, (_, gold) in zip(docs, TRAIN_DATA):
        assert ents(doc) == gold
        group = doc.spans["bert_ner"]
        assert [(s.start_char, s.end_char, s.label_) for s in group] == gold
        assert len(scores(doc)) == len(gold) and all(0.5 < s <= 1.0 for s in scores(doc))
    # nlp.pipe in a batch gives the same
    for doc, again in zip(docs, nlp.pipe(texts, batch_size=2)):
        assert ents(again) == ents(doc)
        assert np.allclose(scores(again), scores(doc), atol=1e-5)

    # to_disk / spacy.load (the checkpoint directory is gone)
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    for doc in docs:
        again = loaded(doc.text)
        assert ents(again) == ents(doc)
        assert np.allclose(scores(again), scores(doc), atol=1e-6)

    # to_bytes / from_bytes into a fresh pipeline built from the same config
    fresh = load_model_from_config(nlp.config, auto_fill=True, validate=True)
    fresh.from_bytes(nlp.to_bytes())
    for doc in docs:
        again = fresh(doc.text)
        assert ents(again) == ents(doc)
        assert np.allclose(scores(again), scores(doc), atol=1e-6)

    if mode == "own":
        # the saved model/ folder is a transformers token-classification checkpoint
        import transformers

        model_dir = tmp_path / "pipeline" / "bert_ner" / "model"
        hf = hf_token_model(model_dir)
        assert hf.config.id2label == dict(enumerate(ner.cfg["labels"]))
        tokenizer = transformers.BertTokenizerFast.from_pretrained(str(model_dir))
        for doc in docs:
            logits, _ = hf_logits(hf, tokenizer, doc.text)
            ours = ner.model.ops.to_numpy(ner.model.predict([doc])[0].logits)
            assert ours.shape == logits[1:-1].shape
            assert np.abs(ours - logits[1:-1]).max() <= 1e-4
    else:
        assert not (tmp_path / "pipeline" / "bert_ner" / "model").exists()
        assert (tmp_path / "pipeline" / "bert_ner" / "classifier.safetensors").is_file()


# -- 5. export ------------------------------------------------------------------------
def test_export_component(trained, tmp_path):
    import transformers

    mode, nlp, _ = trained
    ner = nlp.get_pipe("bert_ner")
    out = export_component(nlp, "bert_ner", tmp_path / "hf")
    hf, info = transformers.AutoModelForTokenClassification.from_pretrained(str(out), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    hf.eval()
    assert type(hf).__name__ == "BertForTokenClassification"
    assert hf.config.id2label == dict(enumerate(ner.cfg["labels"]))
    assert hf.config.label2id == {label: i for i, label in enumerate(ner.cfg["labels"])}
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(out))
    for text in [t for t, _ in TRAIN_DATA] + ["An unseen text about Khan in Berlin."]:
        doc = nlp(text)
        logits, enc = hf_logits(hf, tokenizer, text)
        out_doc = ner.model.predict([doc])[0]
        ours = ner.model.ops.to_numpy(out_doc.logits)
        assert ours.shape == logits[1:-1].shape
        assert np.abs(ours - logits[1:-1]).max() <= 1e-4
    with pytest.raises(ValueError, match="no such component"):
        export_component(nlp, "nope", tmp_path / "nope")


def test_export_cli(trained, tmp_path):
    mode, nlp, _ = trained
    nlp.to_disk(tmp_path / "pipeline")
    command = [sys.executable, "-m", "spacy", "bert", "export", str(tmp_path / "pipeline")]
    options = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **ONE_THREAD_ENV})
    good = subprocess.Popen([*command, "bert_ner", str(tmp_path / "out")], **options)
    bad = subprocess.Popen([*command, "no_such_pipe", str(tmp_path / "bad")], **options)
    good_out, _ = good.communicate(timeout=120)
    bad_out, _ = bad.communicate(timeout=120)
    assert good.returncode == 0, good_out[-3000:]
    for name in ("config.json", "model.safetensors", "vocab.txt"):
        assert (tmp_path / "out" / name).is_file(), name
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]
    assert config["id2label"] == {str(i): label for i, label in enumerate(nlp.get_pipe("bert_ner").cfg["labels"])}
    assert bad.returncode != 0
    assert "no_such_pipe" in bad_out
    assert not (tmp_path / "bad" / "model.safetensors").exists()


# -- 2. parity with a fine-tuned transformers head ------------------------------------
def test_finetuned_head_matches_transformers_pipeline(finetuned_dir):
    import transformers

    hf = hf_token_model(finetuned_dir)
    tokenizer = transformers.BertTokenizerFast.from_pretrained(str(finetuned_dir))
    results = {}
    for strategy in ("first", "average", "max"):
        nlp = ner_nlp(finetuned_dir, aggregation_strategy=strategy)  # no nlp.initialize()
        ner = nlp.get_pipe("bert_ner")
        reference = transformers.pipeline("token-classification", model=hf, tokenizer=tokenizer, aggregation_strategy=strategy)
        assert ner.cfg["labels"] == []  # read on first use
        for text in PARITY_TEXTS:
            doc = nlp(text)
            expected = reference(text)
            assert ents(doc) == [(r["start"], r["end"], r["entity_group"]) for r in expected], (strategy, text)
            assert np.allclose(scores(doc), [float(r["score"]) for r in expected], atol=1e-4, rtol=0)
            results[strategy, text] = ents(doc)
            assert ner.cfg["labels"] == [ID2LABEL[i] for i in range(5)]
            assert ner.labels == ("LOC", "PER")
            if strategy != "first":
                continue
            # raw labels: the argmax of transformers' logits at each word's first piece
            logits, enc = hf_logits(hf, tokenizer, text)
            ours = ner.model.ops.to_numpy(ner.model.predict([doc])[0].logits)
            assert np.abs(ours - logits[1:-1]).max() <= 1e-4
            word_ids = enc.word_ids()
            first = {}
            for i, w in enumerate(word_ids):
                if w is not None and w not in first:
                    first[w] = i
            assert len(first) == len(doc)
            for token in doc:
                tag = ID2LABEL[int(logits[first[token.i]].argmax())]
                assert token.ent_type_ == ("" if tag == "O" else tag[2:]), (text, token.text, tag)
                if tag.startswith("B-"):
                    assert token.ent_iob_ == "B"
    # the fixture is informative: entities of both types, some of several tokens, and the
    # strategies disagree somewhere
    found = [e for v in results.values() for e in v]
    assert {label for *_, label in found} == {"PER", "LOC"}
    assert any(len(nlp.make_doc(t).char_span(s, e)) > 1 for (_, t), v in results.items() for s, e, _ in v)
    assert any(results["first", t] != results["average", t] or results["first", t] != results["max", t] for t in PARITY_TEXTS)


def test_loss_equals_transformers_loss(finetuned_dir):
    """get_loss on a fine-tuned head: Hugging Face's mean cross-entropy over first pieces."""
    import transformers

    nlp = ner_nlp(finetuned_dir)
    ner = nlp.get_pipe("bert_ner")
    hf = hf_token_model(finetuned_dir)
    tokenizer = transformers.BertTokenizerFast.from_pretrained(str(finetuned_dir))
    data = [
        ("Alice met Bob in Paris and London yesterday .", [(0, 5, "PER"), (10, 13, "PER"), (17, 22, "LOC"), (27, 33, "LOC")]),
        ("Mr Johnson flew from New York to San Francisco", [(3, 10, "PER"), (21, 29, "LOC"), (33, 46, "LOC")]),
    ]
    egs = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in data]
    nlp(data[0][0])  # reads the checkpoint (head included)
    loss, grads = ner.get_loss(egs, ner.model.predict([eg.predicted for eg in egs]))
    enc, labels = word_piece_labels(tokenizer, data, [ID2LABEL[i] for i in range(len(ID2LABEL))])
    with torch.no_grad():
        expected = hf(**enc, labels=labels).loss.item()
    assert abs(loss - expected) <= 1e-5
    assert len(grads) == 2 and all(np.isfinite(g).all() for g in grads)


# -- 3. long texts -----------------------------------------------------------------------
def test_entities_after_piece_512_are_found(context_free_dir):
    """With a context-free model (each piece's logits depend on its id only), every windowing
    of a long text gives transformers' logits of each piece, so the entities of a short text
    appended after > 512 pieces of filler are those transformers finds in the short text."""
    import transformers

    hf = hf_token_model(context_free_dir)
    tokenizer = transformers.BertTokenizerFast.from_pretrained(str(context_free_dir))
    short = PARITY_TEXTS[0]
    filler = "the quick brown fox jumps over the lazy dog . " * 60
    text = filler + short
    nlp = ner_nlp(context_free_dir)
    ner = nlp.get_pipe("bert_ner")
    doc = nlp(text)  # reads the checkpoint
    # transformers' logits, 62 pieces at a time (any split gives the same with this model)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > 600
    chunks = []
    for start in range(0, len(ids), 62):
        window = torch.tensor([[tokenizer.cls_token_id, *ids[start : start + 62], tokenizer.sep_token_id]])
        with torch.no_grad():
            chunks.append(hf(input_ids=window).logits[0, 1:-1].numpy())
    expected_logits = np.concatenate(chunks)
    out = ner.model.predict([doc])[0]
    assert np.abs(ner.model.ops.to_numpy(out.logits) - expected_logits).max() <= 1e-4
    # the short text's entities, by transformers' pipeline, at the end of the long text
    reference = transformers.pipeline("token-classification", model=hf, tokenizer=tokenizer, aggregation_strategy="first")
    expected = [(r["start"] + len(filler), r["end"] + len(filler), r["entity_group"]) for r in reference(short)]
    assert expected
    tail = [e for e in ents(doc) if e[0] >= len(filler)]
    assert tail == expected
    first_tail_piece = int(np.searchsorted(out.piece_offsets[:, 0], len(filler)))
    assert first_tail_piece > 512
    group = doc.spans["bert_ner"]
    tail_scores = [score for span, score in zip(group, group.attrs["scores"]) if span.start_char >= len(filler)]
    assert np.allclose(tail_scores, [float(r["score"]) for r in reference(short)], atol=1e-4)


# -- 4. bad input and errors ---------------------------------------------------------
def test_empty_whitespace_and_huge_docs(finetuned_dir):
    nlp = ner_nlp(finetuned_dir)
    huge = ("Alice met Bob in Paris and London yesterday . " * 2200)[:100_000]
    docs = list(nlp.pipe(["", "   ", "\n\t ", "\x00\x07", huge, "Paris"]))
    for doc in docs:
        assert isinstance(doc.ents, tuple)
        assert len(scores(doc)) == len(doc.spans["bert_ner"]) == len(doc.ents)
        for e in doc.ents:
            assert 0 <= e.start < e.end <= len(doc) and not e.text.isspace()
    assert docs[0].ents == () and docs[1].ents == () and docs[2].ents == ()
    assert len(docs[4].text) == 100_000 and len(docs[4].ents) > 1000
    # an empty batch
    assert nlp.get_pipe("bert_ner").predict([]) == []


def test_inexpressible_gold_entities_warn_and_train(tiny_bert_dir):
    nlp = ner_nlp(tiny_bert_dir)
    vocab = nlp.vocab
    # "York" inside the predicted token "NewYork"
    predicted = Doc(vocab, words=["NewYork", "is", "big"])
    reference = Doc(vocab, words=["New", "York", "is", "big"], spaces=[False, True, True, False], ents=["O", "B-LOC", "O", "O"])
    inside_token = Example(predicted, reference)
    # an entity that is only a whitespace token (no pieces)
    words, spaces = ["Hi", "  ", "there", "Bob"], [True, False, True, False]
    only_space = Example(Doc(vocab, words=words, spaces=spaces), Doc(vocab, words=words, spaces=spaces, ents=["O", "B-LOC", "O", "B-PER"]))
    assert only_space.reference.ents[0].text == "  "
    fine = Example.from_dict(nlp.make_doc("Alice lives in Paris"), {"entities": [(0, 5, "PER"), (15, 20, "LOC")]})
    egs = [inside_token, only_space, fine]
    optimizer = nlp.initialize(lambda: egs)
    assert nlp.get_pipe("bert_ner").labels == ("LOC", "PER")
    with pytest.warns(UserWarning, match=r"2 gold entities of 5") as record:
        losses = nlp.update(egs, sgd=optimizer, losses={})
    message = str([w.message for w in record if "gold entit" in str(w.message)][0])
    assert "(3, 7, 'LOC')" in message and "(3, 5, 'LOC')" in message
    assert np.isfinite(losses["bert_ner"]) and losses["bert_ner"] > 0
    # the tokens of an inexpressible entity are ignored, not trained as "O"
    ner = nlp.get_pipe("bert_ner")
    out = ner.model.predict([inside_token.predicted])[0]
    gold = ner._gold(inside_token, out, {row: i for i, row in enumerate(ner.cfg["labels"])})
    assert gold.inexpressible == [(3, 7, "LOC")]
    assert gold.piece_rows.tolist() == [IGNORE, IGNORE, IGNORE, 0, 0]


def test_overlapping_gold_entities_are_refused_by_spacy():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError):
        Example.from_dict(nlp.make_doc("Alice Smith lives"), {"entities": [(0, 11, "PER"), (6, 17, "LOC")]})


def test_labels_missing_from_the_head(tiny_bert_dir):
    """A head initialised with PER only: a LOC text predicts, and a LOC gold entity is reported
    as inexpressible instead of failing."""
    nlp = ner_nlp(tiny_bert_dir)
    ner = nlp.get_pipe("bert_ner")
    egs = [Example.from_dict(nlp.make_doc("Alice lives in Paris"), {"entities": [(0, 5, "PER"), (15, 20, "LOC")]})]
    ner.initialize(lambda: egs, nlp=nlp, labels=["PER"])
    assert ner.labels == ("PER",) and ner.cfg["labels"] == ["O", "B-PER", "I-PER"]
    doc = nlp("Paris is in France and Alice is not")
    assert all(e.label_ == "PER" for e in doc.ents)
    with pytest.warns(UserWarning, match=r"1 gold entity of 2"):
        losses = ner.update(egs, losses={})
    assert np.isfinite(losses["bert_ner"])


def test_encoder_checkpoint_needs_initialize(tiny_bert_dir):
    nlp = ner_nlp(tiny_bert_dir)
    with pytest.raises(ValueError, match="initialize") as err:
        nlp("Alice lives in Paris")
    assert "no labels yet" in str(err.value)


def test_no_checkpoint():
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_ner")
    with pytest.raises(ValueError, match="no checkpoint configured"):
        nlp("Alice")


def test_finetuned_checkpoint_with_non_iob_labels(tmp_path, minilm_dir):
    directory = save_token_classifier(tmp_path / "posneg", minilm_dir, id2label={0: "POS", 1: "NEG"})
    assert json.loads((directory / "config.json").read_text())["architectures"] == ["BertForTokenClassification"]
    nlp = ner_nlp(directory)
    with pytest.raises(ValueError, match="not IOB2") as err:
        nlp("Alice lives in Paris")
    assert "'POS'" in str(err.value) and "'NEG'" in str(err.value)


def test_head_size_disagrees_with_labels(tmp_path, minilm_dir):
    directory = save_token_classifier(tmp_path / "three", minilm_dir, id2label={0: "O", 1: "B-PER", 2: "I-PER"})
    config = json.loads((directory / "config.json").read_text())
    config["id2label"] = {str(k): v for k, v in ID2LABEL.items()}
    config["label2id"] = {v: k for k, v in ID2LABEL.items()}
    (directory / "config.json").write_text(json.dumps(config))
    nlp = ner_nlp(directory)
    with pytest.raises(ValueError, match="classifier.weight"):
        nlp("Alice lives in Paris")


def test_bad_aggregation_strategy():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="bogus"):
        nlp.add_pipe("bert_ner", config={"aggregation_strategy": "bogus"})


def test_initialize_finetuned_with_a_new_label(finetuned_dir):
    """W302: the fine-tuned head keeps its rows and gets two new ones."""
    nlp = ner_nlp(finetuned_dir)
    ner = nlp.get_pipe("bert_ner")
    text = PARITY_TEXTS[0]
    entities = [(0, 5, "PER"), (15, 21, "ORG"), (25, 30, "LOC")]
    egs = [Example.from_dict(nlp.make_doc("Alice works at Google in Paris"), {"entities": entities})]
    with pytest.warns(UserWarning, match=r"\['ORG'\]"):
        nlp.initialize(lambda: egs)
    assert ner.labels == ("LOC", "ORG", "PER")
    assert ner.cfg["labels"] == [ID2LABEL[i] for i in range(5)] + ["B-ORG", "I-ORG"]
    hf = hf_token_model(finetuned_dir)
    W = ner.model.ops.to_numpy(ner.classifier.get_param("W"))
    b = ner.model.ops.to_numpy(ner.classifier.get_param("b"))
    assert W.shape == (7, 32) and b.shape == (7,)
    assert np.allclose(W[:5], hf.classifier.weight.detach().numpy(), atol=1e-7)
    assert np.allclose(b[:5], hf.classifier.bias.detach().numpy(), atol=1e-7)
    # the new rows are fresh (small) weights, zero bias: the old labels' logits are unchanged
    assert W[5:].any() and np.abs(W[5:]).max() < 0.2 and not b[5:].any()
    doc = nlp(text)  # predicts with the grown head
    assert len(doc.spans["bert_ner"]) == len(doc.ents)
    losses = nlp.update(egs, losses={})
    assert np.isfinite(losses["bert_ner"])


def initialized_ner(checkpoint, entities, text="Alice lives in Paris"):
    nlp = ner_nlp(checkpoint)
    egs = [Example.from_dict(nlp.make_doc(text), {"entities": entities})]
    nlp.initialize(lambda: egs)
    return nlp, egs


def test_add_label_after_initialize(tiny_bert_dir):
    """A label added to an initialised head grows it by two rows and keeps the trained ones
    (the same path as W302; thinc fixes a layer's dims once it has parameters, so the head
    is replaced by a bigger one)."""
    nlp, egs = initialized_ner(tiny_bert_dir, [(0, 5, "PER"), (15, 20, "LOC")])
    ner = nlp.get_pipe("bert_ner")
    W = ner.model.ops.to_numpy(ner.classifier.get_param("W")).copy()
    assert ner.add_label("ORG") == 1
    assert ner.add_label("ORG") == 0
    assert ner.cfg["labels"] == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER", "B-ORG", "I-ORG"]
    assert np.array_equal(ner.model.ops.to_numpy(ner.classifier.get_param("W"))[:5], W)
    nlp("Alice lives in Paris")


def test_from_bytes_into_an_initialised_component(tiny_bert_dir):
    """Loading a component with more labels into one that is already initialised."""
    small, _ = initialized_ner(tiny_bert_dir, [(0, 5, "PER")])
    big, _ = initialized_ner(tiny_bert_dir, [(0, 5, "PER"), (15, 20, "LOC")])
    expected = [(ents(d), scores(d)) for d in big.pipe(["Alice lives in Paris", "Bob in Berlin"])]
    assert any(found for found, _ in expected)
    small.from_bytes(big.to_bytes())
    assert small.get_pipe("bert_ner").labels == ("LOC", "PER")
    assert [(ents(d), scores(d)) for d in small.pipe(["Alice lives in Paris", "Bob in Berlin"])] == expected


def test_listener_without_piece_states(tiny_bert_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir), "store_piece_states": False})
    nlp.add_pipe("bert_ner", config={"model": LISTENER_NER_MODEL})
    egs = [Example.from_dict(nlp.make_doc("Alice lives in Paris"), {"entities": [(0, 5, "PER")]})]
    # said at initialize (E390), not at the first prediction
    with pytest.raises(ValueError, match="store_piece_states"):
        nlp.initialize(lambda: egs)


def test_custom_spans_key(finetuned_dir):
    nlp = ner_nlp(finetuned_dir, spans_key="predicted")
    doc = nlp(PARITY_TEXTS[0])
    assert "bert_ner" not in doc.spans
    assert [(s.start_char, s.end_char, s.label_) for s in doc.spans["predicted"]] == ents(doc)
    assert len(doc.spans["predicted"].attrs["scores"]) == len(doc.ents) > 0


# -- 6. spacy train configs/ner.cfg ---------------------------------------------------
@pytest.mark.slow
def test_spacy_train_ner_cfg(tmp_path, tiny_bert_dir):
    train, dev = wnut_slice(tmp_path)
    best = train_briefly("ner.cfg", train, dev, tiny_bert_dir, tmp_path / "training")
    config = json.loads((best / "bert_ner" / "model" / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]
    nlp = spacy.load(best)
    assert nlp.pipe_names == ["bert_ner"]
    ner = nlp.get_pipe("bert_ner")
    assert set(ner.labels) <= {"corporation", "creative-work", "group", "location", "person", "product"} and ner.labels
    assert [config["id2label"][str(i)] for i in range(len(config["id2label"]))] == ner.cfg["labels"]
    doc = nlp("Going to Paris with Taylor Swift")
    assert isinstance(doc.ents, tuple) and "bert_ner" in doc.spans
    scores_out = run_spacy("evaluate", str(best), str(dev), "--gpu-id", "-1")
    assert "NER P" in scores_out
