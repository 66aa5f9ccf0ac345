"""Inference precision: which arithmetic prediction runs in, and the model copy that runs it.

The `precision` setting of the components ("float32" | "int8" | "bfloat16" | "float16" |
"auto") applies to prediction only. The shim keeps its fp32 model for training, saving and
export; `prediction_model` derives from it a copy that runs in the resolved precision:

- "float32": the model itself (identical to Hugging Face).
- "int8": the `Linear` layers of the encoder's transformer layers (query/key/value, attention
  output, intermediate, output) become `Int8Linear`s computed by fbgemm's dynamic int8 kernel,
  as `DEFAULT_INT8` says (chosen with bench/int8_error.py; hidden states of all-MiniLM-L6-v2
  keep cosine 0.9992 to fp32 where plain per-tensor dynamic int8 kept 0.988):
  * activations quantized per token (each piece its own scale), not per batch;
  * SmoothQuant (alpha 0.5) on the inputs of query/key/value, attention output and
    intermediate: input channel j is divided by s_j and the weight column multiplied by it,
    s_j = max|x_j|^0.5 / max|W_:j|^0.5, which moves the LayerNorm outputs' outlier channels
    into the (per-channel quantized) weights. Post-LayerNorm BERT reads the LayerNorm output
    again as the residual, so 1/s is one multiplication at run time, not folded;
  * the 16 input channels of each Linear with the largest range run in fp32 (a (pieces, 16)
    x (16, out) product beside the int8 one); output (whose GELU input has no
    large negative values, so the kernel's int16 pairs rarely saturate) gets 8-bit weights,
    the others 7 (see `Int8Linear`).
  The ranges (max |x_j| per input channel) are calibrated once per quantization by one fp32
  pass over `CALIBRATION_TEXTS` (8 built-in sentences; fixed pseudo-random ids when there is no
  tokenizer): deterministic, no data file, ~0.1 s of the ~0.5 s the int8 copy takes to build.
  Embeddings, LayerNorms, the pooler and every head stay fp32. CPU only.
- "bfloat16" / "float16": the encoder (`BertModel`: embeddings, layers, pooler) is cast;
  its outputs are cast back to fp32, so heads (torch or thinc) and pooling stay fp32.

The copy shares every tensor it does not convert with the fp32 model (no second copy of the
embeddings), and is rebuilt when the fp32 weights change (training steps, `use_params`,
`load_state_dict`: the shim's `WeightsVersion` counter, see `BertShim.prediction_model`).
So a quantized model is never trained: training runs the fp32 model, and the next prediction quantizes the updated weights.

Why torch's own fbgemm ops and not `torchao`: measured on this project's AVX2 CPU
(MiniLM-L6, 16 x 160 pieces, one thread) fbgemm's dynamic int8 linear runs the encoder ~1.3-1.5x
faster than fp32, while torchao 0.18's `Int8DynamicActivationInt8WeightConfig` without
`torch.compile` runs ~20x slower (its CPU path is a reference `_int_mm`), and importing it logs
library-loading messages. `torch.ao.quantization.quantize_dynamic` (same kernels) warns that
it is deprecated on every call; building the layer from `torch.ops.quantized.linear_prepack`/
`linear_dynamic` keeps the kernels without that module (only the quantized-tensor creation
warning, filtered narrowly at the one call that makes one). `Int8Linear` is the one place to
swap in torchao when its CPU path is fast without compilation.

`auto` decides from CPU flags (read once from /proc/cpuinfo; no calibration run):
native bf16 (`avx512_bf16` or `amx_bf16`) -> "bfloat16"; else an x86 CPU with AVX2 or AVX-512
and a torch build with the fbgemm/x86 engine -> "int8"; else "float32". On CUDA: "bfloat16" where
the GPU supports it, else "float16".
"""
from __future__ import annotations

import copy
import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, Optional, Tuple, TypeVar, cast

import torch
from torch import nn

