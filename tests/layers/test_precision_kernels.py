"""Issue 24: which SDPA kernel runs per precision and mask, the int8 options per CPU class on the
real all-MiniLM-L6-v2 (cosine bounds of issue 14), the fused query/key/value product, and the
`auto` rule table with faked CPU flags (the log line and the component's resolved precision).

Bounds (measured on AMD EPYC with avx512_vnni / avx512_bf16, torch 2.13, this file's sentences):
int8 with either option set keeps hidden-state cosine mean >= 0.999 and every piece >= 0.995.
"""
import logging

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from spacy_bert.layers.precision import policy as P
from spacy_bert.layers.precision.int8_options import DEFAULT_INT8, VNNI_INT8, Int8Options, int8_options
from spacy_bert.layers.precision.qkv import FusedQKV, QKVPart, fused_linear
from spacy_bert.modeling import BertModel
from spacy_bert.tokenization import BertTokenizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXTS = [
    "Officials in Lisbon confirmed on Friday that the new bridge will open to traffic next spring.",
    "lol cant wait for the game tonight @mike_b #finally",
    "The plot is thin , but the two leads are so charming that it hardly matters .",
    "Who wrote the novel that the 2005 film was based on?",
    "ok",
]
FLASH = "aten::_scaled_dot_product_flash_attention_for_cpu"
MATH = "aten::_scaled_dot_product_attention_math"


@pytest.fixture(scope="module")
def minilm(minilm_dir):
    return BertModel.from_pretrained(minilm_dir).eval(), BertTokenizer.from_pretrained(minilm_dir)


@pytest.fixture(scope="module")
def batch(minilm):
    encoded = minilm[1](TEXTS, padding=True, return_tensors="pt")
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}


def hidden(model, inputs):
    with torch.inference_mode():
        return model(**inputs).last_hidden_state.float()


def cosines(a, b, mask):
    keep = mask.bool()
    return torch.nn.functional.cosine_similarity(a[keep], b[keep], dim=-1)


