"""The swap of a model's encoder Linears for `Int8Linear`s (`quantize_linears`), as
`Int8Options` say: fused query/key/value (`layers/precision/qkv.py`), SmoothQuant factors and fp32
outlier channels from the calibrated input ranges (`layers/precision/calibration.py`)."""
from __future__ import annotations

import warnings
from typing import Dict, List, Optional, cast

import torch
from torch import nn

from ...errors import Warnings
from .calibration import smooth_factor
from .int8 import Int8Linear
from .int8_options import DEFAULT_INT8, Int8Options, linear_kind
from .qkv import FusedQKV, QKVPart, fused_linear

__all__ = ["quantize_linears"]

#: The kinds whose input is read by nothing else: `BertOutput` reads the feed-forward activation
#: (`BertIntermediate`'s output) only through output.dense, so its `Int8Linear` zeroes the fp32
#: outlier channels in that tensor in place (`overwrite_input`) instead of copying it first (a
#: copy of (pieces, 1536) floats costs ~3x the row quantizing).
OWNED_INPUT_KINDS = ("output.dense",)

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
                layer = Int8Linear(child, options.activations, bits, scale, picked, overwrite_input=kind in OWNED_INPUT_KINDS)
                setattr(parent, child_name, layer)
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
        picked = _outlier_channels(options, "query", ranges, query_path)
        fused = FusedQKV(Int8Linear(linear, options.activations, bits, scale, picked), parts[0].out_features)
        for index, kind in enumerate(kinds):
            setattr(block, kind, QKVPart(fused, index))
        count += 3
    return count