from ..errors import Errors, Warnings
from ..modeling import BertModel, BertPreTrainedModel
from .settings import DEFAULT_PRECISION

__all__ = [
    "CONCRETE_PRECISIONS",
    "DEFAULT_PRECISION",
    "PRECISIONS",
    "Int8Linear",
    "auto_precision",
    "check_precision",
    "cpu_flags",
    "fit_positions",
    "prediction_model",
    "resolve_precision",
]

#: What the components accept (the default, "float32", is `EncoderSettings.precision`'s).
PRECISIONS = ("float32", "int8", "bfloat16", "float16", "auto")
#: What a setting resolves to on a device.
CONCRETE_PRECISIONS = ("float32", "int8", "bfloat16", "float16")
HALF_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}
#: torch quantized engines with fast x86 dynamic int8 linear kernels.
INT8_ENGINES = ("x86", "fbgemm")
#: Largest int8 weight magnitude (7 bits: see `Int8Linear`).
WEIGHT_MAX = 63.0
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
INT8_FLAGS = frozenset({"avx2", "avx512f", "avx512_vnni", "avx_vnni"})
# torch 2.13 warns on every creation of a quantized tensor; the int8 weights need one per layer.
_QTENSOR_WARNING = r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor creation"


def check_precision(value: Any, name: str) -> str:
    """`value` if it is one of `PRECISIONS`, else E660 naming component `name` (str)."""
    if not isinstance(value, str) or value not in PRECISIONS:
        raise ValueError(Errors.E660.format(name=name, value=value, expected=", ".join(PRECISIONS)))
    return value


@functools.lru_cache(maxsize=1)
def cpu_flags(path: str = "/proc/cpuinfo") -> FrozenSet[str]:
    """The CPU's feature flags (first `flags` line of /proc/cpuinfo), read once; empty where
    there is no such file (then `auto` relies on torch's CPU capability)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def _int8_engine() -> Optional[str]:
    """The quantized engine int8 runs on ("x86" or "fbgemm"), or None in a build without one."""
    engines = torch.backends.quantized.supported_engines
    return next((engine for engine in INT8_ENGINES if engine in engines), None)


def auto_precision(device_type: str, flags: Optional[FrozenSet[str]] = None) -> str:
    """What "auto" resolves to on `device_type` ("cpu" | "cuda"), from `flags` (default
    `cpu_flags()`); see the module docstring for the rule."""
    if device_type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device_type != "cpu":
        return "float32"
    flags = cpu_flags() if flags is None else flags
    if flags & NATIVE_BF16_FLAGS:
        return "bfloat16"
    capability = torch.backends.cpu.get_cpu_capability()  # "AVX2", "AVX512", "DEFAULT", ...
    has_simd = bool(flags & INT8_FLAGS) or capability.startswith("AVX")
    return "int8" if has_simd and _int8_engine() is not None else "float32"


def resolve_precision(value: str, device_type: str, name: str = "bert", flags: Optional[FrozenSet[str]] = None) -> str:
    """The concrete precision (one of `CONCRETE_PRECISIONS`) that setting `value` runs in on
    `device_type`. A setting the device has no path for runs fp32 with W660 (a pipeline set to
    int8 on a CPU can still be moved to a GPU, and a GPU pipeline loaded on a CPU); bf16 on a CPU
    without native bf16 is honoured with W661; int8 in a torch build without the engine is E661.

    Args:
        value (str): One of `PRECISIONS` (validated: E660).
        device_type (str): `torch.device.type` of the model ("cpu", "cuda", ...).
        name (str): The component, for messages.
        flags (Optional[FrozenSet[str]]): CPU flags; default `cpu_flags()`.
    """
    check_precision(value, name)
    if value == "auto":
        return auto_precision(device_type, flags)
    if value == "int8" and device_type != "cpu":
        hint = "Use precision 'auto', 'bfloat16' or 'float16' on a GPU."
        warnings.warn(Warnings.W660.format(name=name, value=value, device=device_type, used="float32", hint=hint), UserWarning, stacklevel=3)
        return "float32"
    if value == "int8" and _int8_engine() is None:
        raise ValueError(Errors.E661.format(name=name, engines=list(torch.backends.quantized.supported_engines), needed=list(INT8_ENGINES)))
    if value == "float16" and device_type != "cuda":
        hint = "fp16 is a GPU precision; use 'auto', 'int8' or 'bfloat16' on a CPU."
        warnings.warn(Warnings.W660.format(name=name, value=value, device=device_type, used="float32", hint=hint), UserWarning, stacklevel=3)
        return "float32"
    if value == "bfloat16" and device_type == "cpu":
        flags = cpu_flags() if flags is None else flags
        if not flags & NATIVE_BF16_FLAGS:
            warnings.warn(Warnings.W661.format(name=name), UserWarning, stacklevel=3)
    return value


# -- int8 ----------------------------------------------------------------------------
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
    """

    activations: str = "token"
    weight_bits: int = 7
    smooth: Optional[float] = None
    fp32: Tuple[str, ...] = ()
    wide: Tuple[str, ...] = ()
    smooth_kinds: Tuple[str, ...] = LINEAR_KINDS
    outliers: int = 0
    outlier_kinds: Tuple[str, ...] = ()

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
        return ", ".join(parts)


