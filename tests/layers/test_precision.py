"""Inference precision (`layers/precision.py`, `BertShim.prediction_model`): the `auto` rule,
device fallbacks, the prediction copy leaving the fp32 model alone, and int8/bf16 accuracy on
the real all-MiniLM-L6-v2 against fp32 (computed in the same process by the fp32 model).

Tolerances on MiniLM hidden states (last_hidden_state of 6 real texts batched together; measured
on an AVX2 CPU without VNNI/bf16):
- bfloat16: cosine >= 0.999 for every piece (measured min 0.99985, mean 0.99994); max abs
  difference <= 0.15 (measured 0.042).
- int8 (dynamic, fbgemm, per-tensor activations): mean cosine >= 0.98 (measured 0.989), every
  piece >= 0.93 (measured 0.966); max abs difference <= 1.0 (measured 0.53); mean-pooled
  sentence embeddings >= 0.95 (measured 0.967 to 0.993). int8 does NOT reach the issue's 0.999
  cosine: activations quantized with one scale per batch lose that much on MiniLM.
"""
import copy
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from spacy_bert import BertModel, BertTokenizer
from spacy_bert.layers import precision as P
from spacy_bert.layers.precision import Int8Linear, auto_precision, check_precision, prediction_model, resolve_precision
from spacy_bert.layers.shim import BertShim
from tests.error_codes import raises_code

TEXTS = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Apple is looking at buying a U.K. startup for $1 billion, sources said on Tuesday.",
    "Robert Boulter is an English film and television actor. He had a guest starring role on "
    "the television series The Bill in 2000, followed by a starring role in the play Herons.",
    "i loved this movie , the acting was wonderful and the plot kept me guessing until the end",
    "Senjō no Valkyria 3 : Unrecorded Chronicles is a tactical role @-@ playing video game.",
    "ok",
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def minilm(minilm_dir):
    return BertModel.from_pretrained(minilm_dir).eval(), BertTokenizer.from_pretrained(minilm_dir)


@pytest.fixture(scope="module")
def minilm_batch(minilm):
    _, tokenizer = minilm
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


def run(model, batch):
    with torch.inference_mode():
        return model(**batch)


def cosines(a, b, mask):
    """Per real piece: cosine of a and b (batch, seq, hidden) -> (n_pieces,)."""
    keep = mask.bool()
    return torch.nn.functional.cosine_similarity(a[keep].float(), b[keep].float(), dim=-1)


# -- the setting and the auto rule -------------------------------------------------------
@pytest.mark.parametrize("value", ["float32", "int8", "bfloat16", "float16", "auto"])
def test_check_precision_accepts(value):
    assert check_precision(value, "bert") == value


@pytest.mark.parametrize("value", ["fp32", "Float32", "int4", "", None, 8])
def test_check_precision_refuses(value):
    with raises_code("E660", match="bert_ner"):
        check_precision(value, "bert_ner")


def test_auto_rule_from_cpu_flags(monkeypatch):
    assert auto_precision("cpu", frozenset({"avx2", "avx512_bf16"})) == "bfloat16"
    assert auto_precision("cpu", frozenset({"avx2", "amx_bf16"})) == "bfloat16"
    assert auto_precision("cpu", frozenset({"avx2", "fma"})) == "int8"
    assert auto_precision("cpu", frozenset({"avx512f", "avx512_vnni"})) == "int8"
    # No SIMD flag and torch sees no AVX: fp32 (never bf16 without native bf16)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "DEFAULT")
    assert auto_precision("cpu", frozenset({"sse4_2"})) == "float32"
    # int8 needs the quantized engine
    monkeypatch.setattr(P, "_int8_engine", lambda: None)
    assert auto_precision("cpu", frozenset({"avx2"})) == "float32"


def test_cpu_flags_of_this_machine():
    flags = P.cpu_flags()
    assert isinstance(flags, frozenset)
    if flags:  # Linux: the auto rule reads real flags; bf16 only with native bf16
        assert (auto_precision("cpu") == "bfloat16") == bool(flags & P.NATIVE_BF16_FLAGS)


def test_cpu_flags_without_cpuinfo(tmp_path):
    assert P.cpu_flags.__wrapped__(str(tmp_path / "missing")) == frozenset()
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\n")
    assert P.cpu_flags.__wrapped__(str(tmp_path / "cpuinfo")) == frozenset({"fpu", "avx2", "amx_bf16"})


