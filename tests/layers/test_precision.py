"""Inference precision (`layers/precision/policy.py`, `BertShim.prediction_model`): the `auto` rule,
device fallbacks, the prediction copy leaving the fp32 model alone, and int8/bf16 accuracy on
the real all-MiniLM-L6-v2 against fp32 (computed in the same process by the fp32 model).

Tolerances on MiniLM hidden states (last_hidden_state of 6 real texts batched together; measured
on an AVX2 CPU without VNNI/bf16):
- bfloat16: cosine >= 0.999 for every piece (measured min 0.99985, mean 0.99994); max abs
  difference <= 0.15 (measured 0.042).
- int8 (`DEFAULT_INT8`: per-token activations, SmoothQuant, fp32 outlier channels, calibrated on
  the built-in sentences with MiniLM's tokenizer): cosine mean >= 0.999 (measured 0.99925), every
  piece >= 0.995 (measured 0.99715); max abs difference <= 0.3 (measured 0.14); mean-pooled
  sentence embeddings >= 0.995. Plain per-tensor dynamic int8 (`Int8Options(activations="tensor")`,
  the previous default) measured mean 0.989, min 0.966, max abs diff 0.53 on the same batch.
"""
import copy
import warnings

import pytest
import torch
from torch import nn

from spacy_bert import BertModel, BertTokenizer
from spacy_bert.layers.precision import policy as P
from spacy_bert.layers.precision.policy import Int8Linear, auto_precision, check_precision, prediction_model, resolve_precision
from spacy_bert.layers.precision.qkv import QKVPart
from spacy_bert.layers.shim.bert_shim import BertShim
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


# torch on one thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


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
    # avx512_bf16 without AMX tiles: int8 is faster (AMD EPYC: encoder bf16 1.7x, int8 2.2x fp32)
    assert auto_precision("cpu", frozenset({"avx2", "avx512_bf16"})) == "int8"
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
    if flags:  # Linux: the auto rule reads real flags; bf16 only with AMX tiles
        assert (auto_precision("cpu") == "bfloat16") == ("amx_bf16" in flags)


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


LINEAR_PATHS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense")


def int8_product(module, path):
    """The module computing the Linear at `path`: itself, or the fused product of a `QKVPart`."""
    found = module.get_submodule(path)
    return found.fused.linear if isinstance(found, QKVPart) else found


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
        # q, k, v (fused into one product or not, as this CPU's options say), attn out, intermediate, output
        linears = [int8_product(derived.encoder.layer[layer], name) for name in LINEAR_PATHS for layer in range(tiny_model.config.num_hidden_layers)]
        assert len(linears) == 6 * tiny_model.config.num_hidden_layers and all(isinstance(m, Int8Linear) for m in linears)
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
    assert isinstance(int8_product(shim._prediction.model.encoder.layer[0], "attention.self.query"), Int8Linear)


# -- the staleness signal: one counter, bumped by every entry point that changes weights -------
def built_copy(shim, batch):
    predict(shim, batch)
    return shim._prediction.model


def test_predict_reuses_copy_without_fingerprinting(tiny_bert_dir, tiny_batch, monkeypatch):
    """Nothing changed: the copy is reused, the key is one int, and no tensor is visited."""
    shim = shim_for(tiny_bert_dir, "int8")
    built = built_copy(shim, tiny_batch)
    version = shim.weights_version.value
    pulled = []
    original = type(shim.model).parameters

    def counting(module, *args, **kwargs):
        for param in original(module, *args, **kwargs):
            pulled.append(param)
            yield param

    monkeypatch.setattr(type(shim.model), "parameters", counting)
    assert built_copy(shim, tiny_batch) is built and shim.weights_version.value == version
    assert len(pulled) <= 4  # device lookups (the first parameter each), never every tensor
    assert shim._prediction.key == ("int8", "cpu", version)


def test_predict_toggles_eval_only_after_training(tiny_bert_dir, tiny_batch):
    shim = shim_for(tiny_bert_dir, "float32")
    shim.model.train()  # as begin_update leaves it
    predict(shim, tiny_batch)
    assert not shim.model.training  # switched once, left in eval
    calls = []
    shim.model.train = lambda mode=True: calls.append(mode)  # noqa: E731
    predict(shim, tiny_batch)
    assert calls == []  # already in eval: no walk over the modules
    del shim.model.train
    from thinc.shims.pytorch import ArgsKwargs

    shim.begin_update(ArgsKwargs(args=(), kwargs=tiny_batch))
    assert shim.model.training  # training puts train mode back itself


def test_set_model_bumps(tiny_bert_dir, tiny_batch):
    shim = shim_for(tiny_bert_dir, "int8")
    built = built_copy(shim, tiny_batch)
    shim.set_model(BertModel.from_pretrained(tiny_bert_dir), shim.tokenizer)
    assert built_copy(shim, tiny_batch) is not built


