"""The `precision` setting of `bert`, `bert_ner` and `bert_textcat`: every precision gives valid
outputs, training with int8 set still trains the fp32 model, the setting survives
`to_disk`/`spacy.load` and `to_bytes`/`from_bytes` while the weights stay fp32, a config
override at load wins, and `set_precision(nlp, ...)` switches a loaded pipeline in one call.

Expected entities and categories are the training data's (the pipeline is overfitted on them),
never the component's own fp32 output.
"""
import json
import shutil
import warnings

import numpy as np
import pytest
import spacy
import torch
from safetensors import safe_open
from spacy.training import Example
from spacy.util import load_model_from_config
from thinc.api import fix_random_seed
from torch import nn

from spacy_bert.layers.encoder import get_shim
from spacy_bert.layers.precision import PRECISIONS, Int8Linear
from spacy_bert.pipeline import set_precision
from tests.error_codes import raises_code

DATA = [
    ("Alice Smith lives in Paris now", [(0, 11, "PER"), (21, 26, "LOC")], {"POS": 1.0, "NEG": 0.0}),
    ("I hate London and Berlin.", [(7, 13, "LOC"), (18, 24, "LOC")], {"POS": 0.0, "NEG": 1.0}),
    ("Who is Shaka Khan?", [(7, 17, "PER")], {"POS": 1.0, "NEG": 0.0}),
    ("What a terrible day", [], {"POS": 0.0, "NEG": 1.0}),
]
COMPONENTS = ("bert", "bert_ner", "bert_textcat")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def ents(doc):
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def build(checkpoint, precision):
    nlp = spacy.blank("en")
    for name in COMPONENTS:
        nlp.add_pipe(name, config={"checkpoint": str(checkpoint), "precision": precision, "window": 64, "stride": 16})
    return nlp


@pytest.fixture(scope="module")
def trained(tiny_bert_dir, tmp_path_factory):
    """bert + bert_ner + bert_textcat, each with its own encoder and precision "int8" from the
    start, overfitted on DATA (the checkpoint is deleted afterwards)."""
    checkpoint = tmp_path_factory.mktemp("ckpt-precision") / "tiny"
    shutil.copytree(tiny_bert_dir, checkpoint)
    fix_random_seed(0)
    nlp = build(checkpoint, "int8")
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": e, "cats": c}) for t, e, c in DATA]
    optimizer = nlp.initialize(lambda: examples)
    history = []
    for _ in range(60):
        losses = nlp.update(examples, sgd=optimizer, losses={})
        history.append((losses["bert_ner"], losses["bert_textcat"]))
    shutil.rmtree(checkpoint)
    return nlp, history


def check_outputs(nlp):
    """Valid outputs: finite token vectors for every token, the trained entities and categories."""
    docs = list(nlp.pipe([t for t, _, _ in DATA], batch_size=2))
    for doc, (_, gold_ents, gold_cats) in zip(docs, DATA):
        assert doc.tensor.shape == (len(doc), 32) and np.isfinite(doc.tensor).all()
        pieces = doc._.bert.last_hidden_state  # None where store_piece_states is off
        assert pieces is None or np.isfinite(pieces).all()
        assert np.isfinite(doc._.bert.pooler_output).all()
        assert ents(doc) == gold_ents
        scores = doc.spans["bert_ner"].attrs["scores"]
        assert all(0.0 < s <= 1.0 for s in scores)
        assert abs(sum(doc.cats.values()) - 1.0) < 1e-5
        assert max(doc.cats, key=doc.cats.get) == max(gold_cats, key=gold_cats.get)
    return docs


def test_training_with_int8_set_trains_fp32(trained):
    nlp, history = trained
    assert history[-1][0] < history[0][0] / 5 and history[-1][1] < history[0][1] / 5
    for name in COMPONENTS:
        pipe = nlp.get_pipe(name)
        assert pipe.precision == "int8"
        model = get_shim(pipe.model if name == "bert" else pipe.encoder).model
        assert all(p.dtype == torch.float32 for p in model.parameters())
        assert not any(isinstance(m, Int8Linear) for m in model.modules())
        assert type(model.encoder.layer[0].intermediate.dense) is nn.Linear


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_gives_valid_outputs(trained, precision):
    nlp, _ = trained
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # W660 (float16 on a CPU), W661 (bf16 emulated)
        assert set_precision(nlp, precision) == {name: precision for name in COMPONENTS}
        check_outputs(nlp)
        for name in COMPONENTS:
            pipe = nlp.get_pipe(name)
            shim = get_shim(pipe.model if name == "bert" else pipe.encoder)
            assert shim._prediction.key[:2] == (precision, "cpu")
            quantized = any(isinstance(m, Int8Linear) for m in shim._prediction.model.modules())
            assert quantized == (shim.precision_used == "int8")
            half = {p.dtype for p in shim._prediction.model.parameters()} == {torch.bfloat16}
            assert half == (shim.precision_used == "bfloat16")
    set_precision(nlp, "int8")