def test_device_fallbacks_warn():
    with pytest.warns(UserWarning, match="W660"):
        assert resolve_precision("float16", "cpu", "bert") == "float32"
    with pytest.warns(UserWarning, match="W660"):
        assert resolve_precision("int8", "cuda", "bert") == "float32"
    with pytest.warns(UserWarning, match="W661"):
        assert resolve_precision("bfloat16", "cpu", "bert", flags=frozenset({"avx2"})) == "bfloat16"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_precision("bfloat16", "cpu", "bert", flags=frozenset({"amx_bf16"})) == "bfloat16"
        assert resolve_precision("int8", "cpu", "bert") == "int8"
        assert resolve_precision("float32", "cpu", "bert") == "float32"


def test_int8_without_engine_is_coded(monkeypatch):
    monkeypatch.setattr(P, "_int8_engine", lambda: None)
    with raises_code("E661", match="bert_ner"):
        resolve_precision("int8", "cpu", "bert_ner")


def test_no_cuda_path_without_gpu(tiny_model, tiny_batch):
    """On a machine without a GPU no setting selects a CUDA path or touches CUDA."""
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    for value in P.PRECISIONS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            used = resolve_precision(value, "cpu", "bert")
        assert used in ("float32", "int8", "bfloat16")
        derived = prediction_model(tiny_model, used)
        assert all(t.device.type == "cpu" for t in derived.state_dict().values() if isinstance(t, torch.Tensor))
        assert run(derived, tiny_batch).last_hidden_state.device.type == "cpu"
    assert not torch.cuda.is_initialized()


# -- the prediction copy -------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model(tiny_bert_dir):
    return BertModel.from_pretrained(tiny_bert_dir).eval()


@pytest.fixture(scope="module")
def tiny_batch():
    torch.manual_seed(1)
    return {"input_ids": torch.randint(1000, 5000, (3, 20)), "attention_mask": torch.ones(3, 20, dtype=torch.long)}


@pytest.mark.parametrize("used", ["int8", "bfloat16"])
def test_prediction_copy_leaves_fp32_model_alone(tiny_model, tiny_batch, used):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    reference = run(tiny_model, tiny_batch).last_hidden_state
    derived = prediction_model(tiny_model, used)
    out = run(derived, tiny_batch)
    assert out.last_hidden_state.dtype == torch.float32 and out.pooler_output.dtype == torch.float32
    assert torch.isfinite(out.last_hidden_state).all()
    # the fp32 model: same weights, same dtype, same layers, same outputs
    after = tiny_model.state_dict()
    assert all(torch.equal(before[k], after[k]) and after[k].dtype == before[k].dtype for k in before)
    assert all(type(m) is nn.Linear for m in tiny_model.modules() if "Linear" in type(m).__name__)
    assert torch.equal(run(tiny_model, tiny_batch).last_hidden_state, reference)
    if used == "int8":
        linears = [m for m in derived.encoder.modules() if isinstance(m, Int8Linear)]
        assert len(linears) == 6 * tiny_model.config.num_hidden_layers  # q, k, v, attn out, intermediate, output
        assert not any(type(m) is nn.Linear for m in derived.encoder.modules())
        assert type(derived.pooler.dense) is nn.Linear  # the pooler stays fp32
        # what is not quantized is shared, not copied
        assert derived.embeddings.word_embeddings.weight is tiny_model.embeddings.word_embeddings.weight
    else:
        assert derived.embeddings.word_embeddings.weight.dtype == torch.bfloat16
        assert derived.encoder.layer[0].attention.self.query.weight.dtype == torch.bfloat16


def test_int8_linear_close_to_linear():
    torch.manual_seed(0)
    linear = nn.Linear(64, 48)
    x = torch.randn(5, 7, 64)
    with torch.no_grad():
        expected = linear(x)
    got = Int8Linear(linear)(x)
    assert got.shape == expected.shape and got.dtype == torch.float32
    rel = (got - expected).norm() / expected.norm()
    assert rel < 0.02, rel


def test_int8_weights_made_without_user_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Int8Linear(nn.Linear(8, 8))


# -- the shim: cache, rebuild, training stays fp32 -----------------------------------------
def shim_for(directory, precision):
    shim = BertShim(precision=precision)
    shim.load_checkpoint(str(directory))
    return shim


def predict(shim, batch):
    from thinc.shims.pytorch import ArgsKwargs

    return shim.predict(ArgsKwargs(args=(), kwargs=batch)).last_hidden_state


def test_shim_rebuilds_after_weights_change(tiny_bert_dir, tiny_batch):
    shim = shim_for(tiny_bert_dir, "int8")
    first = predict(shim, tiny_batch)
    built = shim._prediction.model
    assert predict(shim, tiny_batch) is not None and shim._prediction.model is built  # cached
    assert type(shim.model.encoder.layer[0].attention.self.query) is nn.Linear  # fp32 model untouched
    # change the fp32 weights in place (as use_params / load_state_dict do)
    state = {k: v * 0.5 if k.endswith("query.weight") else v for k, v in shim.model.state_dict().items()}
    shim.model.load_state_dict(state)
    second = predict(shim, tiny_batch)
    assert shim._prediction.model is not built
    assert not torch.allclose(first, second)
    # switching precision rebuilds too; float32 predicts with the model itself
    shim.precision = "float32"
    assert torch.equal(predict(shim, tiny_batch), run(shim.model.eval(), tiny_batch).last_hidden_state)
    assert shim._prediction.model is shim.model
    with raises_code("E660"):
        shim.precision = "int4"