def test_from_bytes_bumps(tiny_bert_dir, tiny_batch):
    shim = shim_for(tiny_bert_dir, "int8")
    reference = predict(shim, tiny_batch)
    built = shim._prediction.model
    other = shim_for(tiny_bert_dir, "float32")
    with torch.no_grad():
        other.model.encoder.layer[0].attention.self.query.weight.mul_(0.5)
    shim.from_bytes(other.to_bytes())
    assert built_copy(shim, tiny_batch) is not built
    assert not torch.allclose(predict(shim, tiny_batch), reference)


def test_from_disk_bumps(tiny_bert_dir, tiny_batch, tmp_path):
    shim = shim_for(tiny_bert_dir, "int8")
    built = built_copy(shim, tiny_batch)
    shim.to_disk(tmp_path / "bert")
    shim.from_disk(tmp_path / "bert")
    assert built_copy(shim, tiny_batch) is not built


def test_load_state_dict_on_a_submodule_bumps(tiny_bert_dir, tiny_batch):
    shim = shim_for(tiny_bert_dir, "int8")
    first = predict(shim, tiny_batch)
    built = shim._prediction.model
    query = shim.model.encoder.layer[1].attention.self.query
    query.load_state_dict({"weight": query.weight.detach() * 0.5, "bias": query.bias.detach()})
    assert built_copy(shim, tiny_batch) is not built
    assert not torch.allclose(predict(shim, tiny_batch), first)


def test_use_params_bumps_entering_and_leaving(tiny_bert_dir, tiny_batch):
    shim = shim_for(tiny_bert_dir, "int8")
    first = predict(shim, tiny_batch)
    built = shim._prediction.model
    # thinc loads the whole state dict (strict): every weight, one of them changed
    averaged = {f"pytorch_{shim.id}_{k}": v.detach().numpy().copy() for k, v in shim.model.state_dict().items()}
    averaged[f"pytorch_{shim.id}_encoder.layer.0.attention.self.query.weight"] *= 0.5
    with shim.use_params(averaged):
        inside = predict(shim, tiny_batch)
        assert shim._prediction.model is not built and not torch.allclose(inside, first)
    assert torch.allclose(predict(shim, tiny_batch), first)  # the restored weights, not the averaged


def test_finish_update_bumps(tiny_bert_dir, tiny_batch):
    from thinc.api import SGD
    from thinc.shims.pytorch import ArgsKwargs

    shim = shim_for(tiny_bert_dir, "int8")
    version = shim.weights_version.value
    out, backprop = shim.begin_update(ArgsKwargs(args=(), kwargs=tiny_batch))
    backprop(ArgsKwargs(args=([out.last_hidden_state],), kwargs={"grad_tensors": [torch.ones_like(out.last_hidden_state)]}))
    shim.finish_update(SGD(0.01))
    assert shim.weights_version.value > version


def test_to_device_bumps(tiny_bert_dir, tiny_batch):
    shim = shim_for(tiny_bert_dir, "int8")
    built = built_copy(shim, tiny_batch)
    shim.to_device("cpu", 0)
    assert built_copy(shim, tiny_batch) is not built


def test_weights_changed_by_hand(tiny_bert_dir, tiny_batch):
    """An in-place change outside every entry point is the caller's to announce."""
    shim = shim_for(tiny_bert_dir, "int8")
    built = built_copy(shim, tiny_batch)
    with torch.no_grad():
        shim.model.encoder.layer[0].output.dense.weight.mul_(0.5)
    assert built_copy(shim, tiny_batch) is built  # documented: not seen
    shim.weights_changed()
    assert built_copy(shim, tiny_batch) is not built


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


def int8_against_fp32(model, batch, derived):
    """(per-piece cosines, max abs difference, per-text cosines of mean-pooled states)."""
    ref = run(model, batch)
    out = run(derived, batch)
    cos = cosines(out.last_hidden_state, ref.last_hidden_state, batch["attention_mask"])
    diff = (out.last_hidden_state - ref.last_hidden_state)[batch["attention_mask"].bool()].abs().max().item()
    mask = batch["attention_mask"][..., None].float()
    mean = lambda h: (h * mask).sum(1) / mask.sum(1)  # noqa: E731
    sentence = torch.nn.functional.cosine_similarity(mean(out.last_hidden_state), mean(ref.last_hidden_state), dim=-1)
    return cos, diff, sentence