def saved_dtypes(model_dir):
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        return {f.get_slice(k).get_dtype() for k in f.keys()}


def test_save_load_keeps_setting_and_fp32_weights(trained, tmp_path):
    nlp, _ = trained
    set_precision(nlp, "int8")
    before = check_outputs(nlp)
    nlp.to_disk(tmp_path / "p")
    for name in COMPONENTS:
        assert saved_dtypes(tmp_path / "p" / name / "model") == {"F32"}
        assert json.loads((tmp_path / "p" / name / "model" / "config.json").read_text()).get("dtype", "float32") == "float32"
        assert "precision" not in json.loads((tmp_path / "p" / name / "cfg").read_text())
    loaded = spacy.load(tmp_path / "p")
    assert {name: loaded.get_pipe(name).precision for name in COMPONENTS} == {name: "int8" for name in COMPONENTS}
    after = check_outputs(loaded)
    for a, b in zip(before, after):
        assert ents(a) == ents(b)
        assert np.allclose(list(a.cats.values()), list(b.cats.values()), atol=1e-5)
        assert np.allclose(a.tensor, b.tensor, atol=1e-5)

    # a config override at load wins over the saved setting
    override = spacy.load(tmp_path / "p", config={"components": {"bert_ner": {"precision": "float32"}}})
    assert override.get_pipe("bert_ner").precision == "float32" and override.get_pipe("bert").precision == "int8"

    # set_precision is recorded in the config: saved and restored
    set_precision(loaded, "auto", names=["bert_textcat"])
    assert loaded.config["components"]["bert_textcat"]["precision"] == "auto"
    loaded.to_disk(tmp_path / "q")
    again = spacy.load(tmp_path / "q")
    assert again.get_pipe("bert_textcat").precision == "auto" and again.get_pipe("bert_ner").precision == "int8"

    # to_bytes / from_bytes into a pipeline built from the same config
    fresh = load_model_from_config(again.config, auto_fill=True, validate=True)
    fresh.from_bytes(again.to_bytes())
    assert fresh.get_pipe("bert_textcat").precision == "auto" and fresh.get_pipe("bert").precision == "int8"
    check_outputs(fresh)


def test_precision_errors(tiny_bert_dir):
    nlp = spacy.blank("en")
    for name in COMPONENTS:
        with raises_code("E660", match="fp16"):
            nlp.add_pipe(name, config={"checkpoint": str(tiny_bert_dir), "precision": "fp16"})
    nlp.add_pipe("bert_ner", config={"checkpoint": str(tiny_bert_dir)})
    nlp.add_pipe("sentencizer")
    with raises_code("E660", match="int4"):
        set_precision(nlp, "int4")
    with raises_code("E660", match="int4"):
        nlp.get_pipe("bert_ner").set_precision("int4")
    with raises_code("E662", match="sentencizer"):
        set_precision(nlp, "int8", names=["sentencizer"])
    assert set_precision(nlp, "int8") == {"bert_ner": "int8"}


def test_listening_component_follows_shared_bert(tiny_bert_dir):
    """A task component that listens predicts in the shared `bert` component's precision."""
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir), "precision": "int8", "window": 64, "stride": 16})
    listener = {
        "@architectures": "spacy-bert.BertSequenceClassifier.v1",
        "nO": None,
        "tok2vec": {"@architectures": "spacy-bert.BertOutputListener.v1", "upstream": "bert"},
    }
    nlp.add_pipe("bert_textcat", config={"model": listener})
    examples = [Example.from_dict(nlp.make_doc(t), {"cats": c}) for t, _, c in DATA]
    nlp.initialize(lambda: examples)
    doc = nlp(DATA[0][0])
    assert abs(sum(doc.cats.values()) - 1.0) < 1e-5
    shim = get_shim(nlp.get_pipe("bert").model)
    assert any(isinstance(m, Int8Linear) for m in shim._prediction.model.modules())
