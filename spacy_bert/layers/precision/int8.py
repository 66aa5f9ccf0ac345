"""int8 prediction's layer: `Int8Linear` (an int8 product, fbgemm's or oneDNN's, with per-token
activations, SmoothQuant and fp32 outlier channels). Its options per CPU class are in
`layers/precision/int8_options.py`, the swap of a model's encoder Linears in
`layers/precision/quantize.py`, the ranges they need in `layers/precision/calibration.py`.

What `prediction_model(..., "int8")` builds (see `layers/precision/policy.py` for the setting):
the `Linear` layers of the encoder's transformer layers (query/key/value, attention output,
intermediate, output) become `Int8Linear`s, as `int8_options()` says for this CPU
(chosen with bench/int8_error.py; hidden states of all-MiniLM-L6-v2 keep cosine >= 0.999 to
fp32 where plain per-tensor dynamic int8 kept 0.92-0.99):

* activations quantized per token (each piece its own scale), not per batch;
* SmoothQuant (alpha 0.5) on the inputs of query/key/value, attention output and
  intermediate: input channel j is divided by s_j and the weight column multiplied by it,
  s_j = max|x_j|^0.5 / max|W_:j|^0.5, which moves the LayerNorm outputs' outlier channels
  into the (per-channel quantized) weights. Post-LayerNorm BERT reads the LayerNorm output
  again as the residual, so 1/s is one multiplication at run time, not folded;
* without VNNI (`DEFAULT_INT8`): the 16 input channels of each Linear with the largest range
  run in fp32 (a (pieces, 16) x (16, out) product beside the int8 one); output gets 8-bit
  weights, the others 7 (fbgemm's AVX2 kernel adds pairs of products in int16, see `Int8Linear`);
* with VNNI (`VNNI_INT8`): `vpdpbusd` accumulates in int32, so every weight gets 8 bits and
  fp32 outlier channels are kept on `output.dense` only (the last 8 of its inputs once
  `outliers_last` has arranged the feed-forward block), on oneDNN's product (which also runs
  AMX's int8 tiles).

The ranges (max |x_j| per input channel) are calibrated once per quantization by one fp32
pass over `CALIBRATION_TEXTS` (`layers/precision/calibration.py`). Embeddings, LayerNorms, the pooler
and every head stay fp32. CPU only.

Why torch's own fbgemm ops and not `torchao`: measured on this project's AVX2 CPU
(MiniLM-L6, 16 x 160 pieces, one thread) fbgemm's dynamic int8 linear runs the encoder ~1.3-1.5x
faster than fp32, while torchao 0.18's `Int8DynamicActivationInt8WeightConfig` without
`torch.compile` runs ~20x slower (its CPU path is a reference `_int_mm`), and importing it logs
library-loading messages. `torch.ao.quantization.quantize_dynamic` (same kernels) warns that
it is deprecated on every call; building the layer from `torch.ops.quantized.linear_prepack`/
`linear_dynamic` keeps the kernels without that module (only the quantized-tensor creation
warning, filtered narrowly at the one call that makes one). `Int8Linear` is the one place to
swap in torchao when its CPU path is fast without compilation.
"""
from __future__ import annotations

import warnings
from typing import Optional, Tuple

import torch
from torch import nn

__all__ = ["INT8_ENGINES", "Int8Linear", "int8_engine", "onednn_available"]

#: torch quantized engines with fast x86 dynamic int8 linear kernels.
INT8_ENGINES = ("x86", "fbgemm")
# torch 2.13 warns on every creation of a quantized tensor; the int8 weights need one per layer.
_QTENSOR_WARNING = r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor creation"


def int8_engine() -> Optional[str]:
    """The quantized engine int8 runs on ("x86" or "fbgemm"), or None in a build without one."""
    engines = torch.backends.quantized.supported_engines
    return next((engine for engine in INT8_ENGINES if engine in engines), None)


