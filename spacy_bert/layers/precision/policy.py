"""Inference precision: which arithmetic prediction runs in, `auto`'s rule per CPU class, and
the model copy that runs it.

The `precision` setting of the components ("float32" | "int8" | "bfloat16" | "float16" |
"auto") applies to prediction only. The shim keeps its fp32 model for training, saving and
export; `prediction_model` derives from it a copy that runs in the resolved precision:

- "float32": the model itself (identical to Hugging Face).
- "int8": the encoder's transformer-layer Linears become `Int8Linear`s (`layers/precision/int8.py`:
  per-token activations, SmoothQuant, options per CPU class from `int8_options()`), calibrated
  at load on built-in sentences (`layers/precision/calibration.py`). Embeddings, LayerNorms, the pooler
  and every head stay fp32. CPU only.
- "bfloat16" / "float16": the encoder (`BertModel`: embeddings, layers, pooler) is cast, so
  every op inside it, the additive attention mask included (built in the embeddings' dtype
  by `modeling/masks.py`), runs in the half dtype: no cast inside the encoder, and SDPA runs
  its fused CPU kernel (`_scaled_dot_product_flash_attention_for_cpu`) for every precision and
  mask, asserted by tests/layers/test_precision_kernels.py. Its two outputs are cast back to
  fp32 once per forward, so heads (torch or thinc) and pooling stay fp32.

The copy shares every tensor it does not convert with the fp32 model (no second copy of the
embeddings), and is rebuilt when the fp32 weights change (training steps, `use_params`,
`load_state_dict`: the shim's `WeightsVersion` counter, see `BertShim.prediction_model`).
So a quantized model is never trained: training runs the fp32 model, and the next prediction
quantizes the updated weights.

`auto` decides from CPU flags (read once from /proc/cpuinfo; no calibration run) by the first
row of `AUTO_RULES` whose flags the CPU has, logged at debug level (logger "spacy_bert") when a
component builds its prediction copy. Measured (docs/precision.md, bench/RESULTS.md; torch 2.13,
all-MiniLM-L6-v2, same-run ratios to our fp32):

| CPU class (flags) | auto | why |
|---|---|---|
| AMX (`amx_bf16`), Xeon 4th gen+ | bfloat16 | encoder 3.2-3.4x fp32 (AMX tiles); int8 1.0-1.2x, measured on fbgemm's product (oneDNN's, used since, runs AMX int8 tiles: not measured yet) |
| AVX-512 VNNI (`avx512_vnni`/`avx_vnni`), with or without `avx512_bf16` (Zen 4, Ice Lake, Cascade Lake) | int8 | AMD EPYC (Zen 4, avx512_bf16, no AMX): encoder int8 2.3-2.5x, bf16 1.8-1.9x; `bert` through `nlp.pipe` int8 2.2-2.5x (bf16 is the more accurate: cosine 0.9999 against 0.9994) |
| AVX2 / AVX-512 without VNNI | int8 | int8 1.3-1.5x fp32 (issue 14's AVX2 CPU, fbgemm's product); AVX2 kernels emulated on AMD EPYC: 1.55-1.6x, as plain dynamic int8; bf16 emulated, slower than fp32 |
| anything else (no fbgemm/x86 engine, ARM) | float32 | no faster path measured |
| CUDA | bfloat16 where the GPU has it, else float16 | tensor cores |
"""
from __future__ import annotations

import copy
import logging
import warnings
from typing import Any, Dict, FrozenSet, Iterator, Optional, Tuple, TypeVar

import torch
from thinc.api import get_torch_default_device
from torch import nn

from ...errors import Errors, Warnings
from ...modeling import BertPreTrainedModel
from .calibration import CALIBRATION_TEXTS, calibration_batch, encoder_of, fit_positions, input_ranges, smooth_scales
from .cpu import cpu_flags
from .int8 import INT8_ENGINES, Int8Linear, int8_engine
from .int8_options import DEFAULT_INT8, LINEAR_KINDS, VNNI_INT8, Int8Options, int8_options
from .quantize import quantize_linears
from ..settings import DEFAULT_PRECISION

__all__ = [
    "AUTO_RULES",
    "CALIBRATION_TEXTS",
    "CONCRETE_PRECISIONS",
    "DEFAULT_INT8",
    "DEFAULT_PRECISION",
    "LINEAR_KINDS",
    "PRECISIONS",
    "VNNI_INT8",
    "Int8Linear",
    "Int8Options",
    "auto_precision",
    "calibration_batch",
    "check_precision",
    "cpu_class",
    "cpu_flags",
    "encoder_of",
    "fit_positions",
    "input_ranges",
    "log_choice",
    "precision_in_use",
    "prediction_model",
    "resolve_precision",
    "smooth_scales",
]

logger = logging.getLogger("spacy_bert")

#: What the components accept (the default, "float32", is `EncoderSettings.precision`'s).
PRECISIONS = ("float32", "int8", "bfloat16", "float16", "auto")
#: What a setting resolves to on a device.
CONCRETE_PRECISIONS = ("float32", "int8", "bfloat16", "float16")
HALF_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
#: `auto` on a CPU: (class, any of these flags, precision), first match wins (see the module
#: docstring for the measurements). int8 rows also need torch's fbgemm/x86 engine.
AUTO_RULES: Tuple[Tuple[str, FrozenSet[str], str], ...] = (
    ("amx", frozenset({"amx_bf16"}), "bfloat16"),
    ("avx512-vnni", frozenset({"avx512_vnni", "avx_vnni"}), "int8"),
    ("avx2", frozenset({"avx2", "avx512f"}), "int8"),
)


