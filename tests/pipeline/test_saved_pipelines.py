"""Saved pipelines are self-contained (issue 9) and keep the encoder's dtype (issue 8 §5).

- `to_disk`/`to_bytes` before the first Doc or `initialize()` read the checkpoint first;
  loading never reads it again (the checkpoint is deleted before every load here).
- A missing `model/` folder, a deleted or truncated head file, a payload without weights, cfg
  labels that disagree with the head: coded errors at load, never a silent fallback.
- `from_bytes` of random bytes or of a payload carrying a pickle: a coded error, and the
  pickle's payload never runs.
- `component.model.predict(docs)` before the first Doc reads the fine-tuned head too.
"""
import json
import os
import pickle
import shutil
import warnings

import numpy as np
import pytest
import spacy
import srsly
import torch
from spacy.training import Example

from spacy_bert.layers.encoder import get_shim
from tests.error_codes import raises_code
from tests.pipeline.test_ner import ID2LABEL, LISTENER_NER_MODEL, save_token_classifier

TEXT = "Alice Smith lives in Paris and works for Acme in London."
NER_EXAMPLES = [("Alice lives in Paris", [(0, 5, "PER"), (15, 20, "LOC")])]


# torch on one thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def checkpoint(tiny_bert_dir, tmp_path):
    """A private copy of the tiny encoder checkpoint, deleted by tests before loading."""
    directory = tmp_path / "checkpoint"
    shutil.copytree(tiny_bert_dir, directory)
    return directory


@pytest.fixture(scope="module")
def finetuned_ner_dir(tmp_path_factory, minilm_dir):
    return save_token_classifier(tmp_path_factory.mktemp("ft-ner-saved"), minilm_dir)


@pytest.fixture
def finetuned_copy(finetuned_ner_dir, tmp_path):
    directory = tmp_path / "finetuned"
    shutil.copytree(finetuned_ner_dir, directory)
    return directory


def ents(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def bert_nlp(checkpoint, **config):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(checkpoint), **config})
    return nlp


def listener_ner_nlp(checkpoint):
    """bert + a bert_ner listening to it, initialised on one example."""
    nlp = bert_nlp(checkpoint)
    nlp.add_pipe("bert_ner", config={"model": LISTENER_NER_MODEL})
    egs = [Example.from_dict(nlp.make_doc(text), {"entities": entities}) for text, entities in NER_EXAMPLES]
    nlp.initialize(lambda: egs)
    return nlp


# -- saving before the first Doc reads the checkpoint ------------------------------------
def test_bert_saved_before_first_doc_is_self_contained(checkpoint, tmp_path):
    expected = bert_nlp(checkpoint)(TEXT).tensor
    nlp = bert_nlp(checkpoint)
    nlp.to_disk(tmp_path / "pipeline")  # no Doc, no initialize()
    assert (tmp_path / "pipeline" / "bert" / "model" / "model.safetensors").is_file()
    shutil.rmtree(checkpoint)
    assert np.array_equal(spacy.load(tmp_path / "pipeline")(TEXT).tensor, expected)


def test_bert_to_bytes_before_first_doc_is_self_contained(checkpoint):
    expected = bert_nlp(checkpoint)(TEXT).tensor
    data = bert_nlp(checkpoint).to_bytes()
    shutil.rmtree(checkpoint)
    other = spacy.blank("en")
    other.add_pipe("bert")
    other.from_bytes(data)
    assert np.array_equal(other(TEXT).tensor, expected)


