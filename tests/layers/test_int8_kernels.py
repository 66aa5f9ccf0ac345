"""`Int8Linear`'s per-token product (rows quantized on their own [min, max], oneDNN's u8 x s8
product), its fp32 outlier channels zeroed in place where the input is its own, and the no-VNNI
options on AVX2 kernels (`layers/precision/int8.py`, `layers/precision/quantize.py`)."""
import copy
import dataclasses

import pytest
import torch
from torch import nn

from spacy_bert import BertConfig, BertModel
from spacy_bert.layers.precision.int8 import Int8Linear, int8_engine
from spacy_bert.layers.precision.int8_options import DEFAULT_INT8, LINEAR_KINDS
from spacy_bert.layers.precision.quantize import quantize_linears

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(int8_engine() is None, reason="this torch build has no int8 engine (x86/fbgemm with oneDNN)"),
]


def _layer_inputs(rows: int = 37, width: int = 96) -> torch.Tensor:
    torch.manual_seed(0)
    x = torch.nn.functional.gelu(torch.randn(rows, width) * 3)
    x[:, :4] = torch.randn(rows, 4)
    x[2] *= 25.0  # a large row, as [CLS] is
    return x


def _int8_weight(weight: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """weight (out, in) float64 as symmetric per-output-channel int8 weights dequantize it."""
    step = weight.abs().amax(1, keepdim=True) / (2 ** (bits - 1) - 1)
    return torch.round(weight / step) * step


def _reference(linear: nn.Linear, x: torch.Tensor, smooth: torch.Tensor, outliers: torch.Tensor) -> torch.Tensor:
    """What `Int8Linear` computes, from the published algorithms in plain float64 torch: each
    smoothed row (outlier channels zeroed) quantized as fbgemm's row-wise 8-bit quantizer does
    (step = (max - min) / 255, code = round((x - min) * 255 / (max - min + 1e-8)), dequantized as
    code * step + min) times the int8 weights dequantized, plus the outlier channels in fp32
    and the bias."""
    weight = linear.weight.detach().double()
    smoothed = (x.double() / smooth.double()).index_fill(1, outliers, 0.0)
    low, high = smoothed.amin(1, keepdim=True), smoothed.amax(1, keepdim=True)
    codes = torch.round((smoothed - low) * (255.0 / (high - low + 1e-8)))
    dequantized = codes * ((high - low) / 255.0) + low
    int8_weight = _int8_weight((weight * smooth.double()).index_fill(1, outliers, 0.0))
    fp32 = x.double()[:, outliers] @ weight[:, outliers].t()
    return (dequantized @ int8_weight.t() + fp32 + linear.bias.detach().double()).float()


def test_rowwise_product_follows_the_reference_and_stays_batch_invariant():
    """Each row quantized on its own [min, max] and multiplied in int8 gives what the reference
    computes in float64 (to float rounding), stays within 2 % of the fp32 layer, and a row's
    result does not depend on the rows beside it (calls of 8 rows or more: the fp32 outlier
    product of 1-2 rows takes another BLAS path, and the encoder's batch-invariant calls have
    multiples of 8 rows)."""
    torch.manual_seed(1)
    linear, smooth, outliers = nn.Linear(96, 200), torch.rand(96) + 0.5, torch.tensor([7, 50])
    layer = Int8Linear(linear, "token", 8, smooth, outliers)
    x = _layer_inputs()
    with torch.no_grad():
        expected, got = linear(x), layer(x)
        reference = _reference(linear, x, smooth, outliers)
        assert float((got - reference).abs().max()) <= 1e-4 * float(reference.abs().max())
        assert float((got - expected).norm() / expected.norm()) < 0.02
        for start, stop in ((0, 8), (5, 13), (3, 20)):
            assert torch.equal(layer(x[start:stop]), got[start:stop]), (start, stop)


def test_rowwise_quantizing_keeps_one_sided_rows_fine_and_odd_rows_whole():
    """GELU outputs (min / max near -0.05) spend no level below their min: the activations lose
    less than 0.7x the error of a grid symmetric about zero (both measured against the product
    with the same int8 weights); an all-zero row gives the bias exactly, and a constant row
    (step 0) gives the product with the int8 weights."""
    torch.manual_seed(0)
    linear = nn.Linear(256, 64)
    x = torch.nn.functional.gelu(torch.randn(40, 256) * 3)
    x[0], x[1] = 0.0, 0.75
    with torch.no_grad():
        expected, got = linear(x), Int8Linear(linear, "token", 8)(x)
        weight = _int8_weight(linear.weight.double())
        rows = x.double().abs().amax(1, keepdim=True).clamp(min=1e-6)
        symmetric = (torch.round(x.double() / rows * 127) / 127 * rows) @ weight.t() + linear.bias.double()
        exact_weights = x.double() @ weight.t() + linear.bias.double()

    def error(y: torch.Tensor) -> float:
        return float((y[2:].double() - exact_weights[2:]).norm() / exact_weights[2:].norm())

    assert float((got - expected).norm() / expected.norm()) < 0.02
    assert error(got) < 0.7 * error(symmetric), (error(got), error(symmetric))
    assert torch.equal(got[0], linear.bias.detach())
    torch.testing.assert_close(got[1:2], exact_weights[1:2].float(), rtol=1e-5, atol=1e-5)


def test_overwrite_input_gives_the_same_bytes_and_says_what_it_changes():
    """`overwrite_input` zeroes the outlier channels in the caller's tensor instead of a copy:
    the same result to the byte; without it the caller's tensor is left alone."""
    torch.manual_seed(2)
    linear, picked = nn.Linear(96, 40), torch.tensor([3, 17, 60])
    x = _layer_inputs()
    copying, overwriting = Int8Linear(linear, "token", 8, outliers=picked), Int8Linear(linear, "token", 8, outliers=picked, overwrite_input=True)
    with torch.no_grad():
        before = x.clone()
        expected = copying(x)
        assert torch.equal(x, before)
        assert torch.equal(overwriting(x), expected)
    assert torch.equal(x[:, picked], torch.zeros(len(x), 3)) and torch.equal(x.index_fill(1, picked, 0.0), before.index_fill(1, picked, 0.0))


def test_quantized_model_overwrites_only_the_feed_forward_activation():
    """`quantize_linears` lets only output.dense overwrite its input (the feed-forward activation,
    which nothing else reads): a quantized model gives the bytes it gives with every layer copying,
    and its fp32 model's tensors do not change."""
    torch.manual_seed(3)
    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, max_position_embeddings=32)
    model = BertModel(config).eval()
    state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    ids = torch.randint(0, 50, (3, 12))
    ranges = {f"encoder.layer.{i}.{kind}": torch.rand(64 if kind == "output.dense" else 32) for i in range(2)
              for kind in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense")}
    options = dataclasses.replace(DEFAULT_INT8, outliers=8, outlier_kinds=LINEAR_KINDS, smooth=None)
    quantized = copy.deepcopy(model, {id(t): t for t in model.parameters()})  # shares the tensors, as prediction copies do
    quantize_linears(quantized, options, None, ranges)
    overwriting = {name for name, m in quantized.named_modules() if isinstance(m, Int8Linear) and m.overwrite_input}
    assert overwriting == {f"encoder.layer.{i}.output.dense" for i in range(2)}
    with torch.no_grad():
        got = quantized(ids).last_hidden_state
        for name in overwriting:
            quantized.get_submodule(name).overwrite_input = False
        assert torch.equal(quantized(ids).last_hidden_state, got)
        torch.testing.assert_close(got, model(ids).last_hidden_state, rtol=0.05, atol=0.05)
    assert all(torch.equal(tensor, state[name]) for name, tensor in model.state_dict().items())


#: Runs in a fresh process whose kernels are held to AVX2 (the libraries read these at load).
_AVX2_SCRIPT = """
import json, sys
import torch
from spacy_bert import BertModel, BertTokenizer
from spacy_bert.layers.precision.policy import DEFAULT_INT8, VNNI_INT8, prediction_model

torch.set_num_threads(1)
model = BertModel.from_pretrained(sys.argv[1]).eval()
tokenizer = BertTokenizer.from_pretrained(sys.argv[1])
texts = json.loads(sys.argv[2])
batch = dict(tokenizer(texts, padding=True, return_tensors="pt"))
batch = {key: batch[key] for key in ("input_ids", "attention_mask")}
keep = batch["attention_mask"].bool()
with torch.inference_mode():
    reference = model(**batch).last_hidden_state[keep]
    result = {}
    for name, options in (("DEFAULT_INT8", DEFAULT_INT8), ("VNNI_INT8", VNNI_INT8)):
        hidden = prediction_model(model, "int8", options, tokenizer=tokenizer)(**batch).last_hidden_state[keep]
        cos = torch.nn.functional.cosine_similarity(hidden, reference, dim=-1)
        result[name] = [float(cos.mean()), float(cos.min())]
print(json.dumps(result))
"""


def test_default_int8_holds_the_bound_on_avx2_kernels(minilm_dir):
    """An AVX2 CPU without VNNI, emulated: ATen, MKL, fbgemm and oneDNN held to AVX2 in a fresh
    process. There AVX2's int8 dot product adds pairs of products in int16 and saturates, so
    `VNNI_INT8`'s 8-bit weights fall under the 0.999 bound (measured 0.998: the sign that the
    kernels really run AVX2 code), while `DEFAULT_INT8` (what such a CPU gets) keeps it."""
    import json
    import os
    import subprocess
    import sys

    from tests.layers.test_precision import TEXTS

    env = dict(os.environ, ATEN_CPU_CAPABILITY="avx2", MKL_ENABLE_INSTRUCTIONS="AVX2", FBGEMM_ENABLE_INSTRUCTIONS="AVX2", ONEDNN_MAX_CPU_ISA="AVX2")
    done = subprocess.run([sys.executable, "-c", _AVX2_SCRIPT, str(minilm_dir), json.dumps(TEXTS)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    cosines = json.loads(done.stdout.strip().splitlines()[-1])
    default_mean, default_min = cosines["DEFAULT_INT8"]
    assert default_mean >= 0.999 and default_min >= 0.995, cosines
    assert cosines["VNNI_INT8"][0] < 0.999, cosines
    print("AVX2 kernels, cosine mean/min:", cosines)
