"""spaCy's contracts in the task components (issue 8 §4).

- `bert_textcat` validates gold cats as spaCy's `textcat` / `textcat_multilabel` do;
- `bert_ner` keeps entities set earlier in the pipeline unless `overwrite_ents = true`, and
  `doc.spans["bert_ner"]` keeps every prediction;
- nothing is silently empty: initializing without labels is an error that says how to add them;
- a missing checkpoint names the component the user added and its config block.
"""
import numpy as np
import pytest
import spacy
import torch
from spacy.training import Example

from spacy_bert import BertConfig, BertTokenizer
from spacy_bert.modeling import BertForTokenClassification
from tests.tiny import TINY_BERT


# torch on one thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def all_per_dir(tmp_path_factory, minilm_dir):
    """A fine-tuned-looking BertForTokenClassification whose head tags every piece B-PER
    (zero weights, bias favouring B-PER), so predictions are known without training."""
    directory = tmp_path_factory.mktemp("all-per")
    id2label = {0: "O", 1: "B-PER", 2: "I-PER"}
    config = BertConfig(**TINY_BERT, id2label=id2label, label2id={v: k for k, v in id2label.items()})
    torch.manual_seed(0)
    model = BertForTokenClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, 10.0, 0.0]))
    model.save_pretrained(directory, tokenizer=BertTokenizer.from_pretrained(minilm_dir))
    return directory


def textcat_nlp(checkpoint, multi_label):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_textcat", config={"checkpoint": str(checkpoint), "multi_label": multi_label})
    return nlp


def examples_of(nlp, data):
    return [Example.from_dict(nlp.make_doc(text), {"cats": cats}) for text, cats in data]


GOOD_SINGLE = [("good film", {"POS": 1.0, "NEG": 0.0}), ("bad film", {"POS": 0.0, "NEG": 1.0})]


# -- bert_textcat: gold cats -------------------------------------------------------------
@pytest.mark.parametrize(
    "cats, code",
    [
        ({"POS": 1.0, "NEG": 1.0}, "E401"),  # two positives: argmax would train one silently
        ({"POS": 0.7, "NEG": 0.3}, "E402"),  # soft labels need multi_label
        ({"POS": 2.0, "NEG": 0.0}, "E402"),
        ({"POS": float("nan"), "NEG": 0.0}, "E402"),
    ],
)
def test_exclusive_cats_are_validated(tiny_bert_dir, cats, code):
    nlp = textcat_nlp(tiny_bert_dir, multi_label=False)
    bad = examples_of(nlp, GOOD_SINGLE + [("both", cats)])
    with pytest.raises(ValueError, match=code):
        nlp.initialize(get_examples=lambda: bad)
    # and in update, after a valid initialize
    nlp = textcat_nlp(tiny_bert_dir, multi_label=False)
    good = examples_of(nlp, GOOD_SINGLE)
    optimizer = nlp.initialize(get_examples=lambda: good)
    with pytest.raises(ValueError, match=code) as err:
        nlp.update(bad, sgd=optimizer)
    assert "'bert_textcat'" in str(err.value)


def test_exclusive_example_without_positive_is_allowed(tiny_bert_dir):
    """As in spaCy's textcat: all-zero cats are valid (and carry no loss)."""
    nlp = textcat_nlp(tiny_bert_dir, multi_label=False)
    data = GOOD_SINGLE + [("neither", {"POS": 0.0, "NEG": 0.0})]
    examples = examples_of(nlp, data)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    losses = nlp.update(examples, sgd=optimizer, losses={})
    assert losses["bert_textcat"] > 0


@pytest.mark.parametrize("value", [1.5, -0.1, float("nan"), "1"])
def test_multilabel_cats_outside_unit_interval(tiny_bert_dir, value):
    nlp = textcat_nlp(tiny_bert_dir, multi_label=True)
    bad = examples_of(nlp, [("a", {"A": 1.0, "B": 0.0})]) + [
        Example(nlp.make_doc("b"), _doc_with_cats(nlp, "b", {"A": value, "B": 0.0}))
    ]
    with pytest.raises(ValueError, match="E403"):
        nlp.initialize(get_examples=lambda: bad)


def _doc_with_cats(nlp, text, cats):
    # Example.from_dict refuses non-float cats itself; set them directly to reach our check.
    doc = nlp.make_doc(text)
    doc.cats = dict(cats)
    return doc


