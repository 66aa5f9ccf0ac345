"""Inference precision: which arithmetic prediction runs in, and the model copy that runs it.

The `precision` setting of the components ("float32" | "int8" | "bfloat16" | "float16" |
"auto") applies to prediction only. The shim keeps its fp32 model for training, saving and
export; `prediction_model` derives from it a copy that runs in the resolved precision:

- "float32": the model itself (identical to Hugging Face).
- "int8": the `Linear` layers of the encoder's transformer layers (query/key/value, attention
  output, intermediate, output) become `Int8Linear`: weights int8 per output channel,
  activations quantized per call (per tensor) by fbgemm's dynamic kernels. Embeddings,
  LayerNorms, the pooler and every head stay fp32. CPU only.
- "bfloat16" / "float16": the encoder (`BertModel`: embeddings, layers, pooler) is cast;
  its outputs are cast back to fp32, so heads (torch or thinc) and pooling stay fp32.

The copy shares every tensor it does not convert with the fp32 model (no second copy of the
embeddings), and is rebuilt when the fp32 weights change (training steps, `use_params`,
`load_state_dict`: see `weights_fingerprint`). So a quantized model is never trained: training
runs the fp32 model, and the next prediction quantizes the updated weights.

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
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterator, Optional, Tuple

import torch
from torch import nn

from ..errors import Errors, Warnings
from ..modeling import BertModel, BertPreTrainedModel

__all__ = [
    "CONCRETE_PRECISIONS",
    "DEFAULT_PRECISION",
    "PRECISIONS",
    "Int8Linear",
    "auto_precision",
    "check_precision",
    "cpu_flags",
    "prediction_model",
    "resolve_precision",
    "weights_fingerprint",
]

DEFAULT_PRECISION = "float32"
#: What the components accept.
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
class Int8Linear(nn.Module):
    """A `Linear` for inference with int8 weights (symmetric, per output channel, 7 bits) and
    activations quantized per call (asymmetric uint8, per tensor, all 8 bits), computed by the
    quantized engine's dynamic linear kernel; output fp32.

    Why 7-bit weights and 8-bit activations: on CPUs without VNNI, fbgemm multiplies uint8
    activations by int8 weights with `vpmaddubsw`, which adds pairs of products in int16 and
    saturates when both are large (255 * 127 * 2 > 32767). torch.ao avoids it with 7-bit
    activations (`reduce_range`), which doubles the activation step, where the error is; we
    keep activations at 8 bits and give weights 7 (255 * 63 * 2 < 32767): per-channel weights
    lose little. Measured error of one 384x1536 layer on Gaussian inputs: 1.2 % (ours), 1.8 %
    (torch.ao's 7-bit activations), 13 % (8 and 8 bits: saturated).

    Args:
        linear (nn.Linear): The fp32 layer; its weight (out, in) and bias (out,) are read once.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach().float().cpu()
        bias = None if linear.bias is None else linear.bias.detach().float().cpu()
        scale = (weight.abs().amax(dim=1) / WEIGHT_MAX).clamp(min=1e-12).double()  # (out,)
        zero_point = torch.zeros(self.out_features, dtype=torch.long)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_QTENSOR_WARNING, category=UserWarning)
            qweight = torch.quantize_per_channel(weight, scale, zero_point, 0, torch.qint8)
            self._packed = torch.ops.quantized.linear_prepack(qweight, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in) float32 -> (..., out) float32."""
        # reduce_range=False: all 8 bits for activations (saturation is excluded by the 7-bit
        # weights). With torch.ao's 7-bit activations MiniLM's hidden states lost 3.5x more
        # cosine similarity to fp32 in our measurement (mean 0.964 against 0.990).
        return torch.ops.quantized.linear_dynamic(x.float().contiguous(), self._packed, False)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, dtype=int8"


def _quantize_linears(module: nn.Module) -> int:
    """Replace every `nn.Linear` under `module` by an `Int8Linear`; returns how many."""
    count = 0
    for parent in list(module.modules()):
        for child_name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                setattr(parent, child_name, Int8Linear(child))
                count += 1
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
def _shared_copy(model: nn.Module) -> nn.Module:
    """A copy of the module tree whose parameters and buffers are the same tensor objects as
    `model`'s (so modules can be replaced in the copy without touching `model`)."""
    memo = {id(t): t for t in _tensors(model)}
    return copy.deepcopy(model, memo)


def _tensors(model: nn.Module) -> Iterator[torch.Tensor]:
    yield from model.parameters()
    yield from model.buffers()


def weights_fingerprint(model: nn.Module) -> Tuple[Tuple[int, int], ...]:
    """Changes whenever a weight of `model` changes: (storage pointer, version counter) per tensor.
    In-place updates (`load_state_dict`, `use_params`, optimiser steps) bump the version;
    thinc's `finish_update` assigns new `.data` (a new storage)."""
    return tuple((t.data_ptr(), t._version) for t in _tensors(model))


def prediction_model(model: BertPreTrainedModel, precision: str) -> BertPreTrainedModel:
    """The model that predicts in `precision` (one of `CONCRETE_PRECISIONS`, already resolved
    for the model's device): `model` itself for "float32", else a copy in eval mode (see the
    module docstring). `model` is not changed."""
    if precision == "float32":
        return model
    derived = _shared_copy(model)
    bert = derived if isinstance(derived, BertModel) else derived.bert
    if precision == "int8":
        _quantize_linears(bert.encoder)
    else:
        _cast_tensors(bert, HALF_DTYPES[precision])
        bert.register_forward_hook(_outputs_to_float32)
    return derived.eval()