#: Chosen with bench/int8_error.py on MiniLM (hidden-state cosine to fp32 0.9992-0.9993 mean on
#: SST-2, WNUT-17 and the tests' sentences; 8 outlier channels on intermediate/output only: 0.9990).
DEFAULT_INT8 = Int8Options(
    activations="token",
    weight_bits=7,
    smooth=0.5,
    smooth_kinds=("query", "key", "value", "attention.output.dense", "intermediate.dense"),
    wide=("output.dense",),
    outliers=16,
    outlier_kinds=LINEAR_KINDS,
)


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
    full 8 bits: exactly per-token quantization, for two elementwise passes.

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
        owns_input: bool = False,
    ) -> None:
        super().__init__()
        self.owns_input = owns_input
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in) float32 -> (..., out) float32."""
        x = x.float()
        if not self.per_token:
            if self.inv_scale is not None:
                x = x * self.inv_scale
            # reduce_range=False: all 8 bits for activations (saturation is excluded by the 7-bit
            # weights). With torch.ao's 7-bit activations MiniLM's hidden states lost 3.5x more
            # cosine similarity to fp32 in our measurement (mean 0.964 against 0.990).
            return torch.ops.quantized.linear_dynamic(x.contiguous(), self._packed, False)
        lead = x.shape[:-1]
        x = x.reshape(-1, self.in_features)
        extra = None if self.outliers is None else x.index_select(1, self.outliers)  # (n, k) fp32
        # one pass makes the tensor the kernel reads (scaled, or a copy: x may be read again,
        # e.g. as the residual), unless the caller hands over its input (`owns_input`)
        if self.inv_scale is not None:
            x = x * self.inv_scale
        elif not self.owns_input:
            x = x.clone()
        if extra is not None:
            assert self.outliers is not None  # extra holds the outlier channels
            x.index_fill_(1, self.outliers, 0.0)
        # (n, 1): each row's max |value|, from two reading passes (no |x| temporary; aminmax(dim)
        # is ~10x slower in torch 2.13)
        rows = torch.maximum(x.amax(dim=1, keepdim=True), x.amin(dim=1, keepdim=True).neg_()).clamp_(min=1e-6)
        out = torch.ops.quantized.linear_dynamic(x.div_(rows), self._packed, False)
        # in place (out=out): a second (n, out) tensor costs more than the arithmetic
        out = out.mul_(rows) if self.bias is None else torch.addcmul(self.bias, out, rows, out=out)
        if extra is not None:
            assert self.outlier_weight is not None  # set with the outlier channels
            out.addmm_(extra, self.outlier_weight)
        return out.view(*lead, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, dtype=int8"


def input_ranges(model: nn.Module, batches: Iterable[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """max |x_j| per input channel j of every `nn.Linear` under `model.encoder` (path -> (in,)),
    over the real pieces of `batches` (keyword inputs of `model`), run in fp32."""
    bert = encoder_of(model)
    ranges: Dict[str, torch.Tensor] = {}
    keep: List[torch.Tensor] = []

    def hook(path: str):
        def record(module: nn.Module, args: tuple) -> None:
            x = args[0].detach()[keep[0]].float().abs().amax(dim=0)  # real pieces only
            ranges[path] = x if path not in ranges else torch.maximum(ranges[path], x)

        return record

    handles = [m.register_forward_pre_hook(hook(path)) for path, m in bert.encoder.named_modules() if type(m) is nn.Linear]
    try:
        with torch.inference_mode():
            for batch in batches:
                keep[:] = [batch["attention_mask"].bool()]
                bert(**batch)
    finally:
        for handle in handles:
            handle.remove()
    return ranges


def smooth_scales(model: nn.Module, ranges: Dict[str, torch.Tensor], alpha: float) -> Dict[str, torch.Tensor]:
    """SmoothQuant factors per Linear of `model.encoder` (path -> (in,)): s_j = max|x_j|^alpha /
    max|W_:j|^(1 - alpha), from `input_ranges`."""
    bert = encoder_of(model)
    return {path: _smooth_factor(ranges[path], m.weight, alpha) for path, m in bert.encoder.named_modules() if type(m) is nn.Linear and path in ranges}


def _smooth_factor(x_max: torch.Tensor, weight: torch.Tensor, alpha: float) -> torch.Tensor:
    """s (in,) = x_max^alpha / max_i |W_ij|^(1 - alpha) for weight (out, in)."""
    wmax = weight.detach().float().abs().amax(dim=0).clamp(min=1e-5)
    return (x_max.clamp(min=1e-5) ** alpha / wmax ** (1 - alpha)).clamp(min=1e-5)


#: The end of W750: whether any Linear of the model still runs int8.
_REST = {
    True: "The other Linears run int8; nothing to fix.",
    False: "No Linear is left to quantize, so the model runs float32 throughout: set precision 'float32' (as fast here).",
}


def _too_narrow(linear: nn.Module, kind: str, options: Int8Options) -> bool:
    """Whether `linear` has no more input channels than the outlier channels `options` keeps in
    fp32 for its kind: all of them would run fp32, and none would be left for the int8 kernel."""
    return bool(options.outliers) and kind in options.outlier_kinds and int(cast(nn.Linear, linear).in_features) <= options.outliers


def _quantize_linears(
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
    count = 0
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
                picked = None
                if options.outliers and kind in options.outlier_kinds and ranges is not None and path in ranges:
                    picked = ranges[path].topk(options.outliers).indices.sort().values
                # BertOutput.dense reads the activation's fresh output, which nothing else reads
                owns = kind == "output.dense"
                setattr(parent, child_name, Int8Linear(child, options.activations, bits, scale, picked, owns))
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


# -- half precision ------------------------------------------------------------------
def _cast_tensors(module: nn.Module, dtype: torch.dtype) -> None:
    """Give `module` (a copy whose tensors are shared with the fp32 model) new `dtype` tensors
    for its floating parameters and buffers. Never `module.to(dtype)`: that would assign the
    new data into the shared `Parameter` objects, i.e. convert the fp32 model too."""
    converted: Dict[int, Any] = {}  # tied weights stay tied
    for sub in module.modules():
        for key, param in list(sub._parameters.items()):
            if param is not None and param.is_floating_point():
                if id(param) not in converted:
                    converted[id(param)] = nn.Parameter(param.detach().to(dtype), requires_grad=False)
                sub._parameters[key] = converted[id(param)]
        for key, buf in list(sub._buffers.items()):
            if buf is not None and buf.is_floating_point():
                if id(buf) not in converted:
                    converted[id(buf)] = buf.detach().to(dtype)
                sub._buffers[key] = converted[id(buf)]


def _outputs_to_float32(module: nn.Module, args: Any, output: Any) -> Any:
    """Forward hook: the encoder's floating outputs back in fp32 (heads and pooling run fp32)."""
    for field in ("last_hidden_state", "pooler_output"):
        value = getattr(output, field, None)
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            setattr(output, field, value.float())
    for field in ("hidden_states", "attentions"):
        value = getattr(output, field, None)
        if isinstance(value, tuple):
            setattr(output, field, tuple(v.float() for v in value))
    return output