def test_minilm_int8_hidden_states(minilm, minilm_batch):
    """The issue's bound: cosine >= 0.999 on hidden states (the shim passes its tokenizer)."""
    model, tokenizer = minilm
    cos, diff, sentence = int8_against_fp32(model, minilm_batch, prediction_model(model, "int8", tokenizer=tokenizer))
    print("int8 MiniLM: cosine mean %.5f min %.5f, max abs diff %.3f" % (cos.mean(), cos.min(), diff))
    assert cos.mean() >= 0.999 and cos.min() >= 0.995, (cos.mean().item(), cos.min().item(), diff)
    assert diff <= 0.3, diff
    # sentence embeddings (mean of the pieces, as sentence-transformers uses MiniLM)
    assert sentence.min() >= 0.995, sentence


def test_minilm_int8_without_tokenizer(minilm, minilm_batch):
    """Without a tokenizer the calibration runs on fixed pseudo-random ids: the bound still holds
    (measured mean 0.9991)."""
    model, _ = minilm
    cos, diff, _ = int8_against_fp32(model, minilm_batch, prediction_model(model, "int8"))
    assert cos.mean() >= 0.999 and cos.min() >= 0.99, (cos.mean().item(), cos.min().item(), diff)


def test_minilm_int8_beats_per_tensor(minilm, minilm_batch):
    """What each part of `DEFAULT_INT8` buys, on the same batch: plain per-tensor dynamic int8 is
    far below the bound; per-token activations alone are not enough either."""
    model, tokenizer = minilm
    per_tensor, _, _ = int8_against_fp32(model, minilm_batch, prediction_model(model, "int8", P.Int8Options(activations="tensor")))
    per_token, _, _ = int8_against_fp32(model, minilm_batch, prediction_model(model, "int8", P.Int8Options(activations="token")))
    default, _, _ = int8_against_fp32(model, minilm_batch, prediction_model(model, "int8", tokenizer=tokenizer))
    assert per_tensor.mean() < 0.995 < per_token.mean() < 0.999 <= default.mean(), (per_tensor.mean(), per_token.mean(), default.mean())


def test_int8_calibration_is_deterministic_and_cheap(minilm):
    """Two builds give identical int8 models; calibration (one fp32 pass over the built-in
    sentences) stays far under a second of CPU time on MiniLM."""
    import time

    model, tokenizer = minilm
    start = time.process_time()
    ranges = P.input_ranges(model, [P.calibration_batch(tokenizer)])
    assert time.process_time() - start < 1.0
    assert set(ranges) == {n for n, m in model.encoder.named_modules() if type(m) is nn.Linear}
    assert torch.equal(ranges["layer.0.attention.self.query"], P.input_ranges(model, [P.calibration_batch(tokenizer)])["layer.0.attention.self.query"])
    batch = P.calibration_batch(None, model.config.vocab_size)
    assert torch.equal(batch["input_ids"], P.calibration_batch(None, model.config.vocab_size)["input_ids"])
    a, b = prediction_model(model, "int8", tokenizer=tokenizer), prediction_model(model, "int8", tokenizer=tokenizer)
    ids = tokenizer(["Deterministic calibration."], return_tensors="pt")
    inputs = {"input_ids": ids["input_ids"], "attention_mask": ids["attention_mask"]}
    assert torch.equal(run(a, inputs).last_hidden_state, run(b, inputs).last_hidden_state)


def test_int8_linear_options_match_reference():
    """`Int8Linear`'s per-token path with smoothing and fp32 outlier channels against the fp32
    `Linear`, on an input with an outlier channel and an outlier token."""
    torch.manual_seed(0)
    linear = nn.Linear(64, 48)
    x = torch.randn(9, 64)
    x[:, 5] *= 30.0  # an outlier channel
    x[2] *= 10.0  # an outlier token
    with torch.no_grad():
        expected = linear(x)
    scale = torch.rand(64) + 0.5
    outliers = torch.tensor([5])
    got = Int8Linear(linear, "token", 7, input_scale=scale, outliers=outliers)(x.clone())
    rel = ((got - expected).norm(dim=1) / expected.norm(dim=1)).max()
    assert rel < 0.02, rel
    # the per-tensor layer on the same input loses much more on the small rows
    per_tensor = Int8Linear(linear, "tensor")(x.clone())
    assert ((per_tensor - expected).norm(dim=1) / expected.norm(dim=1)).max() > 2 * rel
    # the caller's tensor is left as it was (it may be read again, as the residual)
    before = x.clone()
    Int8Linear(linear, "token", 7, input_scale=scale, outliers=outliers)(x)
    Int8Linear(linear, "token")(x)
    assert torch.equal(x, before)


def test_int8_prediction_shows_no_warnings(tiny_bert_dir, tiny_batch):
    """Loading and predicting in int8 shows users no deprecation (or other) warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shim = shim_for(tiny_bert_dir, "int8")
        predict(shim, tiny_batch)
        predict(shim, tiny_batch)
    assert isinstance(shim._prediction.model.encoder.layer[0].output.dense, Int8Linear)
