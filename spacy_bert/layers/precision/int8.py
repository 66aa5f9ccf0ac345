"""int8 prediction's layer: `Int8Linear` (oneDNN's u8 x s8 product on activations quantized per
token, with SmoothQuant and fp32 outlier channels). Its options per CPU class are in
`layers/precision/int8_options.py`, the swap of a model's encoder Linears in
`layers/precision/quantize.py`, the ranges they need in `layers/precision/calibration.py`.

What `prediction_model(..., "int8")` builds (see `layers/precision/policy.py` for the setting):
the `Linear` layers of the encoder's transformer layers (query/key/value, attention output,
intermediate, output) become `Int8Linear`s, as `int8_options()` says for this CPU
(chosen with bench/int8_levers.py; hidden states of all-MiniLM-L6-v2 keep cosine >= 0.999 to
fp32 where plain per-tensor dynamic int8 keeps 0.92):

* activations quantized per token (each piece on its own [min, max]), not per batch;
* SmoothQuant (alpha 0.5) on the inputs of query/key/value and intermediate (the LayerNorm
  outputs): input channel j is divided by s_j and the weight column multiplied by it,
  s_j = max|x_j|^0.5 / max|W_:j|^0.5, which moves the LayerNorm outputs' outlier channels
  into the (per-channel quantized) weights. Post-LayerNorm BERT reads the LayerNorm output
  again as the residual, so 1/s is one multiplication at run time, not folded;
* without VNNI (`DEFAULT_INT8`): 7-bit weights (8 on `output.dense`), and the 16 input channels
  of query/key/value, intermediate and output with the largest range run in fp32 (a
  (pieces, 16) x (16, out) product beside the int8 one);
* with VNNI (`VNNI_INT8`): `vpdpbusd` accumulates in int32, so every weight gets 8 bits, and
  fp32 outlier channels are kept on `output.dense` only (8, zeroed in place in its input: the
  feed-forward activation, which nothing else reads).

The ranges (max |x_j| per input channel) are calibrated once per quantization by one fp32
pass over `CALIBRATION_TEXTS` (`layers/precision/calibration.py`). Embeddings, LayerNorms, the pooler
and every head stay fp32. CPU only.

Why torch's own oneDNN and fbgemm ops and not `torchao`: torchao 0.18's
`Int8DynamicActivationInt8WeightConfig` without `torch.compile` ran MiniLM ~20x slower than
fp32 on this project's CPUs (its CPU path is a reference `_int_mm`), and importing it logs
library-loading messages. `torch.ao.quantization.quantize_dynamic` (fbgemm's kernels, one
activation scale per call) warns that it is deprecated on every call; building the layer from
`torch.ops` keeps the kernels without that module (only the quantized-tensor creation warning,
filtered narrowly at the one call that makes one). `Int8Linear` is the one place to swap in
torchao when its CPU path is fast without compilation.
"""
from __future__ import annotations

import warnings
from typing import Optional, Tuple

import torch
from torch import nn

__all__ = ["INT8_ENGINES", "Int8Linear", "int8_engine"]

#: torch quantized engines with fast x86 dynamic int8 linear kernels.
INT8_ENGINES = ("x86", "fbgemm")
# torch 2.13 warns on every creation of a quantized tensor; the int8 weights need one per layer.
_QTENSOR_WARNING = r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor creation"


def int8_engine() -> Optional[str]:
    """The quantized engine int8 runs on ("x86" or "fbgemm"), or None in a build without one or
    without the two ops per-token int8 needs: oneDNN's u8 x s8 product
    (`onednn::qlinear_pointwise`) and fbgemm's row-wise quantizer
    (`quantized::embedding_bag_byte_prepack`)."""
    engines = torch.backends.quantized.supported_engines
    engine = next((engine for engine in INT8_ENGINES if engine in engines), None)
    return engine if engine is not None and _has_int8_ops() else None


def _has_int8_ops() -> bool:
    return (
        torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.onednn, "qlinear_pointwise")
        and hasattr(torch.ops.quantized, "embedding_bag_byte_prepack")
    )