def test_multilabel_soft_targets_train(tiny_bert_dir):
    nlp = textcat_nlp(tiny_bert_dir, multi_label=True)
    examples = examples_of(nlp, [("a", {"A": 0.25, "B": 1.0}), ("b", {"A": 0.75, "B": 0.0})])
    optimizer = nlp.initialize(get_examples=lambda: examples)
    losses = nlp.update(examples, sgd=optimizer, losses={})
    assert losses["bert_textcat"] > 0


# -- bert_ner: entities set earlier ------------------------------------------------------
TEXT = "Alice met Bob in Paris"


def ruler_then_ner(checkpoint, **ner_config):
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "GPE", "pattern": "Paris", "id": "paris-fr"}, {"label": "ORG", "pattern": "Alice met"}])
    nlp.add_pipe("bert_ner", config={"checkpoint": str(checkpoint), **ner_config})
    return nlp


def test_ner_keeps_preset_entities(all_per_dir):
    nlp = ruler_then_ner(all_per_dir)
    doc = nlp(TEXT)
    # the head tags every token B-PER: one PER entity per token
    predicted = [(s.start, s.end, s.label_) for s in doc.spans["bert_ner"]]
    assert predicted == [(i, i + 1, "PER") for i in range(len(doc))]
    assert len(doc.spans["bert_ner"].attrs["scores"]) == len(predicted)
    # preset entities stay (with their pattern id); predictions overlapping them are left out
    assert [(e.text, e.label_) for e in doc.ents] == [("Alice met", "ORG"), ("Bob", "PER"), ("in", "PER"), ("Paris", "GPE")]
    assert doc[4].ent_id_ == "paris-fr"


def test_ner_overwrite_ents(all_per_dir):
    nlp = ruler_then_ner(all_per_dir, overwrite_ents=True)
    doc = nlp(TEXT)
    assert [(e.text, e.label_) for e in doc.ents] == [(t.text, "PER") for t in doc]
    assert [(s.start, s.end) for s in doc.spans["bert_ner"]] == [(i, i + 1) for i in range(len(doc))]


def test_ner_set_annotations_drops_only_overlapping_predictions(all_per_dir):
    nlp = ruler_then_ner(all_per_dir)
    ner = nlp.get_pipe("bert_ner")
    doc = nlp.get_pipe("entity_ruler")(nlp.make_doc(TEXT))
    # "met Bob" overlaps the preset "Alice met", "in Paris" the preset "Paris": both left out
    ner.set_annotations([doc], [[(1, 3, "PER", 0.9), (3, 5, "LOC", 0.8)]])
    assert [(e.start, e.end, e.label_) for e in doc.ents] == [(0, 2, "ORG"), (4, 5, "GPE")]
    assert [(s.start, s.end, s.label_) for s in doc.spans["bert_ner"]] == [(1, 3, "PER"), (3, 5, "LOC")]
    assert doc.spans["bert_ner"].attrs["scores"] == [0.9, 0.8]
    # "Bob" overlaps nothing preset: it joins them
    doc = nlp.get_pipe("entity_ruler")(nlp.make_doc(TEXT))
    ner.set_annotations([doc], [[(2, 3, "PER", 0.8)]])
    assert [(e.start, e.end, e.label_) for e in doc.ents] == [(0, 2, "ORG"), (2, 3, "PER"), (4, 5, "GPE")]
    # tokens outside any entity are "O", not missing (a NER component annotates every token)
    assert all(t.ent_iob_ in ("B", "I", "O") for t in doc)


def test_overwrite_ents_round_trips(all_per_dir, tmp_path):
    nlp = ruler_then_ner(all_per_dir, overwrite_ents=True)
    nlp(TEXT)  # reads the checkpoint (nlp.initialize() would clear the ruler's patterns)
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert loaded.get_pipe("bert_ner").cfg["overwrite_ents"] is True
    assert len(loaded.get_pipe("entity_ruler").patterns) == 2
    assert [e.label_ for e in loaded(TEXT).ents] == ["PER"] * 5


