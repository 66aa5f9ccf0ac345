"""The `precision` setting of `bert`, `bert_ner`, `bert_textcat`, `bert_qa` and `bert_fill_mask`:
every precision gives valid outputs (int8/bf16 QA and MLM logits within a stated tolerance of
fp32, their heads in fp32), training with int8 set still trains the fp32 model, the setting survives
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

import spacy_bert
from spacy_bert.layers.encoder import get_shim
from spacy_bert.layers.precision.policy import PRECISIONS, Int8Linear, auto_precision
from spacy_bert.pipeline import set_precision
from tests.error_codes import raises_code

DATA = [
    ("Alice Smith lives in Paris now", [(0, 11, "PER"), (21, 26, "LOC")], {"POS": 1.0, "NEG": 0.0}),
    ("I hate London and Berlin.", [(7, 13, "LOC"), (18, 24, "LOC")], {"POS": 0.0, "NEG": 1.0}),
    ("Who is Shaka Khan?", [(7, 17, "PER")], {"POS": 1.0, "NEG": 0.0}),
    ("What a terrible day", [], {"POS": 0.0, "NEG": 1.0}),
]
COMPONENTS = ("bert", "bert_ner", "bert_textcat")


# torch on one thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


#: What a setting predicts in on this CPU (the rule table itself: tests/layers/test_precision_kernels.py).
RUNS_AS = {"float16": "float32", "auto": auto_precision("cpu")}


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_gives_valid_outputs(trained, precision):
    nlp, _ = trained
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # W660 (float16 on a CPU), W661 (bf16 emulated)
        # what each now predicts in: "auto" as resolved here, "float16" on a CPU runs fp32
        assert set_precision(nlp, precision) == {name: RUNS_AS.get(precision, precision) for name in COMPONENTS}
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
    # the component reports what "auto" runs as on this machine, and keeps the setting apart
    assert loaded.get_pipe("bert_textcat").precision == auto_precision("cpu") != "auto"
    assert loaded.get_pipe("bert_textcat").precision_setting == "auto"
    loaded.to_disk(tmp_path / "q")
    again = spacy.load(tmp_path / "q")
    assert again.get_pipe("bert_textcat").precision_setting == "auto" and again.get_pipe("bert_ner").precision == "int8"

    # to_bytes / from_bytes into a pipeline built from the same config
    fresh = load_model_from_config(again.config, auto_fill=True, validate=True)
    fresh.from_bytes(again.to_bytes())
    assert fresh.get_pipe("bert_textcat").precision_setting == "auto" and fresh.get_pipe("bert").precision == "int8"
    check_outputs(fresh)


def test_precision_errors(tiny_bert_dir):
    nlp = spacy.blank("en")
    for name in COMPONENTS + WHOLE:
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


# -- bert_qa and bert_fill_mask: the whole BertFor* model in the shim ----------------------------
QA_CONTEXT = " ".join(f"In year {1200 + i} the merchants of Köpenick-{i} traded salt, amber and wool along the river Spree." for i in range(4))
QA_QUESTIONS = ["Who traded salt along the river?", "When did the merchants trade?"]
FILL_TEXTS = ["The capital of France is [MASK].", "[MASK] is a [MASK] city in Germany."]
WHOLE = ("bert_qa", "bert_fill_mask")
#: Max abs difference to fp32 of the tiny random heads' logits (QA start/end: |logit| <= 0.3;
#: MLM: <= 0.7). Measured: int8 1.0e-4 (QA) / 1.8e-4 (MLM); bf16 2.4e-3 / 3.5e-3.
LOGIT_ATOL = {"int8": 1e-3, "bfloat16": 1.5e-2}


@pytest.fixture(scope="module")
def whole_nlp(make_tiny_head, tmp_path_factory):
    """bert_qa (a fine-tuned tiny BertForQuestionAnswering) and bert_fill_mask (a tiny
    BertForMaskedLM), both set to int8; the checkpoints are copies, deleted once loaded."""
    base = tmp_path_factory.mktemp("ckpt-whole")
    dirs = {}
    for factory, class_name in (("bert_qa", "BertForQuestionAnswering"), ("bert_fill_mask", "BertForMaskedLM")):
        dirs[factory] = base / factory
        shutil.copytree(make_tiny_head(class_name)[1], dirs[factory])
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_qa", config={"checkpoint": str(dirs["bert_qa"]), "max_seq_len": 48, "doc_stride": 16, "top_k": 2, "precision": "int8"})
    nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(dirs["bert_fill_mask"]), "window": 64, "stride": 16, "precision": "int8"})
    for name in WHOLE:
        nlp.get_pipe(name)._ensure_loaded()
    shutil.rmtree(base)
    return nlp


def answers_and_fills(nlp):
    """Valid answers (HF's dicts, answer == context[start:end], probabilities, one span per
    question) and valid fills (top 5 per mask, probabilities best first, on the mask's token)."""
    doc = spacy_bert.ask(nlp, QA_CONTEXT, QA_QUESTIONS)
    assert set(doc._.answers) == {"0", "1"}
    for found in doc._.answers.values():
        assert 1 <= len(found) <= 2
        for a in found:
            assert a["answer"] and doc.text[a["start"] : a["end"]] == a["answer"]
            assert 0.0 < a["score"] <= 1.0
    assert [span.label_ for span in doc.spans["bert_qa"]] == ["0", "1"]
    docs = list(nlp.pipe(FILL_TEXTS))
    for fill_doc, n_masks in zip(docs, (1, 2)):
        assert len(fill_doc._.fill_mask) == n_masks
        for entry in fill_doc._.fill_mask:
            scores = [p["score"] for p in entry["predictions"]]
            assert len(scores) == 5 and all(0.0 < s <= 1.0 for s in scores) and scores == sorted(scores, reverse=True)
            assert all(isinstance(p["token"], int) and isinstance(p["token_str"], str) and isinstance(p["sequence"], str) for p in entry["predictions"])
            token = fill_doc.char_span(entry["start"], entry["end"])
            assert len(token) == 1 and token[0]._.fill_mask == entry["predictions"]
    return doc._.answers, [d._.fill_mask for d in docs]


def prediction_model(pipe):
    return pipe.shim._prediction.model


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_gives_valid_answers_and_fills(whole_nlp, precision):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # W660 (float16 on a CPU), W661 (bf16 emulated)
        assert set_precision(whole_nlp, precision) == {name: RUNS_AS.get(precision, precision) for name in WHOLE}
        answers_and_fills(whole_nlp)
        for name in WHOLE:
            shim = whole_nlp.get_pipe(name).shim
            assert shim._prediction.key[:2] == (precision, "cpu")  # the fills ran through it too
            quantized = any(isinstance(m, Int8Linear) for m in prediction_model(whole_nlp.get_pipe(name)).modules())
            assert quantized == (shim.precision_used == "int8")
    set_precision(whole_nlp, "int8")


def qa_logits(qa):
    windows = qa.run_windows([QA_CONTEXT] * 2, QA_QUESTIONS)
    return np.concatenate(windows.start_logits + windows.end_logits)


def mlm_logits(pipe, precision):
    ids = torch.tensor([pipe.tokenizer.encode_batch_with_offsets([FILL_TEXTS[1]])[0][0]])
    ids = torch.cat([torch.tensor([[pipe.tokenizer.cls_token_id]]), ids, torch.tensor([[pipe.tokenizer.sep_token_id]])], dim=1)
    pipe.set_precision(precision)
    with torch.inference_mode():
        return pipe.shim.prediction_model()(input_ids=ids).logits.numpy()


@pytest.mark.parametrize("precision", ["int8", "bfloat16"])
def test_logits_within_tolerance_of_fp32_and_heads_stay_fp32(whole_nlp, precision):
    qa, fill = whole_nlp.get_pipe("bert_qa"), whole_nlp.get_pipe("bert_fill_mask")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # W661 (bf16 emulated on this CPU)
        qa.set_precision("float32")
        reference = qa_logits(qa)
        qa.set_precision(precision)
        got = qa_logits(qa)
        mlm_reference, mlm_got = mlm_logits(fill, "float32"), mlm_logits(fill, precision)
    for ours, fp32 in ((got, reference), (mlm_got, mlm_reference)):
        difference = float(np.abs(ours - fp32).max())
        assert 0.0 < difference <= LOGIT_ATOL[precision]  # > 0: the precision really changed the arithmetic
    qa_head = prediction_model(qa).qa_outputs
    mlm_head = prediction_model(fill).cls.predictions
    for layer in (qa_head, mlm_head.transform.dense, mlm_head.decoder):
        assert type(layer) is nn.Linear and layer.weight.dtype == torch.float32
    assert mlm_head.transform.LayerNorm.weight.dtype == torch.float32
    encoder_layer = prediction_model(qa).bert.encoder.layer[0].intermediate.dense
    assert isinstance(encoder_layer, Int8Linear) if precision == "int8" else encoder_layer.weight.dtype == torch.bfloat16
    # the fp32 models are untouched
    for pipe in (qa, fill):
        assert all(p.dtype == torch.float32 for p in pipe.shim.model.parameters())
    set_precision(whole_nlp, "int8")


def test_whole_model_save_load_keeps_setting(whole_nlp, tmp_path):
    set_precision(whole_nlp, "int8")
    answers, fills = answers_and_fills(whole_nlp)
    whole_nlp.to_disk(tmp_path / "p")
    for name in WHOLE:
        assert saved_dtypes(tmp_path / "p" / name / "model") == {"F32"}
        assert "precision" not in json.loads((tmp_path / "p" / name / "cfg").read_text())
    loaded = spacy.load(tmp_path / "p")
    assert {name: loaded.get_pipe(name).precision for name in WHOLE} == {name: "int8" for name in WHOLE}
    again_answers, again_fills = answers_and_fills(loaded)
    assert again_answers == answers and again_fills == fills  # same weights, same precision

    override = spacy.load(tmp_path / "p", config={"components": {"bert_qa": {"precision": "float32"}}})
    assert override.get_pipe("bert_qa").precision == "float32" and override.get_pipe("bert_fill_mask").precision == "int8"

    set_precision(loaded, "bfloat16", names=["bert_fill_mask"])
    fresh = load_model_from_config(loaded.config, auto_fill=True, validate=True)
    fresh.from_bytes(loaded.to_bytes())
    assert fresh.get_pipe("bert_fill_mask").precision == "bfloat16" and fresh.get_pipe("bert_qa").precision == "int8"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # W661
        answers_and_fills(fresh)



def test_whole_model_set_precision_errors(tiny_bert_dir):
    nlp = spacy.blank("en")
    for name in WHOLE:
        pipe = nlp.add_pipe(name, config={"checkpoint": str(tiny_bert_dir)})
        with raises_code("E660", match="int4"):
            pipe.set_precision("int4")
        assert pipe.precision == "float32" and pipe.shim.precision == "float32"
