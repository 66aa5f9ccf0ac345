"""Training arithmetic on the CPU: the `train_precision` setting of the models that hold a shim.

Training always keeps fp32 master weights: the parameters, their gradients and the optimizer
state stay float32. `train_precision = "bfloat16"` only runs the training forward pass under
`torch.autocast("cpu", dtype=torch.bfloat16)`, so matrix products run in bf16 in the forward
pass and, by autograd, in its backward pass too (each op's backward runs in the dtype its
forward ran in). bf16 keeps fp32's exponent range, so no grad scaler is needed (thinc's stays
off on the CPU).

| setting | on a CPU | on CUDA |
|---|---|---|
| "float32" (default) | fp32 | thinc's `mixed_precision` decides (fp16 autocast + grad scaler) |
| "bfloat16" | bf16 autocast | likewise: this setting is the CPU's only |
| "auto" | bf16 autocast where the CPU has AMX (`amx_bf16`), else fp32 | likewise |

Why the default is fp32 everywhere: bf16 training is to be on by default only where it is
>= 1.5x fp32 steps/s with the same score. On AVX-512 bf16 without AMX (a contended 2-core AMD
EPYC, bench/RESULTS.md) it trained about 1.4x with the same training loss, no dev score yet; on
AMX it is not measured yet (docs/training.md has the command). "auto" is the switch for AMX.
"""
from __future__ import annotations

from typing import Any, FrozenSet, Optional, Tuple

import torch

from ...errors import Errors
from .cpu import cpu_flags

__all__ = ["DEFAULT_TRAIN_PRECISION", "TRAIN_PRECISIONS", "check_train_precision", "train_autocast_dtype"]

#: The values of `train_precision`.
TRAIN_PRECISIONS: Tuple[str, ...] = ("float32", "bfloat16", "auto")
#: fp32: not measured >= 1.5x anywhere yet (module docstring).
DEFAULT_TRAIN_PRECISION = "float32"
#: The CPU flag "auto" turns bf16 training on for: AMX tiles run bf16 matrix products natively.
AMX_FLAG = "amx_bf16"


def check_train_precision(value: Any, where: str) -> str:
    """`value` if it is one of `TRAIN_PRECISIONS`, else E663 naming the setting and `where`
    (str: the architecture whose model block holds it)."""
    if not isinstance(value, str) or value not in TRAIN_PRECISIONS:
        raise ValueError(Errors.E663.format(value=value, where=where, expected=", ".join(repr(p) for p in TRAIN_PRECISIONS)))
    return value


def train_autocast_dtype(value: str, device_type: str, flags: Optional[FrozenSet[str]] = None) -> Optional[torch.dtype]:
    """The dtype the training forward pass autocasts to on `device_type` for setting `value`:
    torch.bfloat16 or None (fp32, or on CUDA: thinc's `mixed_precision` decides).

    flags (Optional[FrozenSet[str]]): the CPU's flags for "auto" (default `cpu_flags()`).
    """
    if device_type != "cpu" or value == "float32":
        return None
    if value == "auto":
        flags = cpu_flags() if flags is None else flags
        return torch.bfloat16 if AMX_FLAG in flags else None
    return torch.bfloat16