# -- nothing silently empty ---------------------------------------------------------------
def test_bare_initialize_without_labels_is_an_error(tiny_bert_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_ner", name="my_ner", config={"checkpoint": str(tiny_bert_dir)})
    with pytest.raises(ValueError, match="E404") as err:
        nlp.initialize()
    message = str(err.value)
    assert "'my_ner'" in message and "[initialize.components.my_ner]" in message and "id2label" in message


@pytest.mark.parametrize("multi_label", [False, True])
def test_textcat_bare_initialize_without_labels_is_an_error(tiny_bert_dir, multi_label):
    nlp = textcat_nlp(tiny_bert_dir, multi_label)
    with pytest.raises(ValueError, match="E404") as err:
        nlp.initialize()
    assert "doc.cats" in str(err.value)


def test_ner_labels_from_initialize_settings(tiny_bert_dir):
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("bert_ner", config={"checkpoint": str(tiny_bert_dir)})
    nlp.config["initialize"]["components"]["bert_ner"] = {"labels": ["PER", "LOC"]}
    nlp.initialize()
    assert ner.labels == ("LOC", "PER")


def test_finetuned_checkpoint_brings_labels(all_per_dir):
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("bert_ner", config={"checkpoint": str(all_per_dir)})
    nlp.initialize()  # no examples, no labels: the checkpoint's id2label suffices
    assert ner.labels == ("PER",)


def test_add_label_not_a_string(tiny_bert_dir):
    nlp = spacy.blank("en")
    for factory in ("bert_ner", "bert_textcat"):
        component = nlp.add_pipe(factory, config={"checkpoint": str(tiny_bert_dir)})
        with pytest.raises(ValueError, match="E405"):
            component.add_label(3)


# -- a missing checkpoint names the component -------------------------------------------
@pytest.mark.parametrize("factory", ["bert", "bert_ner", "bert_textcat"])
@pytest.mark.parametrize("when", ["initialize", "first doc"])
def test_missing_checkpoint_names_component_and_block(factory, when):
    nlp = spacy.blank("en")
    nlp.add_pipe(factory, name="mine")  # no error here: spacy.load builds components this way too
    with pytest.raises(ValueError, match="E400") as err:
        if when == "initialize":
            nlp.initialize(get_examples=lambda: examples_of(nlp, GOOD_SINGLE))
        else:
            nlp("Alice")
    message = str(err.value)
    assert "'mine'" in message and f"({factory})" in message and "[components.mine]" in message
    assert "bert-encoder" not in message


def test_listening_component_names_the_bert_component():
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", name="shared")
    listener = {"@architectures": "spacy-bert.BertOutputListener.v1", "upstream": "shared"}
    nlp.add_pipe("bert_ner", config={"model": {"@architectures": "spacy-bert.BertTokenClassifier.v1", "nO": None, "tok2vec": listener}})
    with pytest.raises(ValueError, match="E400") as err:
        nlp.initialize()
    assert "'shared' component (bert)" in str(err.value) and "[components.shared]" in str(err.value)


def test_component_without_checkpoint_loads_from_bytes(all_per_dir):
    """No error at construction: a component built without a checkpoint gets its weights
    from bytes or disk (spacy.load builds every saved component this way)."""
    source = spacy.blank("en")
    source.add_pipe("bert_ner", config={"checkpoint": str(all_per_dir)})
    expected = [(e.text, e.label_) for e in source(TEXT).ents]
    other = spacy.blank("en")
    other.add_pipe("bert_ner")
    other.from_bytes(source.to_bytes())
    assert [(e.text, e.label_) for e in other(TEXT).ents] == expected == [(t, "PER") for t in TEXT.split()]


def test_ner_head_with_only_outside_row_refuses_to_predict(tiny_bert_dir):
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("bert_ner", config={"checkpoint": str(tiny_bert_dir)})
    ner._ensure_loaded()
    ner.set_head({"W": np.zeros((1, 32), dtype="float32"), "b": np.zeros(1, dtype="float32")}, ["O"])
    with pytest.raises(ValueError, match="E358"):
        nlp(TEXT)


@pytest.mark.parametrize("factory", ["bert", "bert_ner", "bert_textcat"])
@pytest.mark.parametrize("when", ["initialize", "first doc"])
def test_missing_checkpoint_directory_names_component(tmp_path, factory, when):
    nlp = spacy.blank("en")
    nlp.add_pipe(factory, name="mine", config={"checkpoint": str(tmp_path / "does-not-exist")})
    with pytest.raises(FileNotFoundError, match="E409") as err:
        if when == "initialize":
            nlp.initialize(get_examples=lambda: examples_of(nlp, GOOD_SINGLE))
        else:
            nlp("Alice")
    message = str(err.value)
    assert "'mine' component" in message and "[components.mine]" in message
    assert "[E101]" in message and "does-not-exist" in message  # the checkpoint layer's own error
    assert message.count("[E409]") == 1


def test_checkpoint_without_weights_names_component(tmp_path, tiny_bert_dir):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((tiny_bert_dir / "config.json").read_text())
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_ner", config={"checkpoint": str(broken)})
    with pytest.raises(FileNotFoundError, match="E409") as err:
        nlp.initialize()
    assert "'bert_ner' component" in str(err.value)