# -- the prediction copy -------------------------------------------------------------
ModuleT = TypeVar("ModuleT", bound=nn.Module)


def encoder_of(model: nn.Module) -> BertModel:
    """The `BertModel` of `model`: itself, or the `.bert` of a `BertFor*` head model."""
    return model if isinstance(model, BertModel) else cast(BertModel, model.bert)


def _shared_copy(model: ModuleT) -> ModuleT:
    """A copy of the module tree whose parameters and buffers are the same tensor objects as
    `model`'s (so modules can be replaced in the copy without touching `model`)."""
    memo = {id(t): t for t in _tensors(model)}
    return copy.deepcopy(model, memo)


def _tensors(model: nn.Module) -> Iterator[torch.Tensor]:
    yield from model.parameters()
    yield from model.buffers()


def prediction_model(
    model: BertPreTrainedModel,
    precision: str,
    int8: Int8Options = DEFAULT_INT8,
    tokenizer: Optional[Any] = None,
    ranges: Optional[Dict[str, torch.Tensor]] = None,
    name: str = "bert",
) -> BertPreTrainedModel:
    """The model that predicts in `precision` (one of `CONCRETE_PRECISIONS`, already resolved
    for the model's device): `model` itself for "float32", else a copy in eval mode (see the
    module docstring). `model` is not changed.

    Args:
        model (BertPreTrainedModel): The fp32 model (a `BertModel` or a `BertFor*`).
        precision (str): One of `CONCRETE_PRECISIONS`.
        int8 (Int8Options): How int8 quantizes (default: `DEFAULT_INT8`).
        tokenizer (Optional[BertTokenizer]): Encodes `CALIBRATION_TEXTS` for int8's input ranges;
            None: fixed pseudo-random piece ids (see `calibration_batch`).
        ranges (Optional[Dict[str, Tensor]]): `input_ranges` measured by the caller (then no
            calibration runs).
        name (str): The component, for warnings.

    Small models are quantized too: calibration runs in windows that fit the model's
    positions (W751), and Linears too narrow to quantize stay fp32 (W750).
    """
    if precision == "float32":
        return model
    derived = _shared_copy(model).eval()  # eval: calibration runs without dropout
    bert = encoder_of(derived)
    if precision == "int8":
        if ranges is None and int8.needs_ranges:
            batch = calibration_batch(tokenizer, bert.config.vocab_size)
            ranges = input_ranges(bert, [fit_positions(batch, bert.config.max_position_embeddings, tokenizer is not None, name)])
        scales = None if int8.smooth is None or ranges is None else smooth_scales(bert, ranges, int8.smooth)
        _quantize_linears(bert.encoder, int8, scales, ranges, name)
    else:
        _cast_tensors(bert, HALF_DTYPES[precision])
        bert.register_forward_hook(_outputs_to_float32)
    return derived


