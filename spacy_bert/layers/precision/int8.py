"""int8 prediction: `Int8Linear` (fbgemm's dynamic int8 kernel with per-token activations,
SmoothQuant and fp32 outlier channels), its options per CPU class, and the swap of a model's
encoder Linears (`quantize_linears`; the ranges it needs come from `layers/precision/calibration.py`).

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
* with VNNI (`VNNI_INT8`): `vpdpbusd` accumulates in int32, so every weight gets 8 bits and the
  outlier channels are not needed for the bound (they cost ~20 % of the int8 time).

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
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Tuple, cast

import torch
from torch import nn

from ...errors import Warnings
from .calibration import smooth_factor
from .cpu import cpu_flags
from .qkv import FusedQKV, QKVPart, fused_linear

__all__ = [
    "DEFAULT_INT8",
    "INT8_ENGINES",
    "LINEAR_KINDS",
    "VNNI_FLAGS",
    "VNNI_INT8",
    "Int8Linear",
    "Int8Options",
    "int8_engine",
    "int8_options",
    "quantize_linears",
]

#: torch quantized engines with fast x86 dynamic int8 linear kernels.
INT8_ENGINES = ("x86", "fbgemm")
#: CPU flags of int8 dot products that accumulate in int32 (no int16 pair saturation).
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
# torch 2.13 warns on every creation of a quantized tensor; the int8 weights need one per layer.
_QTENSOR_WARNING = r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor creation"


def int8_engine() -> Optional[str]:
    """The quantized engine int8 runs on ("x86" or "fbgemm"), or None in a build without one."""
    engines = torch.backends.quantized.supported_engines
    return next((engine for engine in INT8_ENGINES if engine in engines), None)


#: The Linear kinds of a transformer layer, as `Int8Options.fp32` names them.
LINEAR_KINDS = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")


@dataclass(frozen=True)
class Int8Options:
    """How `prediction_model(..., "int8")` quantizes (see `bench/int8_error.py` for what each costs).

    Args:
        activations (str): "token": one scale per row (piece) of the input; "tensor": one scale
            per call (fbgemm's own dynamic quantization).
        weight_bits (int): 7 or 8; symmetric per output channel (8 can saturate without VNNI).
        smooth (Optional[float]): SmoothQuant alpha, or None for no smoothing.
        fp32 (Tuple[str, ...]): `LINEAR_KINDS` kept in fp32.
        wide (Tuple[str, ...]): `LINEAR_KINDS` given 8-bit weights whatever `weight_bits` says.
        smooth_kinds (Tuple[str, ...]): the kinds `smooth` applies to.
        outliers (int): input channels (largest calibrated range) of each Linear kept in fp32.
        outlier_kinds (Tuple[str, ...]): the kinds `outliers` applies to.
        fuse_qkv (bool): query, key and value of a self-attention block as one product over
            the concatenated weights (`layers/precision/qkv.py`): one pass over the input instead of three.
    """

    activations: str = "token"
    weight_bits: int = 7
    smooth: Optional[float] = None
    fp32: Tuple[str, ...] = ()
    wide: Tuple[str, ...] = ()
    smooth_kinds: Tuple[str, ...] = LINEAR_KINDS
    outliers: int = 0
    outlier_kinds: Tuple[str, ...] = ()
    fuse_qkv: bool = False

    @property
    def needs_ranges(self) -> bool:
        """Whether quantizing needs calibrated input ranges (smoothing or fp32 outlier channels)."""
        return self.smooth is not None or bool(self.outliers and self.outlier_kinds)

    def describe(self) -> str:
        parts = [f"{self.activations} activations", f"{self.weight_bits}-bit weights"]
        if self.smooth is not None:
            parts.append(f"smooth {self.smooth}")
        if self.smooth is not None and self.smooth_kinds != LINEAR_KINDS:
            parts[-1] += " on " + "/".join(self.smooth_kinds)
        if self.outliers:
            parts.append(f"{self.outliers} outlier channels fp32 on " + "/".join(self.outlier_kinds))
        if self.wide:
            parts.append("8-bit weights on " + "/".join(self.wide))
        if self.fp32:
            parts.append("fp32 " + "/".join(self.fp32))
        if self.fuse_qkv:
            parts.append("fused query/key/value")
        return ", ".join(parts)


#: Chosen with bench/int8_error.py on MiniLM (hidden-state cosine to fp32 0.9992-0.9993 mean on
#: SST-2, WNUT-17 and the tests' sentences; 8 outlier channels on intermediate/output only: 0.9990).
#: Query/key/value fused (one smoothing, outlier gather and kernel call for the three): cosine
#: 0.9992 either way, encoder 1.90x -> 2.09x fp32 (bench/int8_levers.py, AMD EPYC, 7-bit weights).
DEFAULT_INT8 = Int8Options(
    activations="token",
    weight_bits=7,
    smooth=0.5,
    smooth_kinds=("query", "key", "value", "attention.output.dense", "intermediate.dense"),
    wide=("output.dense",),
    outliers=16,
    outlier_kinds=LINEAR_KINDS,
    fuse_qkv=True,
)

#: int8 on a CPU whose int8 dot products accumulate in int32 (`VNNI_FLAGS`): no int16 pair
#: saturation, so every weight gets 8 bits, and fp32 outlier channels only for output.dense
#: (8 of its 1536 inputs: their gather, zeroing and extra product on every Linear cost ~20 % of
#: the int8 time). Measured (bench/int8_error.py data, docs/precision.md) on AMD EPYC (avx512_vnni,
#: 48 WNUT-17 tweets, 1 thread): hidden-state cosine mean 0.9993 (min 0.9974), encoder 2.24x
#: fp32, where `DEFAULT_INT8` gave 0.9992 at 1.9-2.0x and plain `quantize_dynamic` 0.915 at 2.6x.
VNNI_INT8 = Int8Options(
    activations="token",
    weight_bits=8,
    smooth=0.5,
    smooth_kinds=("query", "key", "value", "attention.output.dense", "intermediate.dense"),
    outliers=8,
    outlier_kinds=("output.dense",),
)


def int8_options(flags: Optional[FrozenSet[str]] = None) -> Int8Options:
    """The int8 options for a CPU with `flags` (default: this CPU's): `VNNI_INT8` with VNNI,
    else `DEFAULT_INT8`."""
    flags = cpu_flags() if flags is None else flags
    return VNNI_INT8 if flags & VNNI_FLAGS else DEFAULT_INT8



def linear_kind(name: str) -> str:
    """The `LINEAR_KINDS` entry of the Linear at module path `name` ("layer.3.output.dense" -> "output.dense")."""
    for kind in ("attention.output.dense", "intermediate.dense", "output.dense"):
        if name.endswith(kind):
            return kind
    return name.rsplit(".", 1)[-1]


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
    of the batch (`EncoderSettings.batch_invariant` relies on it). Same bytes as the dynamic
    kernel given an extra row holding 1 and `low` (what this class did before), 3-10 % faster
    per call (`python -m bench.int8_layer`).

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
    """

    def __init__(
        self,
        linear: nn.Linear,
        activations: str = "token",
        weight_bits: int = 7,
        input_scale: Optional[torch.Tensor] = None,
        outliers: Optional[torch.Tensor] = None,
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
            # per token: the bias is added after the row scales are multiplied back
            self._packed = torch.ops.quantized.linear_prepack(qweight, None if self.per_token else bias)
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

    def _kernel_rows(self, x: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """x (n, in) -> what the int8 kernel multiplies (smoothed, outlier channels zeroed; a new
        tensor where it differs from x, which may be read again, e.g. as the residual) and the
        outlier channels (n, k) fp32 (or None)."""
        extra = None if self.outliers is None else x.index_select(1, self.outliers)
        if self.inv_scale is not None:
            x = x * self.inv_scale
        elif extra is not None:
            x = x.clone()
        if extra is not None:
            assert self.outliers is not None  # extra holds the outlier channels
            x.index_fill_(1, self.outliers, 0.0)
        return x, extra

    def low_ratio(self, x: torch.Tensor) -> float:
        """The smallest min / max of the rows of x (n, in) as the kernel would see them (-inf
        for a row without a positive value): what `calibrate_low` sets `low` from."""
        rows, _ = self._kernel_rows(x.float())
        top, bottom = rows.amax(dim=1), rows.amin(dim=1)
        ratio = torch.where(top > 0, bottom / top.clamp(min=1e-12), torch.full_like(top, float("-inf")))
        return float(ratio.min()) if len(ratio) else -1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in) float32 -> (..., out) float32."""
        x = x.float()
        lead = x.shape[:-1]
        given = x.reshape(-1, self.in_features)
        x, extra = self._kernel_rows(given)
        if self.per_token:
            # (n, 1): each row's divisor max(max, min / low), from two reading passes (no
            # temporary; aminmax(dim) is ~10x slower in torch 2.13)
            rows = torch.maximum(x.amax(dim=1, keepdim=True), x.amin(dim=1, keepdim=True).mul_(1.0 / self.low)).clamp_(min=1e-6)
            # in place where `_kernel_rows` made a new tensor (an allocation saved per call)
            kernel_input = x.div_(rows) if x is not given else torch.div(x, rows)
            out = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(kernel_input, self._step, self._zero_point, self._packed)
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


#: The end of W750: whether any Linear of the model still runs int8.
_REST = {
    True: "The other Linears run int8; nothing to fix.",
    False: "No Linear is left to quantize, so the model runs float32 throughout: set precision 'float32' (as fast here).",
}


def _too_narrow(linear: nn.Module, kind: str, options: Int8Options) -> bool:
    """Whether `linear` has no more input channels than the outlier channels `options` keeps in
    fp32 for its kind: all of them would run fp32, and none would be left for the int8 kernel."""
    return bool(options.outliers) and kind in options.outlier_kinds and int(cast(nn.Linear, linear).in_features) <= options.outliers


def quantize_linears(
    module: nn.Module,
    options: Int8Options = DEFAULT_INT8,
    scales: Optional[Dict[str, torch.Tensor]] = None,
    ranges: Optional[Dict[str, torch.Tensor]] = None,
    name: str = "bert",
) -> int:
    """Replace every `nn.Linear` under `module` whose kind is not in `options.fp32` by an
    `Int8Linear`; returns how many. scales: SmoothQuant factors by module path.

    A Linear with no more input channels than `options.outliers` (a model with hidden_size 8
    has 8; the default keeps 16 outlier channels fp32) stays an fp32 `nn.Linear`, with W750
    naming them: every channel would be an outlier, so fp32 is what int8 would compute anyway.
    """
    count = _fuse_qkv(module, options, ranges) if options.fuse_qkv else 0
    narrow: List[str] = []
    for parent_name, parent in list(module.named_modules()):
        for child_name, child in list(parent.named_children()):
            path = f"{parent_name}.{child_name}" if parent_name else child_name
            kind = linear_kind(path)
            if type(child) is nn.Linear and kind not in options.fp32 and _too_narrow(child, kind, options):
                narrow.append(path)
            elif type(child) is nn.Linear and kind not in options.fp32:
                scale = None if scales is None or kind not in options.smooth_kinds else scales.get(path)
                bits = 8 if kind in options.wide else options.weight_bits
                picked = _outlier_channels(options, kind, ranges, path)
                setattr(parent, child_name, Int8Linear(child, options.activations, bits, scale, picked))
                count += 1
    if narrow:
        widths = sorted({int(cast(nn.Linear, module.get_submodule(path)).in_features) for path in narrow})
        shown = ", ".join(narrow[:6]) + (f", ... ({len(narrow) - 6} more)" if len(narrow) > 6 else "")
        warnings.warn(
            Warnings.W750.format(name=name, count=len(narrow), paths=shown, width="/".join(map(str, widths)), outliers=options.outliers, rest=_REST[count > 0]),
            UserWarning,
            stacklevel=4,
        )
    return count




def _outlier_channels(options: Int8Options, kind: str, ranges: Optional[Dict[str, torch.Tensor]], path: str) -> Optional[torch.Tensor]:
    """The `options.outliers` input channels of the Linear at `path` with the largest calibrated
    range (sorted), or None where its kind keeps none."""
    if options.outliers and kind in options.outlier_kinds and ranges is not None and path in ranges:
        return ranges[path].topk(options.outliers).indices.sort().values
    return None


def _fuse_qkv(module: nn.Module, options: Int8Options, ranges: Optional[Dict[str, torch.Tensor]]) -> int:
    """Give every self-attention block under `module` whose query, key and value are plain
    `nn.Linear`s treated alike by `options` one fused `Int8Linear` (`layers/precision/qkv.py`); returns how
    many Linears it replaced. Smoothing factors come from the concatenated weights and the
    shared input range, so one scaled input serves all three."""
    kinds = ("query", "key", "value")
    if any(kind in options.fp32 for kind in kinds):
        return 0
    alike = [len({kind in group for kind in kinds}) == 1 for group in (options.smooth_kinds, options.wide, options.outlier_kinds)]
    if not all(alike):
        return 0
    count = 0
    for path, block in list(module.named_modules()):
        found = [getattr(block, kind, None) for kind in kinds]
        if getattr(block, "is_cross_attention", True) or not all(type(part) is nn.Linear for part in found):
            continue
        parts = [cast(nn.Linear, part) for part in found]
        if _too_narrow(parts[0], "query", options):
            continue  # left to quantize_linears, which names it in W750
        linear = fused_linear(parts[0], parts[1], parts[2])
        query_path = f"{path}.query" if path else "query"
        scale = None
        if options.smooth is not None and "query" in options.smooth_kinds and ranges is not None and query_path in ranges:
            scale = smooth_factor(ranges[query_path], linear.weight, options.smooth)
        bits = 8 if "query" in options.wide else options.weight_bits
        fused = FusedQKV(Int8Linear(linear, options.activations, bits, scale, _outlier_channels(options, "query", ranges, query_path)), parts[0].out_features)
        for index, kind in enumerate(kinds):
            setattr(block, kind, QKVPart(fused, index))
        count += 3
    return count