def test_finetuned_ner_saved_before_first_doc_keeps_its_head(finetuned_copy, tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_ner", config={"checkpoint": str(finetuned_copy)})
    expected = ents(nlp(TEXT))
    assert expected  # the fine-tuned head finds entities: an empty round trip would prove nothing
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_ner", config={"checkpoint": str(finetuned_copy)})
    nlp.to_disk(tmp_path / "pipeline")
    config = json.loads((tmp_path / "pipeline" / "bert_ner" / "model" / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]
    shutil.rmtree(finetuned_copy)
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe("bert_ner").cfg["labels"] == list(ID2LABEL.values())
    assert ents(loaded(TEXT)) == expected


def test_saving_with_an_unreadable_checkpoint_is_a_coded_error(tmp_path):
    nlp = bert_nlp(tmp_path / "does-not-exist")
    with raises_code("E383", match="does-not-exist"):
        nlp.to_disk(tmp_path / "pipeline")
    with raises_code("E383"):
        nlp.to_bytes()
    ner = spacy.blank("en")
    ner.add_pipe("bert_ner", config={"checkpoint": str(tmp_path / "does-not-exist")})
    with raises_code("E383"):
        ner.to_disk(tmp_path / "pipeline2")


def test_component_without_checkpoint_saves_and_loads_blank(tmp_path):
    """Nothing to read, nothing to reach for: a blank component round-trips as blank."""
    nlp = spacy.blank("en")
    nlp.add_pipe("bert")
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert not get_shim(loaded.get_pipe("bert").model).loaded


# -- loading never reaches for the checkpoint ------------------------------------------------
@pytest.mark.parametrize("component", ["bert", "bert_ner"])
def test_missing_model_folder_is_a_coded_error(checkpoint, tmp_path, component):
    """The checkpoint is still there: loading must not fall back to it."""
    nlp = spacy.blank("en")
    nlp.add_pipe(component, config={"checkpoint": str(checkpoint)})
    nlp.to_disk(tmp_path / "pipeline")
    model_dir = tmp_path / "pipeline" / component / "model"
    shutil.rmtree(model_dir)
    with raises_code("E384", match=str(model_dir)):
        spacy.load(tmp_path / "pipeline")


def test_payload_without_weights_is_a_coded_error(checkpoint):
    """A to_bytes payload with loaded: false for a component configured with a checkpoint."""
    nlp = bert_nlp(checkpoint)
    msg = srsly.msgpack_loads(nlp.get_pipe("bert").to_bytes())
    msg["files"] = {}  # the files of the saved folder: no model/
    with raises_code("E385", match=str(checkpoint)):
        bert_nlp(checkpoint).get_pipe("bert").from_bytes(srsly.msgpack_dumps(msg))


def test_task_payload_without_weights_is_a_coded_error(finetuned_copy):
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("bert_ner", config={"checkpoint": str(finetuned_copy)})
    msg = srsly.msgpack_loads(ner.to_bytes())
    msg["files"] = {}  # the files of the saved folder: no model/
    fresh = spacy.blank("en").add_pipe("bert_ner", config={"checkpoint": str(finetuned_copy)})
    with raises_code("E385"):
        fresh.from_bytes(srsly.msgpack_dumps(msg))


def test_deleted_head_file_names_the_file(checkpoint, tmp_path):
    listener_ner_nlp(checkpoint).to_disk(tmp_path / "pipeline")
    head_file = tmp_path / "pipeline" / "bert_ner" / "classifier.safetensors"
    head_file.unlink()
    with raises_code("E386", match="classifier.safetensors"):
        spacy.load(tmp_path / "pipeline")


def test_truncated_head_file_names_its_path(checkpoint, tmp_path):
    listener_ner_nlp(checkpoint).to_disk(tmp_path / "pipeline")
    head_file = tmp_path / "pipeline" / "bert_ner" / "classifier.safetensors"
    head_file.write_bytes(head_file.read_bytes()[:-7])
    with raises_code("E387", match=str(head_file)):
        spacy.load(tmp_path / "pipeline")


def test_truncated_model_weights_name_their_path(checkpoint, tmp_path):
    bert_nlp(checkpoint).to_disk(tmp_path / "pipeline")
    weights = tmp_path / "pipeline" / "bert" / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match=str(weights.parent)):
        spacy.load(tmp_path / "pipeline")


def test_deleted_model_config_is_an_error_naming_the_folder(checkpoint, tmp_path):
    bert_nlp(checkpoint).to_disk(tmp_path / "pipeline")
    model_dir = tmp_path / "pipeline" / "bert" / "model"
    (model_dir / "config.json").unlink()
    with pytest.raises((OSError, ValueError), match=str(model_dir)):
        spacy.load(tmp_path / "pipeline")


def _edit_labels(cfg_file, labels):
    cfg = json.loads(cfg_file.read_text())
    cfg["labels"] = labels
    cfg_file.write_text(json.dumps(cfg))


def test_cfg_labels_that_disagree_with_the_head_fail_at_load_listener(checkpoint, tmp_path):
    listener_ner_nlp(checkpoint).to_disk(tmp_path / "pipeline")
    _edit_labels(tmp_path / "pipeline" / "bert_ner" / "cfg", ["O", "B-PER", "I-PER"])  # head has 5 rows
    with raises_code("E388", match="classifier.safetensors"):
        spacy.load(tmp_path / "pipeline")


def test_cfg_labels_that_disagree_with_the_head_fail_at_load_own_encoder(finetuned_copy, tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_ner", config={"checkpoint": str(finetuned_copy)})
    nlp.to_disk(tmp_path / "pipeline")
    _edit_labels(tmp_path / "pipeline" / "bert_ner" / "cfg", list(ID2LABEL.values()) + ["B-ORG", "I-ORG"])
    with raises_code("E388"):
        spacy.load(tmp_path / "pipeline")


# -- the component owns its lazy load --------------------------------------------------------
def test_model_predict_before_first_doc_reads_the_finetuned_head(finetuned_ner_dir):
    reference = spacy.blank("en")
    reference.add_pipe("bert_ner", config={"checkpoint": str(finetuned_ner_dir)})
    doc = reference.make_doc(TEXT)
    expected = reference.get_pipe("bert_ner").model.predict([doc])  # after the component's own load

    nlp = spacy.blank("en")
    ner = nlp.add_pipe("bert_ner", config={"checkpoint": str(finetuned_ner_dir)})
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=r".*W101")  # W101 (head dropped) would fail here
        got = ner.model.predict([nlp.make_doc(TEXT)])
    assert ner.cfg["labels"] == list(ID2LABEL.values())
    assert np.array_equal(got[0].logits, expected[0].logits)


def test_model_initialize_before_first_doc_reads_the_finetuned_head(finetuned_ner_dir):
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("bert_ner", config={"checkpoint": str(finetuned_ner_dir)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ner.model.initialize()
    assert ner.cfg["labels"] == list(ID2LABEL.values())


# -- from_bytes never executes anything --------------------------------------------------------
class _Evil:
    marker = None

    def __reduce__(self):
        return (os.mkdir, (str(_Evil.marker),))


def _pickles(marker):
    _Evil.marker = marker
    return pickle.dumps(_Evil())


def _components(checkpoint):
    nlp = bert_nlp(checkpoint)
    nlp.add_pipe("bert_ner", config={"checkpoint": str(checkpoint)})
    return nlp


@pytest.mark.parametrize("name", ["bert", "bert_ner"])
@pytest.mark.parametrize("kind", ["random", "pickle", "pickle_in_field", "pickle_as_weights", "not_a_map"])
def test_from_bytes_refuses_what_it_did_not_write(checkpoint, tmp_path, name, kind):
    marker = tmp_path / "pwned"
    component = _components(checkpoint).get_pipe(name)
    good = srsly.msgpack_loads(component.to_bytes())
    if kind == "random":
        data = np.random.default_rng(0).bytes(4096)
    elif kind == "pickle":
        data = _pickles(marker)
    elif kind == "pickle_in_field":
        data = srsly.msgpack_dumps({**good, "cfg": _pickles(marker)})
    elif kind == "pickle_as_weights":
        data = srsly.msgpack_dumps({**good, "files": {**good["files"], "model/model.safetensors": _pickles(marker)}})
    else:
        data = srsly.msgpack_dumps([1, 2, 3])
    with raises_code("E389", match=name):
        component.from_bytes(data)
    assert not marker.exists()


def test_nlp_from_bytes_of_random_bytes_is_a_clear_error(checkpoint):
    nlp = _components(checkpoint)
    data = srsly.msgpack_loads(nlp.to_bytes())
    data["bert"] = np.random.default_rng(1).bytes(256)
    with raises_code("E389"):
        _components(checkpoint).from_bytes(srsly.msgpack_dumps(data))


def test_serialized_dtype_must_be_a_float_dtype(checkpoint):
    component = bert_nlp(checkpoint).get_pipe("bert")
    msg = srsly.msgpack_loads(component.to_bytes())
    config = json.loads(msg["files"]["model/config.json"])
    config["dtype"] = "int8"
    msg["files"]["model/config.json"] = json.dumps(config).encode("utf-8")
    with raises_code("E382", match="int8"):
        component.from_bytes(srsly.msgpack_dumps(msg))


# -- dtype on disk -----------------------------------------------------------------------------
def test_bert_to_disk_keeps_bf16(checkpoint, tmp_path):
    nlp = bert_nlp(checkpoint)
    shim = get_shim(nlp.get_pipe("bert").model)
    nlp.initialize()
    shim.set_model(shim.bert.to(torch.bfloat16), shim.tokenizer)
    expected = nlp(TEXT).tensor
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(checkpoint)
    loaded = spacy.load(tmp_path / "pipeline")
    loaded_shim = get_shim(loaded.get_pipe("bert").model)
    assert loaded_shim.bert.dtype == torch.bfloat16
    for (name, a), (_, b) in zip(loaded_shim.bert.state_dict().items(), shim.bert.state_dict().items()):
        assert torch.equal(a, b), name
    assert np.array_equal(loaded(TEXT).tensor, expected)


def test_task_component_to_disk_keeps_bf16_encoder_and_fp32_head(finetuned_copy, tmp_path):
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("bert_ner", config={"checkpoint": str(finetuned_copy)})
    nlp.initialize()
    shim = get_shim(ner.encoder)
    shim.set_model(shim.bert.to(torch.bfloat16), shim.tokenizer)
    W = ner.model.ops.to_numpy(ner.classifier.get_param("W")).copy()
    expected = [(ents(d), list(d.spans["bert_ner"].attrs["scores"])) for d in nlp.pipe([TEXT, "Bob in Berlin"])]
    assert any(found for found, _ in expected)
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(finetuned_copy)
    loaded = spacy.load(tmp_path / "pipeline")
    loaded_ner = loaded.get_pipe("bert_ner")
    assert get_shim(loaded_ner.encoder).bert.dtype == torch.bfloat16
    assert np.array_equal(loaded_ner.model.ops.to_numpy(loaded_ner.classifier.get_param("W")), W)
    assert [(ents(d), list(d.spans["bert_ner"].attrs["scores"])) for d in loaded.pipe([TEXT, "Bob in Berlin"])] == expected


# -- one format: the files of the saved folder -------------------------------------------------
@pytest.mark.parametrize("old", [{"model": b"\x81\xa6loaded\xc2"}, {"head": None, "encoder": b"\x81\xa6loaded\xc2"}])
def test_bytes_of_an_earlier_version_say_how_to_save_again(checkpoint, old):
    """Bytes written before one format (`bert`: {"cfg", "model"}; task components: {"cfg",
    "head", "encoder"}) are E850, which says how to save them again; nothing is loaded."""
    component = bert_nlp(checkpoint).get_pipe("bert")
    cfg = srsly.msgpack_loads(component.to_bytes())["cfg"]
    fresh = spacy.blank("en").add_pipe("bert")
    with raises_code("E850", match="to_disk"):
        fresh.from_bytes(srsly.msgpack_dumps({"cfg": cfg, **old}))
    assert not get_shim(fresh.model).loaded


def test_bytes_are_the_files_of_the_saved_folder(checkpoint, tmp_path):
    component = bert_nlp(checkpoint).get_pipe("bert")
    component.to_disk(tmp_path / "bert")
    msg = srsly.msgpack_loads(component.to_bytes())
    on_disk = {p.relative_to(tmp_path / "bert").as_posix() for p in (tmp_path / "bert").rglob("*") if p.is_file()}
    assert "model/model.safetensors" in msg["files"]
    assert set(msg["files"]) | {"cfg"} == on_disk
    assert msg["files"]["model/model.safetensors"] == (tmp_path / "bert" / "model" / "model.safetensors").read_bytes()