def onednn_available() -> bool:
    """Whether this torch build has oneDNN's int8 linear product (`Int8Options.kernel = "onednn"`)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qlinear_pointwise")


class Int8Linear(nn.Module):
    """A `Linear` for inference with int8 weights (symmetric, per output channel, 7 bits) and
    activations quantized per call by the quantized engine's dynamic linear kernel; output fp32.

    Why 7-bit weights and 8-bit activations: on CPUs without VNNI, fbgemm multiplies uint8
    activations by int8 weights with `vpmaddubsw`, which adds pairs of products in int16 and
    saturates when both are large (255 * 127 * 2 > 32767). torch.ao avoids it with 7-bit
    activations (`reduce_range`), which doubles the activation step, where the error is; we
    keep activations at 8 bits and give weights 7 (255 * 63 * 2 < 32767): per-channel weights
    lose little. Measured error of one 384x1536 layer on Gaussian inputs: 1.2 % (ours), 1.8 %
    (torch.ao's 7-bit activations), 13 % (8 and 8 bits: saturated).

    Per-token activations ("token", the default): fbgemm's dynamic kernel has one activation
    scale per call, set by the largest value of the whole batch, so a piece whose values are
    small (most of them: a few pieces such as [CLS]/[SEP] and a few channels carry the large
    values) gets a few quantization levels only. Dividing each row by its own largest |value|
    before the kernel and multiplying the output row by it afterwards gives every piece the
    full 8 bits: exactly per-token quantization, for two elementwise passes. The divided rows
    go to fbgemm's fixed-scale variant of the same kernel
    (`quantized::linear_with_input_q_dq_qweight_dq_output_fp32`), quantized on the grid of
    [low, 1], so the kernel neither scans the call for its range nor lets one row set another's
    step: every row is quantized the same way whatever rows share the call, and as the int8
    products sum exactly in int32, a piece's result does not depend on the other pieces or texts
    of the batch (`EncoderSettings.batch_invariant` relies on it). The bytes are those of the
    dynamic kernel given one extra row holding 1 and `low` (tests/layers/test_precision.py).

    `low` (-1 until `calibrate_low` sets it) lets one-sided inputs keep their resolution: a row
    is divided by max(its max, its min / low), so it fits [low, 1] exactly (nothing is ever
    clipped), and the GELU outputs that `output.dense` reads (most rows' min / max near -0.05;
    MiniLM's calibrated lows there are -1/4 to -1) get a step of (1 - low) / 255 of their max
    instead of 2 / 255.

    Args:
        linear (nn.Linear): The fp32 layer; its weight (out, in) and bias (out,) are read once.
        activations (str): "token" or "tensor" (see above).
        weight_bits (int): 7 (default) or 8.
        input_scale (Optional[Tensor]): (in,) SmoothQuant factors s: the kernel sees x / s and
            weights W * s (same product, flatter activations).
        outliers (Optional[Tensor]): (k,) input channels computed in fp32 beside the int8 product.
        kernel (str): "fbgemm" or "onednn" (per-token only; falls back to "fbgemm" in a torch
            build without oneDNN). Both quantize the rows on the same grid and sum the same
            int8 products exactly in int32; they differ in the last float bits of the output
            (the order of the dequantizing multiplications). oneDNN's product takes uint8 rows,
            made by `torch.quantize_per_tensor` (one vectorized pass) and read in place.
    """

    def __init__(
        self,
        linear: nn.Linear,
        activations: str = "token",
        weight_bits: int = 7,
        input_scale: Optional[torch.Tensor] = None,
        outliers: Optional[torch.Tensor] = None,
        kernel: str = "fbgemm",
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
        self.tail = 0
        if outliers is not None and len(outliers):
            outliers = outliers.long()
            # the fp32 path multiplies the unscaled x: unscaled weights
            self.outlier_weight = linear.weight.detach().float().cpu()[:, outliers].t().contiguous()  # (k, out)
            kept = self.in_features - len(outliers)
            if torch.equal(outliers, torch.arange(kept, self.in_features)):
                # the last k channels (`outliers_last` arranges it): read as views, no gather
                # or zeroed copy per call, and the int8 weights lose those columns
                self.tail = len(outliers)
                weight = weight[:, :kept]
                self.inv_scale = None if self.inv_scale is None else self.inv_scale[:kept]
            else:
                self.outliers = outliers
                weight = weight.index_fill(1, outliers, 0.0)
        wmax = float(2 ** (weight_bits - 1) - 1)
        scale = (weight.abs().amax(dim=1) / wmax).clamp(min=1e-12).double()  # (out,)
        zero_point = torch.zeros(self.out_features, dtype=torch.long)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_QTENSOR_WARNING, category=UserWarning)
            qweight = torch.quantize_per_channel(weight, scale, zero_point, 0, torch.qint8)
            # per token: the bias is added after the row scales are multiplied back
            self._packed = torch.ops.quantized.linear_prepack(qweight, None if self.per_token else bias)
        self.kernel = kernel if self.per_token and onednn_available() else "fbgemm"
        if self.kernel == "onednn":
            # the same int8 weights and scales, packed for oneDNN (the fbgemm pack is dropped)
            self._packed = torch.ops.onednn.qlinear_prepack(qweight.int_repr(), None)
            self._weight_scale = qweight.q_per_channel_scales().float()
            self._weight_zero = torch.zeros(self.out_features, dtype=torch.int32)
        self.bias = bias if self.per_token else None
        self.set_low(-1.0)

    def set_low(self, low: float) -> None:
        """Fix the kernel's range at [low, 1] (low: -1, -1/2, ..., a power of two, so that the
        scaling is exact; see the class docstring)."""
        self.low = float(low)
        # the grid of [low, 1] as fbgemm's dynamic kernel would choose it for a call whose values
        # span exactly [low, 1]: step (1 - low) / 255, zero point round(-low / step)
        self._step = (1.0 - self.low) / 255.0
        self._zero_point = int(round(-self.low / self._step))

    def _kernel_rows(self, x: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor], bool]:
        """x (n, in) -> what the int8 kernel multiplies (n, in) or (n, in - tail) (smoothed,
        outlier channels zeroed or left out), the outlier channels (n, k) fp32 (or None), and
        whether the first is a new tensor (x itself may be read again, e.g. as the residual)."""
        if self.tail:
            kept, tail = x[:, : -self.tail], x[:, -self.tail :]
            return (kept, tail, False) if self.inv_scale is None else (kept * self.inv_scale, tail, True)
        extra = None if self.outliers is None else x.index_select(1, self.outliers)
        if self.inv_scale is not None:
            x = x * self.inv_scale
        elif extra is not None:
            x = x.clone()
        if extra is not None:
            assert self.outliers is not None  # extra holds the outlier channels
            x.index_fill_(1, self.outliers, 0.0)
        return x, extra, extra is not None or self.inv_scale is not None

    def _product(self, rows: torch.Tensor) -> torch.Tensor:
        """rows (n, in) fp32 within [low, 1] -> (n, out) fp32: the int8 product on the grid of
        [low, 1] with the per-channel weight scales applied (no bias)."""
        if self.kernel == "fbgemm":
            return torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(rows, self._step, self._zero_point, self._packed)
        quantized = torch.quantize_per_tensor(rows, self._step, self._zero_point, torch.quint8)
        # its uint8 codes read in place: `int_repr()` copies them in a scalar loop (torch 2.13),
        # which costs more than the quantizing itself
        codes = torch.empty(0, dtype=torch.uint8).set_(quantized.untyped_storage(), 0, quantized.shape, quantized.stride())
        return torch.ops.onednn.qlinear_pointwise(
            codes, self._step, self._zero_point, self._packed, self._weight_scale, self._weight_zero, None, 1.0, 0, torch.float32, "none", [], ""
        )

    def low_ratio(self, x: torch.Tensor) -> float:
        """The smallest min / max of the rows of x (n, in) as the kernel would see them (-inf
        for a row without a positive value): what `calibrate_low` sets `low` from."""
        rows, _, _ = self._kernel_rows(x.float())
        top, bottom = rows.amax(dim=1), rows.amin(dim=1)
        ratio = torch.where(top > 0, bottom / top.clamp(min=1e-12), torch.full_like(top, float("-inf")))
        return float(ratio.min()) if len(ratio) else -1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in) float32 -> (..., out) float32."""
        x = x.float()
        lead = x.shape[:-1]
        x, extra, owned = self._kernel_rows(x.reshape(-1, self.in_features))
        if self.per_token:
            # (n, 1): each row's divisor max(max, min / low), from two reading passes (no
            # temporary; aminmax(dim) is ~10x slower in torch 2.13)
            rows = torch.maximum(x.amax(dim=1, keepdim=True), x.amin(dim=1, keepdim=True).mul_(1.0 / self.low)).clamp_(min=1e-6)
            # in place where `_kernel_rows` made a new tensor (an allocation saved per call)
            kernel_input = x.div_(rows) if owned else torch.div(x, rows)
            out = self._product(kernel_input)
            # in place (out=out): a second (n, out) tensor costs more than the arithmetic
            out = out.mul_(rows) if self.bias is None else torch.addcmul(self.bias, out, rows, out=out)
        else:
            # reduce_range=False: all 8 bits for activations (saturation is excluded by the 7-bit
            # weights). With torch.ao's 7-bit activations MiniLM's hidden states lost 3.5x more
            # cosine similarity to fp32 in our measurement (mean 0.964 against 0.990).
            out = torch.ops.quantized.linear_dynamic(x.contiguous(), self._packed, False)
        if extra is not None:
            assert self.outlier_weight is not None  # set with the outlier channels
            out.addmm_(extra, self.outlier_weight)
        return out.view(*lead, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, dtype=int8"