class Int8Linear(nn.Module):
    """A `Linear` for inference with int8 weights (symmetric, per output channel) and
    activations quantized per call; output fp32.

    Per-token activations ("token", the default): each row (piece) is quantized to uint8 on its
    own [min, max] by fbgemm's row-wise quantizer (`quantized::embedding_bag_byte_prepack`, one
    vectorized pass that writes the codes and appends the row's step and min as two float32)
    and multiplied by the int8 weights in oneDNN's u8 x s8 product (VNNI, AMX int8 tiles where
    the CPU has them), summed exactly in int32; then
    out = step * product + min * (each output's dequantized weights, summed) + bias.
    A piece with small values (most of them: a few pieces such as [CLS]/[SEP] and a few channels
    carry the large values) keeps all 256 levels, where one scale per call (plain dynamic
    quantization, "tensor") gives it a few; a one-sided row (the GELU outputs `output.dense`
    reads) spends no level below its min. A row's result does not depend on the other rows of
    the call: every step is per row or exact (`EncoderSettings.batch_invariant` relies on it;
    tests/layers/test_int8_kernels.py).

    Why 7-bit weights without VNNI: AVX2 multiplies uint8 activations by int8 weights with
    `vpmaddubsw`, which adds pairs of products in int16 and saturates when both are large
    (255 * 127 * 2 > 32767); with 7-bit weights it cannot (255 * 63 * 2 < 32767), and
    per-channel weights lose little. VNNI's `vpdpbusd` accumulates in int32: 8 bits.

    Args:
        linear (nn.Linear): The fp32 layer; its weight (out, in) and bias (out,) are read once.
        activations (str): "token" or "tensor" (fbgemm's dynamic kernel, one scale per call:
            plain dynamic quantization's arithmetic, for benchmarks).
        weight_bits (int): 7 (default) or 8.
        input_scale (Optional[Tensor]): (in,) SmoothQuant factors s: the kernel sees x / s and
            weights W * s (same product, flatter activations).
        outliers (Optional[Tensor]): (k,) input channels computed in fp32 beside the int8 product.
        overwrite_input (bool): The input is read by nothing else (the feed-forward activation
            that `output.dense` reads): the outlier channels are zeroed in it in place, not in a
            copy. Otherwise the caller's tensor is never changed (it may be the residual).
    """

    def __init__(
        self,
        linear: nn.Linear,
        activations: str = "token",
        weight_bits: int = 7,
        input_scale: Optional[torch.Tensor] = None,
        outliers: Optional[torch.Tensor] = None,
        overwrite_input: bool = False,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.per_token = activations == "token"
        weight = linear.weight.detach().float().cpu()
        bias = None if linear.bias is None else linear.bias.detach().float().cpu()
        self.inv_scale = None
        if input_scale is not None:
            weight = weight * input_scale[None, :]
            self.inv_scale = (1.0 / input_scale).float()
        self.outliers: Optional[torch.Tensor] = None
        self.outlier_weight: Optional[torch.Tensor] = None
        self.overwrite_input = overwrite_input
        if outliers is not None and len(outliers):
            self.outliers = outliers.long()
            # the fp32 path multiplies the unscaled x: unscaled weights
            self.outlier_weight = linear.weight.detach().float().cpu()[:, self.outliers].t().contiguous()  # (k, out)
            weight = weight.index_fill(1, self.outliers, 0.0)
        wmax = float(2 ** (weight_bits - 1) - 1)
        scale = (weight.abs().amax(dim=1) / wmax).clamp(min=1e-12).double()  # (out,)
        zero_point = torch.zeros(self.out_features, dtype=torch.long)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_QTENSOR_WARNING, category=UserWarning)
            qweight = torch.quantize_per_channel(weight, scale, zero_point, 0, torch.qint8)
        # per token the bias is added after the rows' steps are multiplied back; per call fbgemm's
        # kernel adds it
        self.bias: Optional[torch.Tensor] = bias if self.per_token else None
        if self.per_token:
            self._packed = torch.ops.onednn.qlinear_prepack(qweight.int_repr(), None)
            self._weight_scale = qweight.q_per_channel_scales().float()
            self._weight_zero = torch.zeros(self.out_features, dtype=torch.int32)
            # (out,): each output's int8 weights dequantized and summed, for the rows' min
            self._weight_sums = (qweight.int_repr().double().sum(dim=1) * qweight.q_per_channel_scales()).float()
        else:
            self._packed = torch.ops.quantized.linear_prepack(qweight, bias)

    def _kernel_rows(self, x: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """x (n, in) -> what the int8 kernel multiplies (n, in) (smoothed, outlier channels
        zeroed: in a new tensor unless `overwrite_input`), and the outlier channels (n, k) fp32
        (or None)."""
        extra = None if self.outliers is None else x.index_select(1, self.outliers)
        if self.inv_scale is not None:
            x = x * self.inv_scale
        elif extra is not None and not self.overwrite_input:
            x = x.clone()
        if extra is not None:
            assert self.outliers is not None  # extra holds the outlier channels
            x.index_fill_(1, self.outliers, 0.0)
        return x, extra

    def _rowwise_product(self, rows: torch.Tensor) -> torch.Tensor:
        """rows (n, in) fp32 -> (n, out) fp32 with the bias: each row quantized on its own
        [min, max], oneDNN's u8 x s8 product, the rows' steps and mins put back (class docstring)."""
        packed = torch.ops.quantized.embedding_bag_byte_prepack(rows.contiguous())  # (n, in + 8) uint8
        width = packed.shape[1] - 8
        affine = packed[:, width:].contiguous().view(torch.float32)  # (n, 2): step, min
        # x scale 1 and zero point 0: the product is the exact int32 sum times the weight scales
        out = torch.ops.onednn.qlinear_pointwise(
            packed[:, :width], 1.0, 0, self._packed, self._weight_scale, self._weight_zero, None, 1.0, 0, torch.float32, "none", [], ""
        )
        # in place (out=out): a second (n, out) tensor costs more than the arithmetic
        out = out.mul_(affine[:, :1]) if self.bias is None else torch.addcmul(self.bias, out, affine[:, :1], out=out)
        return out.addcmul_(affine[:, 1:], self._weight_sums)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in) float32 -> (..., out) float32."""
        x = x.float()
        lead = x.shape[:-1]
        rows, extra = self._kernel_rows(x.reshape(-1, self.in_features))
        if self.per_token:
            out = self._rowwise_product(rows)
        else:
            # reduce_range=False: all 8 bits for activations (7-bit weights exclude saturation)
            out = torch.ops.quantized.linear_dynamic(rows.contiguous(), self._packed, False)
        if extra is not None:
            assert self.outlier_weight is not None  # set with the outlier channels
            out.addmm_(extra, self.outlier_weight)
        return out.view(*lead, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, dtype=int8"
