"""`Int8Linear`'s two int8 products and the feed-forward arrangement that lets it read its fp32
outlier channels as a view (`layers/precision/int8.py`, `layers/precision/quantize.py`)."""
import copy
import dataclasses

import pytest
import torch
from torch import nn

from spacy_bert import BertConfig, BertModel
from spacy_bert.layers.precision.int8 import Int8Linear, onednn_available
from spacy_bert.layers.precision.int8_options import VNNI_INT8
from spacy_bert.layers.precision.quantize import outliers_last, quantize_linears

pytestmark = pytest.mark.usefixtures("one_torch_thread")
needs_onednn = pytest.mark.skipif(not onednn_available(), reason="this torch build has no oneDNN int8 linear")


def _layer_inputs(rows: int = 37, width: int = 96) -> torch.Tensor:
    torch.manual_seed(0)
    x = torch.nn.functional.gelu(torch.randn(rows, width) * 3)
    x[:, :4] = torch.randn(rows, 4)
    x[2] *= 25.0  # a large row, as [CLS] is
    return x


@needs_onednn
@pytest.mark.parametrize("low", [-1.0, -1 / 4])
def test_onednn_and_fbgemm_products_agree_and_stay_batch_invariant(low):
    """Same int8 weights, same grid, exact int32 sums: the two kernels differ only in the last
    float bits; and with either, a row's result does not depend on the rows beside it (calls of
    8 rows or more: the fp32 outlier product of 1-2 rows takes another BLAS path, and the
    encoder's batch-invariant calls have multiples of 8 rows)."""
    torch.manual_seed(1)
    linear, smooth = nn.Linear(96, 200), torch.rand(96) + 0.5
    layers = {kernel: Int8Linear(linear, "token", 8, smooth, torch.tensor([7, 50]), kernel=kernel) for kernel in ("fbgemm", "onednn")}
    x = _layer_inputs()
    with torch.no_grad():
        expected = linear(x)
        for layer in layers.values():
            layer.set_low(low)
        out = {kernel: layer(x) for kernel, layer in layers.items()}
        assert layers["onednn"].kernel == "onednn" and layers["fbgemm"].kernel == "fbgemm"
        assert float((out["onednn"] - out["fbgemm"]).abs().max()) <= 1e-5 * float(out["fbgemm"].abs().max())
        assert float((out["onednn"] - expected).norm() / expected.norm()) < 0.02
        for kernel, layer in layers.items():
            for start, stop in ((0, 8), (5, 13), (3, 20)):
                assert torch.equal(layer(x[start:stop]), out[kernel][start:stop]), (kernel, start, stop)


def test_outlier_channels_as_a_tail_give_the_gathered_result():
    """An `Int8Linear` whose outlier channels are its last inputs (read as views) gives the
    bytes of the same layer with those channels gathered and zeroed, on permuted weights."""
    torch.manual_seed(2)
    linear = nn.Linear(96, 40)
    picked = torch.tensor([3, 17, 60])
    order = torch.cat([torch.tensor([i for i in range(96) if i not in picked.tolist()]), picked])
    permuted = nn.Linear(96, 40)
    with torch.no_grad():
        permuted.weight.copy_(linear.weight[:, order])
        permuted.bias.copy_(linear.bias)
    x = _layer_inputs()
    gathered = Int8Linear(linear, "token", 8, outliers=picked)
    tail = Int8Linear(permuted, "token", 8, outliers=torch.arange(93, 96))
    assert tail.tail == 3 and gathered.tail == 0
    with torch.no_grad():
        before = x.clone()
        assert torch.equal(tail(x[:, order]), gathered(x))
        assert torch.equal(x, before)  # the caller's tensor is left alone


def test_outliers_last_changes_no_product_and_leaves_the_model_alone():
    """`quantize_linears` arranges each feed-forward block so that output.dense's outlier
    channels come last: fp32 outputs are those of the model, the model's own tensors do not
    change, and every output.dense reads its outlier channels as a tail."""
    torch.manual_seed(3)
    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, max_position_embeddings=32)
    model = BertModel(config).eval()
    state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    ids = torch.randint(0, 50, (3, 12))
    ranges = {f"encoder.layer.{i}.output.dense": torch.rand(64) for i in range(2)}
    arranged = copy.deepcopy(model, {id(t): t for t in model.parameters()})  # shares the tensors, as prediction copies do
    ranges_after, _ = outliers_last(arranged, VNNI_INT8, ranges, None)
    with torch.no_grad():
        torch.testing.assert_close(arranged(ids).last_hidden_state, model(ids).last_hidden_state, rtol=1e-5, atol=1e-6)
    assert all(torch.equal(tensor, state[name]) for name, tensor in model.state_dict().items())
    for path, values in ranges.items():
        assert sorted(ranges_after[path].tolist()) == sorted(values.tolist())
        assert set(ranges_after[path][-8:].tolist()) == set(values.topk(8).values.tolist())
    options = dataclasses.replace(VNNI_INT8, kernel="fbgemm")
    quantized = copy.deepcopy(model, {id(t): t for t in model.parameters()})
    quantize_linears(quantized, options, None, ranges)
    tails = {name: m.tail for name, m in quantized.named_modules() if isinstance(m, Int8Linear) and name.endswith("output.dense") and "attention" not in name}
    assert tails == {f"encoder.layer.{i}.output.dense": 8 for i in range(2)}
    assert all(torch.equal(tensor, state[name]) for name, tensor in model.state_dict().items())