def test_shim_trains_fp32_with_int8_set(tiny_bert_dir, tiny_batch):
    from thinc.api import Adam
    from thinc.shims.pytorch import ArgsKwargs

    shim = shim_for(tiny_bert_dir, "int8")
    predict(shim, tiny_batch)
    assert shim._prediction.model is not None
    out, backprop = shim.begin_update(ArgsKwargs(args=(), kwargs=tiny_batch))
    assert out.last_hidden_state.requires_grad and out.last_hidden_state.dtype == torch.float32
    backprop(ArgsKwargs(args=([out.last_hidden_state],), kwargs={"grad_tensors": [torch.ones_like(out.last_hidden_state)]}))
    query = shim.model.encoder.layer[0].attention.self.query
    assert type(query) is nn.Linear and query.weight.grad is not None and query.weight.dtype == torch.float32
    before = query.weight.detach().clone()
    shim.finish_update(Adam(0.01))
    assert not torch.equal(before, shim.model.encoder.layer[0].attention.self.query.weight)
    assert shim._prediction.model is None  # dropped: its weights are old
    predict(shim, tiny_batch)
    assert isinstance(shim._prediction.model.encoder.layer[0].attention.self.query, Int8Linear)


def test_shim_copy_does_not_carry_prediction_model(tiny_bert_dir, tiny_batch):
    shim = shim_for(tiny_bert_dir, "int8")
    predict(shim, tiny_batch)
    copied = copy.deepcopy(shim)
    assert copied._prediction.model is None and copied.precision == "int8"
    assert torch.allclose(predict(copied, tiny_batch), predict(shim, tiny_batch))


# -- accuracy on the real all-MiniLM-L6-v2 -------------------------------------------------
def test_minilm_bfloat16_hidden_states(minilm, minilm_batch):
    model, _ = minilm
    ref = run(model, minilm_batch)
    out = run(prediction_model(model, "bfloat16"), minilm_batch)
    cos = cosines(out.last_hidden_state, ref.last_hidden_state, minilm_batch["attention_mask"])
    diff = (out.last_hidden_state - ref.last_hidden_state)[minilm_batch["attention_mask"].bool()].abs().max().item()
    print("bf16 MiniLM: cosine mean %.5f min %.5f, max abs diff %.3f" % (cos.mean(), cos.min(), diff))
    assert cos.min() >= 0.999, (cos.min().item(), diff)
    assert diff <= 0.15, diff
    pooled = torch.nn.functional.cosine_similarity(out.pooler_output, ref.pooler_output, dim=-1)
    assert pooled.min() >= 0.999, pooled


def test_minilm_int8_hidden_states(minilm, minilm_batch):
    model, _ = minilm
    ref = run(model, minilm_batch)
    out = run(prediction_model(model, "int8"), minilm_batch)
    cos = cosines(out.last_hidden_state, ref.last_hidden_state, minilm_batch["attention_mask"])
    diff = (out.last_hidden_state - ref.last_hidden_state)[minilm_batch["attention_mask"].bool()].abs().max().item()
    print("int8 MiniLM: cosine mean %.4f min %.4f, max abs diff %.3f" % (cos.mean(), cos.min(), diff))
    assert cos.mean() >= 0.98 and cos.min() >= 0.93, (cos.mean().item(), cos.min().item(), diff)
    assert diff <= 1.0, diff
    # sentence embeddings (mean of the pieces, as sentence-transformers uses MiniLM)
    mask = minilm_batch["attention_mask"][..., None].float()
    mean = lambda h: (h * mask).sum(1) / mask.sum(1)  # noqa: E731
    sentence = torch.nn.functional.cosine_similarity(mean(out.last_hidden_state), mean(ref.last_hidden_state), dim=-1)
    assert sentence.min() >= 0.95, sentence  # measured 0.967 ("ok", batched with long texts)


def test_int8_prediction_shows_no_warnings(tiny_bert_dir, tiny_batch):
    """Loading and predicting in int8 shows users no deprecation (or other) warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shim = shim_for(tiny_bert_dir, "int8")
        predict(shim, tiny_batch)
        predict(shim, tiny_batch)
    assert isinstance(shim._prediction.model.encoder.layer[0].output.dense, Int8Linear)
