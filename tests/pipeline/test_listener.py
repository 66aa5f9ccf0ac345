"""spaCy components listening to `bert`: training, freezing, replace_listeners, round trips."""
import copy
import shutil

import numpy as np
import pytest
import spacy
from thinc.api import fix_random_seed
from spacy.training import Example

from spacy_bert.layers.encoder import get_shim

TRAIN_DATA = [
    ("Who is Shaka Khan?", {"entities": [(7, 17, "PERSON")]}),
    ("I like London and Berlin.", {"entities": [(7, 13, "LOC"), (18, 24, "LOC")]}),
    ("Angela Merkel visited Paris", {"entities": [(0, 13, "PERSON"), (22, 27, "LOC")]}),
]

LISTENER = {"@architectures": "spacy-bert.BertListener.v1", "grad_factor": 1.0, "upstream": "*"}
NER_MODEL = {
    "@architectures": "spacy.TransitionBasedParser.v2",
    "state_type": "ner",
    "extra_state_tokens": False,
    "hidden_width": 64,
    "maxout_pieces": 2,
    "use_upper": True,
    "tok2vec": LISTENER,
}


def ner_pipeline(checkpoint, grad_factor=1.0):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(checkpoint)})
    nlp.add_pipe("ner", config={"model": {**NER_MODEL, "tok2vec": {**LISTENER, "grad_factor": grad_factor}}})
    return nlp


def examples(nlp):
    return [Example.from_dict(nlp.make_doc(text), annotations) for text, annotations in TRAIN_DATA]


def train(nlp, steps=80):
    fix_random_seed(0)  # the ner head's initialisation
    egs = examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: egs)
    for _ in range(steps):
        nlp.update(egs, sgd=optimizer, losses={})
    return nlp


def ents(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def encoder_weights(nlp):
    return {k: v.clone() for k, v in get_shim(nlp.get_pipe("bert").model).bert.state_dict().items()}


def test_overfitting_IO(tiny_bert_dir, tmp_path):
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(tiny_bert_dir, checkpoint)
    nlp = ner_pipeline(checkpoint)
    before = encoder_weights(nlp) if get_shim(nlp.get_pipe("bert").model).loaded else None
    train(nlp)
    assert nlp.get_pipe("bert").listening_components == ["ner"]
    for text, annotations in TRAIN_DATA:
        assert ents(nlp(text)) == annotations["entities"]
    # the shared encoder was fine-tuned through the listener
    after = encoder_weights(nlp)
    reference = get_shim(ner_pipeline(checkpoint).get_pipe("bert").model)
    reference.load_checkpoint(str(checkpoint))
    assert any(not np.allclose(after[k].numpy(), v.numpy()) for k, v in reference.bert.state_dict().items())
    assert before is None
    # round trip without the original checkpoint
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(checkpoint)
    loaded = spacy.load(tmp_path / "pipeline")
    for text, annotations in TRAIN_DATA:
        doc, again = nlp(text), loaded(text)
        assert np.array_equal(doc.tensor, again.tensor)
        assert ents(again) == annotations["entities"]
    batch = [doc.tensor for doc in loaded.pipe([t for t, _ in TRAIN_DATA], batch_size=2)]
    for (text, _), tensor in zip(TRAIN_DATA, batch):
        assert np.allclose(nlp(text).tensor, tensor, atol=1e-5)


def test_grad_factor_zero_leaves_the_encoder_unchanged(tiny_bert_dir):
    nlp = ner_pipeline(tiny_bert_dir, grad_factor=0.0)
    egs = examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: egs)
    before = encoder_weights(nlp)
    for _ in range(3):
        nlp.update(egs, sgd=optimizer)
    after = encoder_weights(nlp)
    assert all(np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)


def test_frozen_annotating_bert(tiny_bert_dir):
    nlp = ner_pipeline(tiny_bert_dir)
    egs = examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: egs)
    before = encoder_weights(nlp)
    for _ in range(3):
        # as `spacy train` with frozen_components = ["bert"] and annotating_components = ["bert"]
        nlp.update(egs, sgd=optimizer, exclude=["bert"], annotates=["bert"])
    after = encoder_weights(nlp)
    assert all(np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)