# -- SDPA kernels ------------------------------------------------------------------------
@pytest.mark.parametrize("precision", ["float32", "int8", "bfloat16"])
@pytest.mark.parametrize("padded", [True, False])
def test_sdpa_runs_the_fused_cpu_kernel(minilm, batch, precision, padded, monkeypatch):
    """Every precision, with a padding mask or none: SDPA runs its fused CPU kernel (never the
    unfused math path), and the mask it gets is in the query's dtype (bf16 in bfloat16)."""
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("this CPU has no AVX2/AVX-512: torch's vectorised CPU flash kernel is not built for it")
    model, _ = minilm
    inputs = batch if padded else {k: v[:1, :8] for k, v in batch.items()}  # one full row: no padding
    assert bool((inputs["attention_mask"] == 0).any()) == padded
    derived = P.prediction_model(model, precision)
    seen = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(query, key, value, attn_mask=None, **kwargs):
        seen.append((query.dtype, None if attn_mask is None else attn_mask.dtype))
        return sdpa(query, key, value, attn_mask=attn_mask, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        hidden(derived, inputs)
    ops = {event.key for event in prof.key_averages()}
    assert FLASH in ops and MATH not in ops, sorted(op for op in ops if "attention" in op)
    compute = torch.bfloat16 if precision == "bfloat16" else torch.float32
    assert seen and all(q == compute for q, _ in seen)
    # a padding mask is built in the compute dtype (no cast inside SDPA); without padding the
    # model drops it (validate_inputs; the shim skips that device sync and passes zeros)
    assert all(m == (compute if padded else None) for _, m in seen), seen


# -- int8 options per CPU class ------------------------------------------------------------
@pytest.mark.parametrize("options", [DEFAULT_INT8, VNNI_INT8], ids=["avx2", "vnni"])
def test_int8_options_keep_the_bound_on_minilm(minilm, batch, options):
    """Both option sets within issue 14's bounds on the real model (VNNI's 8-bit weights run on
    this CPU whatever it has: fbgemm's AVX2 kernel may saturate them, so only assert there)."""
    model, tokenizer = minilm
    if options is VNNI_INT8 and not P.cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"}:
        pytest.skip("8-bit weights are the VNNI option; this CPU's int8 kernel adds pairs in int16")
    ref = hidden(model, batch)
    cos = cosines(hidden(P.prediction_model(model, "int8", options, tokenizer=tokenizer), batch), ref, batch["attention_mask"])
    print(f"{options.describe()}: cosine mean {cos.mean():.5f} min {cos.min():.5f}")
    assert cos.mean() >= 0.999 and cos.min() >= 0.995, (cos.mean().item(), cos.min().item())


def test_int8_options_follow_the_cpu_flags():
    assert int8_options(frozenset({"avx2", "fma"})) is DEFAULT_INT8
    assert int8_options(frozenset({"avx512f", "avx512_vnni"})) is VNNI_INT8
    assert int8_options(frozenset({"avx2", "avx_vnni"})) is VNNI_INT8
    assert VNNI_INT8.weight_bits == 8 and DEFAULT_INT8.weight_bits == 7


def test_per_tensor_int8_keeps_its_outlier_channels(minilm, batch):
    """Per-tensor activations with fp32 outlier channels: the outlier product is added (it was
    dropped once: cosine 0.40)."""
    model, tokenizer = minilm
    options = Int8Options(activations="tensor", weight_bits=7, smooth=0.5, outliers=16, outlier_kinds=P.LINEAR_KINDS)
    cos = cosines(hidden(P.prediction_model(model, "int8", options, tokenizer=tokenizer), batch), hidden(model, batch), batch["attention_mask"])
    assert cos.mean() >= 0.99, cos.mean()


# -- fused query/key/value -----------------------------------------------------------------
def test_fused_qkv_parts_equal_the_three_products():
    torch.manual_seed(0)
    query, key, value = (torch.nn.Linear(8, 8) for _ in range(3))
    fused = FusedQKV(fused_linear(query, key, value), 8)
    parts = [QKVPart(fused, i) for i in range(3)]
    x, other = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    with torch.no_grad():
        expected = [query(x), key(x), value(x)]
        assert all(torch.allclose(part(x), want, atol=1e-6) for part, want in zip(parts, expected))
        # another input for key/value (cross-attention pattern): computed, not the cached output
        assert torch.allclose(parts[0](x), query(x), atol=1e-6)
        assert torch.allclose(parts[1](other), key(other), atol=1e-6)
        # x changed in place between calls: recomputed
        parts[0](x)
        x.add_(1.0)
        assert torch.allclose(parts[1](x), key(x), atol=1e-6)


def test_fused_int8_model_within_bound(minilm, batch):
    model, tokenizer = minilm
    options = Int8Options(activations="token", weight_bits=7, smooth=0.5, smooth_kinds=DEFAULT_INT8.smooth_kinds, wide=("output.dense",), outliers=16, outlier_kinds=P.LINEAR_KINDS, fuse_qkv=True)
    derived = P.prediction_model(model, "int8", options, tokenizer=tokenizer)
    attention = derived.encoder.layer[0].attention.self
    assert isinstance(attention.query, QKVPart) and attention.query.fused is attention.value.fused
    cos = cosines(hidden(derived, batch), hidden(model, batch), batch["attention_mask"])
    assert cos.mean() >= 0.999 and cos.min() >= 0.995, (cos.mean().item(), cos.min().item())


# -- auto: the rule table with faked flags -----------------------------------------------------
@pytest.mark.parametrize(
    "flags, klass, used",
    [
        ({"avx2", "fma"}, "avx2", "int8"),
        ({"avx2", "avx512f"}, "avx2", "int8"),
        ({"avx2", "avx512f", "avx512_vnni"}, "avx512-vnni", "int8"),
        ({"avx2", "avx_vnni"}, "avx512-vnni", "int8"),
        ({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}, "avx512-vnni", "int8"),
        ({"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile"}, "amx", "bfloat16"),
        ({"sse4_2"}, "other", "float32"),
        ({"asimd", "fp"}, "other", "float32"),
    ],
)
def test_auto_rule_table(flags, klass, used, monkeypatch):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "DEFAULT")
    assert P.cpu_class(frozenset(flags)) == klass
    assert P.auto_precision("cpu", frozenset(flags)) == used


def test_auto_resolved_by_the_component_and_logged(tiny_bert_dir, monkeypatch, caplog):
    """`nlp.get_pipe(name).precision` is what `auto` chose on this (faked) CPU, the setting
    stays "auto", and building the prediction copy logs the choice at debug level."""
    import spacy

    amx = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16"})
    monkeypatch.setattr(P, "cpu_flags", lambda: amx)
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir), "precision": "auto"})
    assert pipe.precision == "bfloat16" and pipe.precision_setting == "auto"
    with caplog.at_level(logging.DEBUG, logger="spacy_bert"):
        nlp("A short text.")
    assert any("precision 'auto' runs as 'bfloat16' on cpu (CPU class amx)" in r.getMessage() for r in caplog.records), caplog.text
    monkeypatch.setattr(P, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}))
    assert pipe.precision == "int8" and pipe.precision_setting == "auto"