#: Built-in calibration text for int8's input ranges (`calibration_batch`): varied English (news,
#: reviews, a tweet, numbers, names, a question, punctuation), so no data file is needed at load.
#: Kept apart from the sentences the tests and bench/int8_error.py measure accuracy on.
CALIBRATION_TEXTS = (
    "The central bank raised interest rates by half a point on Wednesday, its third rise this year.",
    "a gorgeous , witty , seductive movie that never loses its sense of wonder .",
    "@sam_k88 cant believe we lost again lol #mondays",
    "Dr. Maria Sánchez, who studied in Berlin and Tokyo, now leads the lab's protein research team.",
    "Where was the 1998 World Cup final played, and who scored the first goal?",
    "The committee approved 3 of the 12 proposals; the rest were sent back for revision in May.",
    "the script is dull , the pacing is worse , and the ending made no sense to anyone .",
    "Shares of Acme Corp. fell 4.5% after it cut its full-year forecast, citing weak demand in Europe.",
)
#: Piece ids of the data-free calibration (no tokenizer): 8 rows of 32, fixed seed.
CALIBRATION_SHAPE, CALIBRATION_SEED = (8, 32), 0


def calibration_batch(tokenizer: Optional[Any] = None, vocab_size: int = 30522) -> Dict[str, torch.Tensor]:
    """The calibration batch of `input_ranges`: `CALIBRATION_TEXTS` encoded by `tokenizer`
    (padded), or, without one, `CALIBRATION_SHAPE` pseudo-random ids below `vocab_size` from
    a fixed seed (deterministic; for a model used without its tokenizer).

    Returns: {"input_ids": (8, seq) int64, "attention_mask": (8, seq) int64}.
    """
    if tokenizer is not None:
        enc = tokenizer(list(CALIBRATION_TEXTS), padding=True, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    generator = torch.Generator().manual_seed(CALIBRATION_SEED)
    low = min(1000, vocab_size - 1)  # past BERT vocabularies' special and unused entries
    ids = torch.randint(low, vocab_size, CALIBRATION_SHAPE, generator=generator)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def fit_positions(batch: Dict[str, torch.Tensor], limit: int, specials: bool, name: str = "bert") -> Dict[str, torch.Tensor]:
    """`batch` (`calibration_batch`'s) with rows no longer than `limit` positions (the model's
    `max_position_embeddings`); unchanged when they fit.

    A longer row is cut into consecutive windows, as long texts are run: with `specials` (rows
    encoded as `[CLS] pieces [SEP]`) each window is `[CLS]`, up to `limit - 2` of the row's
    pieces, `[SEP]`; without (random ids) plain runs of `limit` ids. Every real piece is in one
    window, so the ranges come from the same text. Warns W751 when it had to cut.

    Args:
        batch: {"input_ids": (rows, seq) int64, "attention_mask": (rows, seq) int64}.
        limit (int): positions the model has.
        specials (bool): rows begin with [CLS] and end with [SEP] (a tokenizer encoded them).
    Returns: the same keys, (windows, <= limit) each, right-padded with the rows' pad id.
    """
    ids, mask = batch["input_ids"], batch["attention_mask"]
    if ids.shape[1] <= limit:
        return batch
    specials = specials and limit >= 3  # a window needs room for [CLS], one piece and [SEP]
    pad = ids[mask == 0][0].item() if bool((mask == 0).any()) else 0
    windows: List[List[int]] = []
    for row, keep in zip(ids.tolist(), mask.bool().tolist()):
        real = [piece for piece, kept in zip(row, keep) if kept]
        if specials:
            cls, body, sep = real[0], real[1:-1], real[-1]
            step = limit - 2
            windows += [[cls, *body[i : i + step], sep] for i in range(0, max(len(body), 1), step)]
        else:
            windows += [real[i : i + limit] for i in range(0, len(real), limit)]
    width = max(len(w) for w in windows)
    input_ids = torch.full((len(windows), width), pad, dtype=ids.dtype)
    attention_mask = torch.zeros((len(windows), width), dtype=mask.dtype)
    for r, window in enumerate(windows):
        input_ids[r, : len(window)] = torch.tensor(window, dtype=ids.dtype)
        attention_mask[r, : len(window)] = 1
    warnings.warn(Warnings.W751.format(name=name, limit=limit, length=ids.shape[1]), UserWarning, stacklevel=3)
    return {"input_ids": input_ids, "attention_mask": attention_mask}