def test_replace_listeners(tiny_bert_dir, tmp_path):
    nlp = train(ner_pipeline(tiny_bert_dir), steps=30)
    expected = [ents(nlp(t)) for t, _ in TRAIN_DATA]
    assert any(expected)
    nlp.replace_listeners("bert", "ner", ["model.tok2vec"])
    assert nlp.get_pipe("bert").listening_components == []
    assert nlp.get_pipe_config("ner")["model"]["tok2vec"]["@architectures"] == "spacy-bert.BertTokenVectors.v1"
    assert [ents(d) for d in nlp.pipe([t for t, _ in TRAIN_DATA])] == expected
    nlp.remove_pipe("bert")
    assert [ents(nlp(t)) for t, _ in TRAIN_DATA] == expected
    nlp.to_disk(tmp_path / "standalone")
    loaded = spacy.load(tmp_path / "standalone")
    assert [ents(loaded(t)) for t, _ in TRAIN_DATA] == expected


@pytest.mark.parametrize("factory,annotations", [
    ("textcat", {"cats": {"POS": 1.0, "NEG": 0.0}}),
    ("textcat_multilabel", {"cats": {"POS": 1.0, "NEG": 0.0}}),
    ("tagger", {"tags": None}),
    ("spancat", {"spans": {"sc": [(0, 4, "X")]}}),
])
def test_spacy_components_listen(tiny_bert_dir, factory, annotations):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir)})
    # the factory's own default model, with its tok2vec replaced by the listener
    model = copy.deepcopy(dict(nlp.get_factory_meta(factory).default_config["model"]))
    model["tok2vec"] = LISTENER
    nlp.add_pipe(factory, config={"model": model})
    texts = ["This is good.", "That was bad!"]
    egs = []
    for text in texts:
        doc = nlp.make_doc(text)
        ann = dict(annotations)
        if factory == "tagger":
            ann["tags"] = ["N", "V"] * (len(doc) // 2) + ["N"] * (len(doc) % 2)
        egs.append(Example.from_dict(doc, ann))
    optimizer = nlp.initialize(get_examples=lambda: egs)
    assert nlp.get_pipe("bert").listening_components == [factory]
    before = encoder_weights(nlp)
    losses = {}
    for _ in range(2):
        nlp.update(egs, sgd=optimizer, losses=losses)
    assert losses[factory] > 0
    after = encoder_weights(nlp)
    assert any(not np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)
    nlp(texts[0])


def test_parser_listens(tiny_bert_dir):
    """The parser's wiring: it finds the listener and predicts from bert's vectors. (Its update is
    not exercised: with spaCy 3.8.18 here even spaCy's own parser overfitting example, without
    spacy_bert, fails with E1031 "Could not find gold transition".)"""
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir)})
    model = copy.deepcopy(dict(nlp.get_factory_meta("parser").default_config["model"]))
    model["tok2vec"] = LISTENER
    nlp.add_pipe("parser", config={"model": model})
    nlp.get_pipe("parser").add_label("nsubj")
    nlp.initialize()
    assert nlp.get_pipe("bert").listening_components == ["parser"]
    doc = nlp("They trade securities.")
    assert doc.has_annotation("DEP")


def test_mixed_precision_settings_train_on_cpu(tiny_bert_dir):
    """mixed_precision autocasts on CUDA only: on the CPU the same config trains in fp32 with the
    gradient scaler off (thinc's scaler refuses to run without a GPU)."""
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "bert",
        config={"checkpoint": str(tiny_bert_dir), "model": {"@architectures": "spacy-bert.BertEncoder.v1", "mixed_precision": True}},
    )
    nlp.add_pipe("ner", config={"model": NER_MODEL})
    egs = examples(nlp)
    optimizer = nlp.initialize(get_examples=lambda: egs)
    shim = get_shim(nlp.get_pipe("bert").model)
    assert not shim._mixed_precision and not shim._grad_scaler._enabled
    before = encoder_weights(nlp)
    for _ in range(3):
        nlp.update(egs, sgd=optimizer)
    after = encoder_weights(nlp)
    assert all(np.isfinite(v.numpy()).all() for v in after.values())
    assert any(not np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)