def check_precision(value: Any, name: str) -> str:
    """`value` if it is one of `PRECISIONS`, else E660 naming component `name` (str)."""
    if not isinstance(value, str) or value not in PRECISIONS:
        raise ValueError(Errors.E660.format(name=name, value=value, expected=", ".join(PRECISIONS)))
    return value


def _int8_engine() -> Optional[str]:
    """`int8.int8_engine()` (one name here, so tests can fake a build without the engine)."""
    return int8_engine()


def cpu_class(flags: Optional[FrozenSet[str]] = None) -> str:
    """The `AUTO_RULES` class of a CPU with `flags` (default `cpu_flags()`): "amx",
    "avx512-vnni", "avx2" or "other". Without flags (no /proc/cpuinfo) torch's CPU capability
    ("AVX2", "AVX512", ...) stands for "avx2"."""
    flags = cpu_flags() if flags is None else flags
    for klass, needs, _ in AUTO_RULES:
        if flags & needs:
            return klass
    if not flags and torch.backends.cpu.get_cpu_capability().startswith("AVX"):
        return "avx2"
    return "other"


def auto_precision(device_type: str, flags: Optional[FrozenSet[str]] = None) -> str:
    """What "auto" resolves to on `device_type` ("cpu" | "cuda"), from `flags` (default
    `cpu_flags()`) by `AUTO_RULES`; see the module docstring for the rule and its measurements."""
    if device_type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device_type != "cpu":
        return "float32"
    klass = cpu_class(flags)
    used = next((precision for name, _, precision in AUTO_RULES if name == klass), "float32")
    if used == "int8" and _int8_engine() is None:
        return "float32"
    return used


def resolve_precision(value: str, device_type: str, name: str = "bert", flags: Optional[FrozenSet[str]] = None, warn: bool = True) -> str:
    """The concrete precision (one of `CONCRETE_PRECISIONS`) that setting `value` runs in on
    `device_type`. A setting the device has no path for runs fp32 with W660 (a pipeline set to
    int8 on a CPU can still be moved to a GPU, and a GPU pipeline loaded on a CPU); bf16 on a CPU
    without native bf16 is honoured with W661; int8 in a torch build without the engine is E661.

    Args:
        value (str): One of `PRECISIONS` (validated: E660).
        device_type (str): `torch.device.type` of the model ("cpu", "cuda", ...).
        name (str): The component, for messages.
        flags (Optional[FrozenSet[str]]): CPU flags; default `cpu_flags()`.
        warn (bool): Issue W660/W661 (False: a query, e.g. the component's `precision`).
    """
    check_precision(value, name)
    if value == "auto":
        return auto_precision(device_type, flags)
    if value == "int8" and device_type != "cpu":
        if warn:
            hint = "Use precision 'auto', 'bfloat16' or 'float16' on a GPU."
            warnings.warn(Warnings.W660.format(name=name, value=value, device=device_type, used="float32", hint=hint), UserWarning, stacklevel=3)
        return "float32"
    if value == "int8" and _int8_engine() is None:
        raise ValueError(Errors.E661.format(name=name, engines=list(torch.backends.quantized.supported_engines), needed=list(INT8_ENGINES)))
    if value == "float16" and device_type != "cuda":
        if warn:
            hint = "fp16 is a GPU precision; use 'auto', 'int8' or 'bfloat16' on a CPU."
            warnings.warn(Warnings.W660.format(name=name, value=value, device=device_type, used="float32", hint=hint), UserWarning, stacklevel=3)
        return "float32"
    if warn and value == "bfloat16" and device_type == "cpu":
        flags = cpu_flags() if flags is None else flags
        if not flags & NATIVE_BF16_FLAGS:
            warnings.warn(Warnings.W661.format(name=name), UserWarning, stacklevel=3)
    return value



def precision_in_use(value: str, name: str = "bert", device_type: Optional[str] = None) -> str:
    """What setting `value` resolves to (no warnings: a query) on `device_type`, default the
    device thinc places models on now (where a component's model is, or will be at load)."""
    if device_type is None:
        device_type = get_torch_default_device().type
    return resolve_precision(value, device_type, name, warn=False)


def log_choice(name: str, value: str, used: str, device_type: str) -> None:
    """The debug line a component logs when it builds its prediction copy: the setting, what it
    resolved to and, on a CPU, the `AUTO_RULES` class and the int8 options."""
    detail = ""
    if device_type == "cpu":
        detail = f" (CPU class {cpu_class()}"
        detail += f"; int8: {int8_options().describe()})" if used == "int8" else ")"
    logger.debug("%s: precision %r runs as %r on %s%s", name, value, used, device_type, detail)


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
    int8: Optional[Int8Options] = None,
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
        int8 (Optional[Int8Options]): How int8 quantizes (default: `int8_options()`, this CPU's).
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
        int8 = int8_options() if int8 is None else int8
        if ranges is None and int8.needs_ranges:
            batch = fit_positions(calibration_batch(tokenizer, bert.config.vocab_size), bert.config.max_position_embeddings, tokenizer is not None, name)
            ranges = input_ranges(bert, [batch])
        scales = None if int8.smooth is None or ranges is None else smooth_scales(bert, ranges, int8.smooth)
        quantize_linears(bert.encoder, int8, scales, ranges, name)
    else:
        _cast_tensors(bert, HALF_DTYPES[precision])
        bert.register_forward_hook(_outputs_to_float32)
    return derived


