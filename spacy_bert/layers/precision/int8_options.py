"""How int8 quantizes (`Int8Options`), the Linear kinds it names, and the options per CPU class
(`DEFAULT_INT8` without VNNI, `VNNI_INT8` with it; `int8_options()` picks for this CPU). What each
option does is in `layers/precision/int8.py` (`Int8Linear`); `bench/int8_error.py` and
`bench/int8_levers.py` measure what each costs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, Optional, Tuple

from .cpu import cpu_flags

__all__ = ["DEFAULT_INT8", "LINEAR_KINDS", "SMOOTH_KINDS", "VNNI_FLAGS", "VNNI_INT8", "Int8Options", "int8_options", "linear_kind"]

#: CPU flags of int8 dot products that accumulate in int32 (no int16 pair saturation).
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})

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


#: The inputs SmoothQuant scales: the LayerNorm outputs (query/key/value, intermediate). The
#: attention output's input (the attention context) gains nothing from it: MiniLM hidden-state
#: cosine 0.99934 / 0.99929 on SST-2 / WNUT-17 with or without (one pass per layer saved).
SMOOTH_KINDS = ("query", "key", "value", "intermediate.dense")

#: int8 without VNNI: 7-bit weights (`Int8Linear`: no int16 pair saturation), 8-bit on
#: output.dense (its GELU inputs sit near their row minimum, so pairs of large codes are rare:
#: cosine 0.9993 with, 0.9990 without); 16 fp32 outlier channels on query/key/value, intermediate and output (on the
#: attention output they gained nothing: cosine 0.99931 with or without); query/key/value fused.
#: Chosen with bench/int8_levers.py on MiniLM under AVX2 (ATEN_CPU_CAPABILITY=avx2,
#: FBGEMM_ENABLE_INSTRUCTIONS=AVX2, ONEDNN_MAX_CPU_ISA=AVX2 on an AVX-512 CPU; bench/RESULTS.md):
#: hidden-state cosine mean 0.9993 on SST-2 and WNUT-17.
DEFAULT_INT8 = Int8Options(
    activations="token",
    weight_bits=7,
    smooth=0.5,
    smooth_kinds=SMOOTH_KINDS,
    wide=("output.dense",),
    outliers=16,
    outlier_kinds=("query", "key", "value", "intermediate.dense", "output.dense"),
    fuse_qkv=True,
)

#: int8 on a CPU whose int8 dot products accumulate in int32 (`VNNI_FLAGS`): no int16 pair
#: saturation, so every weight gets 8 bits; 8 fp32 outlier channels on output.dense only (zeroed
#: in place in its input, `quantize.OWNED_INPUT_KINDS`); query/key/value fused. Measured on AMD
#: EPYC (avx512_vnni, no AMX; bench/RESULTS.md): hidden-state cosine mean 0.9994 on SST-2 and
#: WNUT-17 (0.9992 without the outlier channels, whose XQuAD answers agree less with fp32's:
#: F1 96.8 against 98.4), `bert` through `nlp.pipe` 1.00-1.02x the speed of plain dynamic int8.
VNNI_INT8 = Int8Options(
    activations="token",
    weight_bits=8,
    smooth=0.5,
    smooth_kinds=SMOOTH_KINDS,
    outliers=8,
    outlier_kinds=("output.dense",),
    fuse_qkv=True,
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
